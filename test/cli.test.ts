import { execFileSync, spawnSync } from "node:child_process";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "./layers.js";
import { nasm } from "./support/cpu.js";

const BIN = join(ROOT, "bin", "afterglow.js");

function afterglow(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 60_000 });
}

describe("the afterglow command", () => {
  beforeAll(() => {
    execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT, stdio: "pipe" });
  });

  it("runs the built-in guest to its halt: serial output, paging, user mode, timer interrupts", () => {
    const r = afterglow("run");
    expect(r.stdout).toBe(
      [
        "afterglow: real mode ok",
        "afterglow: protected mode ok",
        "afterglow: paging on",
        "afterglow: user mode ok",
        "primes below 50000: 5133",
        "crc32(123456789): 0xcbf43926",
        "fib(40): 102334155",
        "sum 1000000/k, k=1..1000: 7485017",
        "afterglow: user program exited",
        "page fault at 0x00400000, error code 0x00000002",
        "demand-paged memory reads 0x12345678",
        "afterglow: 10 timer interrupts while idle",
        "afterglow: done",
        "",
      ].join("\n"),
    );
    expect(r.stderr).toMatch(/^afterglow: guest halted at 0008:[0-9a-f]{8} after [\d,]+ instructions, .* MIPS\n$/);
    expect(r.status).toBe(0);
  });

  it("stops at an instruction limit with a non-zero status", () => {
    const r = afterglow("run", "--max-insns", "1000");
    expect(r.stderr).toMatch(/instruction limit reached .* after 1,000 instructions/);
    expect(r.status).toBe(2);
  });

  it("reports a missing image in one line", () => {
    const r = afterglow("run", "--image", "/nonexistent/guest.bin");
    expect(r.stderr).toBe("afterglow: cannot read /nonexistent/guest.bin: no such file\n");
    expect(r.status).toBe(1);
  });

  it("reports a guest that triple faults or dies on an exception without a stack trace", () => {
    // An empty IDT: the #UD cannot be delivered, nor the #GP that follows, nor the double fault.
    const dir = mkdtempSync(join(tmpdir(), "afterglow-cli-"));
    const image = join(dir, "bad.bin");
    writeFileSync(image, nasm("lidt [cs:idt]\nud2\nidt: dw 0, 0, 0", 16, 0x7c00));
    const r = afterglow("run", "--image", image);
    expect(r.stderr).toMatch(/^afterglow: triple fault \(shutdown\) at 0000:00007c[0-9a-f]{2} after 1 instructions/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.status).toBe(2);
  });
});

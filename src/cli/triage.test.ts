// `afterglow triage` as a user runs it: a guest built with nasm and ld crashes in a function; the
// report names the function as gdb does, shows the instruction as objdump does, and the gdb
// command it prints opens gdb with the guest at the faulting instruction.

import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../../test/layers.js";
import { oracle, runs } from "../../test/support/oracle.js";
import { Symbols } from "../replay/remote/symbols.js";
import type { GuestRegisters } from "../replay/debug.js";
import type { TriageReport } from "../replay/triage.js";
import { formatTriage } from "./triage.js";

const BIN = join(ROOT, "bin", "afterglow.js");
const HAVE = oracle("gdb, nasm, ld and objdump", runs("gdb", "--version") && runs("nasm", "-v") && runs("ld", "--version") && runs("objdump", "--version"), "apt-get install gdb nasm binutils");

/** Boots, prints, calls `crunch`, which divides by zero with an empty IDT: a triple fault inside it. */
const SOURCE = `
bits 16
section .text
global start
start:
    mov si, hello
.print:
    lodsb
    test al, al
    jz .done
    out 0xe9, al
    jmp .print
.done:
    lidt [idt]
    call crunch
    hlt
global crunch:function (crunch.end - crunch)
crunch:
    mov eax, 0xcafe
    xor edx, edx
    mov ebx, 0
    div dword [bx + si + 0x10]
    ret
.end:
hello: db "triage me", 10, 0
idt: dw 0, 0, 0
`;

function afterglow(args: string[], cwd: string) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 120_000, cwd });
}

describe.skipIf(!HAVE)("afterglow triage", () => {
  let dir: string;
  beforeAll(() => {
    execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT, stdio: "pipe" });
    dir = mkdtempSync(join(tmpdir(), "afterglow-triage-"));
    writeFileSync(join(dir, "g.asm"), SOURCE);
    execFileSync("nasm", ["-f", "elf32", "-o", join(dir, "g.o"), join(dir, "g.asm")]);
    execFileSync("ld", ["-m", "elf_i386", "-Ttext=0x7c00", "-e", "start", "-o", join(dir, "g.elf"), join(dir, "g.o")]);
    execFileSync("objcopy", ["-O", "binary", join(dir, "g.elf"), join(dir, "g.bin")]);
    const r = afterglow(["record", "-o", "g.rec", "--embed", "--image", "g.bin"], dir);
    expect(r.status, r.stderr).toBe(2);
  }, 180_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("names the failing instruction after its symbol as gdb does, and disassembles it as objdump does", () => {
    const r = afterglow(["triage", "g.rec", "--symbols", "g.elf"], dir);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stdout).toMatch(/^end\n {2}triple-fault \(a failure\): triple fault at EIP 0x7c[0-9a-f]{2}\n/);
    expect(r.stdout).toMatch(/\nconsole \(the last 1 of 1 lines\)\n {2}triage me\n/);
    const m = /\ninstruction \(where the guest is: the next it would run\)\n {2}0000:0x([0-9a-f]{8}) {2}linear 0x[0-9a-f]{8} <(\S+)> {2}16-bit\n {2}([0-9a-f ]{24}) {2}(\S.*)\n/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    const eip = parseInt(m![1], 16);
    const gdb = spawnSync("gdb", ["-batch", "-nx", "-ex", `info symbol 0x${eip.toString(16)}`, join(dir, "g.elf")], { encoding: "utf8" });
    const g = /^(\S+)(?: \+ (\d+))? in section/.exec(gdb.stdout.trim())!;
    expect(m![2]).toBe(`${g[1]}${g[2] ? `+${g[2]}` : ""}`);
    expect(m![2]).toMatch(/^crunch\+\d+$/);
    const dump = execFileSync("objdump", ["-d", "-M", "intel,i8086", "-m", "i386", "--start-address", `0x${eip.toString(16)}`, "--stop-address", `0x${(eip + 16).toString(16)}`, join(dir, "g.elf")], { encoding: "utf8" });
    const line = new RegExp(`^\\s*${eip.toString(16)}:\\t([0-9a-f ]+?)\\s*\\t(.*)$`, "m").exec(dump)!;
    expect(m![3].trim()).toBe(line[1].trim());
    expect(m![4].replace(/\s+/g, " ")).toBe(line[2].trim().replace(/\s+/g, " "));
    expect(r.stdout).toMatch(/\nregisters\n {2}eax 0x0000cafe {2}ecx 0x[0-9a-f]{8} {2}edx 0x00000000 {2}ebx 0x00000000\n/);
    expect(r.stdout).toMatch(/\nVM exits \(the last \d+ of \d+\)\n(  #\d+ icount \d+ .*\n)+/);
    expect(r.stdout).toMatch(/\nL4 threads\n.*\n( +\d+ {2}0x[0-9a-f]{8} {2}(user|vcpu) .*\n)+/);
  });

  it("prints a gdb command that opens gdb with the guest at the faulting instruction", () => {
    const r = afterglow(["triage", "g.rec", "--symbols", "g.elf"], dir);
    const cmd = /\n {2}gdb {5}afterglow (gdb .*)\n/.exec(r.stdout);
    expect(cmd, r.stdout).not.toBeNull();
    const eip = /\n {2}0000:0x([0-9a-f]{8}) /.exec(r.stdout)![1];
    const icount = /debug it \(at icount ([\d,]+),/.exec(r.stdout)![1].replace(/,/g, "");
    const args = cmd![1].split(" ");
    const g = afterglow([...args, "--", "-batch", "-ex", "monitor when", "-ex", "info symbol $pc", "-ex", "kill"], dir);
    // gdb writes a monitor command's output on its stderr.
    expect(g.stdout + g.stderr).toMatch(new RegExp(`icount ${icount} exits \\d+ guest-ns \\d+ eip 0x${eip}\\n`));
    expect(g.stdout).toMatch(/crunch \+ \d+ in section \.text/);
  });

  it("reads a recording that is not one as the user's error, in one line", () => {
    writeFileSync(join(dir, "junk.rec"), "not a recording");
    const r = afterglow(["triage", "junk.rec"], dir);
    expect(r.stderr).toBe("afterglow: junk.rec is not an afterglow recording (no AGLOWREC signature)\n");
    expect(r.status).toBe(1);
    expect(readFileSync(join(dir, "junk.rec"), "utf8")).toBe("not a recording");
  });
});

describe("triage's report of a kernel that KASLR moved", () => {
  // Debian's boot ends in native_machine_emergency_restart, linked at 0xc104fbb0, run 0x4000000 above.
  const restart = { name: "native_machine_emergency_restart", value: 0xc104fbb0, size: 0x200, type: 2, global: false, weak: false, sectionEnd: 0xc2000000 };
  const eip = 0xc504fd21;
  const report: TriageReport = {
    cause: { kind: "end", reason: "reboot" },
    at: { icount: 1000, ns: 1000, exits: 10 },
    before: 999,
    beforeWhy: "the instruction before the end",
    machine: "stack",
    console: [],
    consoleLines: 0,
    exits: [],
    registers: { eip, cs: 0x60 } as GuestRegisters,
    instruction: { cs: 0x60, eip, linear: eip, bits: 32, bytes: Uint8Array.of(0xe6, 0x64), text: "out    0x64,al" },
    threads: null,
    panic: null,
  };

  it("names the instruction and EIP after the symbol they are in once moved back by the kernel's offset", () => {
    const out = formatTriage(report, "boot.rec", { symbols: "vmlinux-dbg" }, new Symbols([restart], 0x4000000));
    expect(out).toContain("  0060:0xc504fd21  linear 0xc504fd21 <native_machine_emergency_restart+369>  32-bit\n");
    expect(out).toContain("  eip 0xc504fd21 <native_machine_emergency_restart+369>  eflags");
  });

  it("names nothing where the symbols, taken at their link addresses, hold no such address", () => {
    const out = formatTriage(report, "boot.rec", { symbols: "vmlinux-dbg" }, new Symbols([restart]));
    expect(out).toContain("  0060:0xc504fd21  linear 0xc504fd21  32-bit\n");
    expect(out).not.toContain("<native_machine_emergency_restart");
  });
});

describe("triage's exit status", () => {
  it("is 2 for a recording cut off while recording, a failure as a crash is", () => {
    const dir = mkdtempSync(join(tmpdir(), "afterglow-triage-cut-"));
    try {
      const whole = readFileSync(join(ROOT, "recordings", "hello-vm.rec"));
      // Past the header's chunk (the image it embeds), inside the next.
      writeFileSync(join(dir, "cut.rec"), whole.subarray(0, whole.length - 1000));
      const r = afterglow(["triage", "cut.rec"], dir);
      expect(r.stdout).toMatch(/^end\n {2}none recorded: the recording was cut off \(a failure\); it replayed all it holds\n/);
      expect(r.status, r.stderr).toBe(2);
      expect(afterglow(["triage", join(ROOT, "recordings", "hello-vm.rec")], dir).status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

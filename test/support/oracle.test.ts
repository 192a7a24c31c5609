import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { binfmtRunsI386, oracle, underCi } from "./oracle.js";

describe("a missing oracle", () => {
  it("fails the test under CI, naming what to install", () => {
    expect(() => oracle("qemu-system-i386", false, "apt-get install qemu-system-x86", { CI: "1" })).toThrow(
      /qemu-system-i386 is missing \(apt-get install qemu-system-x86\): CI runs every oracle test/,
    );
    expect(() => oracle("gdb", false, "apt-get install gdb", { CI: "true" })).toThrow(/gdb is missing/);
  });

  it("is skipped elsewhere, with a line saying what to install", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      expect(oracle("gdb", false, "apt-get install gdb", {})).toBe(false);
      expect(warn).toHaveBeenCalledWith("oracle test skipped: gdb is missing (apt-get install gdb)");
    } finally {
      warn.mockRestore();
    }
  });

  it("is no matter when the oracle is there", () => {
    expect(oracle("nasm", true, "apt-get install nasm", { CI: "1" })).toBe(true);
  });

  it("reads CI as CI services set it", () => {
    expect(underCi({ CI: "true" })).toBe(true);
    expect(underCi({ CI: "1" })).toBe(true);
    expect(underCi({})).toBe(false);
    expect(underCi({ CI: "" })).toBe(false);
    expect(underCi({ CI: "0" })).toBe(false);
    expect(underCi({ CI: "false" })).toBe(false);
  });
});

describe("a 32-bit program that runs", () => {
  // As /proc/sys/fs/binfmt_misc shows Debian's qemu-user-static entries.
  const entry = (state: string, magic: string): string =>
    `${state}\ninterpreter /usr/libexec/qemu-binfmt/x-binfmt-P\nflags: POCF\noffset 0\nmagic ${magic}\nmask fffffffffffefefcfffffffffffffffffeffffff\n`;
  const I386 = "7f454c4601010100000000000000000002000300";
  const ARM = "7f454c4601010100000000000000000002002800";
  const X86_64 = "7f454c4602010100000000000000000002003e00";

  function binfmt(entries: { [name: string]: string }): boolean {
    const dir = mkdtempSync(join(tmpdir(), "afterglow-binfmt-"));
    try {
      writeFileSync(join(dir, "register"), "");
      writeFileSync(join(dir, "status"), "enabled\n");
      for (const [name, text] of Object.entries(entries)) writeFileSync(join(dir, name), text);
      return binfmtRunsI386(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("runs in QEMU, not on the host CPU, where binfmt_misc hands i386 programs to it", () => {
    expect(binfmt({ "qemu-i386": entry("enabled", I386) })).toBe(true);
  });

  it("runs on the host CPU where no enabled entry takes i386 programs", () => {
    expect(binfmt({})).toBe(false);
    expect(binfmt({ "qemu-i386": entry("disabled", I386) })).toBe(false);
    expect(binfmt({ "qemu-arm": entry("enabled", ARM), "qemu-x86_64": entry("enabled", X86_64) })).toBe(false);
    expect(binfmtRunsI386(join(tmpdir(), "afterglow-no-such-binfmt"))).toBe(false);
  });
});

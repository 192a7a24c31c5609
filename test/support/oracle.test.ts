import { describe, expect, it, vi } from "vitest";
import { oracle, underCi } from "./oracle.js";

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

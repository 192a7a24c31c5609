import { describe, expect, it } from "vitest";
import { parseBudget, parseTarget } from "./options.js";

describe("--checkpoint-budget", () => {
  it("says it wants whole MiB when given a fraction, which is a positive number too", () => {
    expect(parseBudget("64")).toBe(64);
    for (const bad of ["0.5", "1.5", "0", "-1", "abc"]) expect(() => parseBudget(bad)).toThrow(`--checkpoint-budget wants a whole number of MiB from 1, not "${bad}"`);
  });
});

describe("--to", () => {
  it("takes N in decimal or 0x hex, as monitor seek and the TUI's g do", () => {
    expect(parseTarget("icount:0x10")).toEqual({ at: "step", icount: 16 });
    expect(parseTarget("icount:16")).toEqual({ at: "step", icount: 16 });
    expect(parseTarget("exit:0X1f")).toEqual({ at: "exit", exits: 32 });
    for (const bad of ["icount:", "icount:-1", "icount:0x", "exit:abc", "icount:1.5", "ns:5", "icount:99999999999999999999", "icount:0x20000000000000"]) {
      expect(() => parseTarget(bad), bad).toThrow(`--to wants icount:N or exit:N (N decimal or 0x hex), not "${bad}"`);
    }
  });
});

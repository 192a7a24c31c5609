import { describe, expect, it } from "vitest";
import { speedText, statusText } from "./progress.js";

describe("the status line", () => {
  it("counts a fast run in millions of instructions and MIPS", () => {
    expect(statusText(3_000_000_000, 3_090_000_000, 60)).toBe("3000M instructions, 3.09 s guest, 60 s host, 50.0 MIPS");
  });

  it("counts a slow run, one that hashes its state every few instructions, in instructions and instructions per second", () => {
    expect(statusText(4_500, 100_000, 3)).toBe("4,500 instructions, 0.00 s guest, 3 s host, 1,500 instructions/s");
  });

  it("gives the end-of-run lines the same speed, never 0.0 MIPS", () => {
    expect(speedText(2_000, 4)).toBe("500 instructions/s");
    expect(speedText(120_000_000, 2)).toBe("60.0 MIPS");
  });
});

import { describe, expect, it } from "vitest";
import { statusText } from "./progress.js";

describe("the status line", () => {
  it("counts a fast run in millions of instructions and MIPS", () => {
    expect(statusText(3_000_000_000, 3_090_000_000, 60)).toBe("3000M instructions, 3.09 s guest, 60 s host, 50.0 MIPS");
  });

  it("counts a slow run, one that hashes its state every few instructions, in instructions and instructions per second", () => {
    expect(statusText(4_500, 100_000, 3)).toBe("4,500 instructions, 0.00 s guest, 3 s host, 1,500 instructions/s");
  });
});

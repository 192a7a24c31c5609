import { describe, expect, it } from "vitest";
import { parseBudget } from "./options.js";

describe("--checkpoint-budget", () => {
  it("says it wants whole MiB when given a fraction, which is a positive number too", () => {
    expect(parseBudget("64")).toBe(64);
    for (const bad of ["0.5", "1.5", "0", "-1", "abc"]) expect(() => parseBudget(bad)).toThrow(`--checkpoint-budget wants a whole number of MiB from 1, not "${bad}"`);
  });
});

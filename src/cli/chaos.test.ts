// The chaos campaign's status line: what a user watching a long campaign on a terminal sees.

import { describe, expect, it } from "vitest";
import { ChaosStatus, formatChaosSummary } from "./chaos.js";

type Answer = Parameters<ChaosStatus["ran"]>[0];
const end = { reason: "halt" as const };

describe("chaos's status line", () => {
  it("counts runs and failures as they finish, on one line rewritten in place, and clears it", () => {
    const out: string[] = [];
    const status = new ChaosStatus(1000, (s) => out.push(s));
    status.clear();
    expect(out).toEqual([]);
    status.ran({ seed: 1, failed: false, end, icount: 5, ns: 5, hostMs: 1 } as Answer);
    status.ran({ seed: 2, failed: true, end: { reason: "triple-fault" }, kept: "chaos/chaos-2.rec", icount: 5, ns: 5, hostMs: 1 } as Answer);
    status.ran({ seed: 3, error: "boom" } as Answer);
    expect(out.map((l) => l.replace(/, \d+ s$/, ""))).toEqual([
      "\r\x1b[Kchaos: 1 of 1,000 runs, 0 failed",
      "\r\x1b[Kchaos: 2 of 1,000 runs, 1 failed",
      "\r\x1b[Kchaos: 3 of 1,000 runs, 2 failed",
    ]);
    status.clear();
    status.clear();
    expect(out.slice(3)).toEqual(["\r\x1b[K"]);
  });
});

describe("chaos's closing table", () => {
  it("lines the kept recordings' ends up in one column, however long each path", () => {
    const kept = (seed: number) => ({ seed, failed: true, end: { reason: "triple-fault", detail: "triple fault at EIP 0x7c85" }, kept: `chaos/chaos-${seed}.rec`, icount: 5, ns: 5, hostMs: 1 }) as Answer;
    const table = formatChaosSummary([kept(2), kept(11), kept(138)]).split("\n");
    const rows = table.slice(table.indexOf("kept:") + 1, table.indexOf("kept:") + 4);
    expect(rows.map((r) => r.indexOf("triple-fault:"))).toEqual([rows[0].indexOf("triple-fault:"), rows[0].indexOf("triple-fault:"), rows[0].indexOf("triple-fault:")]);
    expect(rows[2]).toMatch(/^ {2}chaos\/chaos-138\.rec {2}triple-fault: /);
  });
});

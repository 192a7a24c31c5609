// `afterglow replay --to`'s seek: in slices, so that a far position shows progress on the way.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Debugger } from "../replay/debug.js";
import { readRecording } from "../replay/recording.js";
import { Session } from "../replay/session.js";
import { seekInSlices } from "./replay.js";

const REC = fileURLToPath(new URL("../../recordings/hello-vm.rec", import.meta.url));

function open(): { dbg: Debugger; session: Session } {
  const session = Session.replay(readRecording(readFileSync(REC), "hello-vm.rec"), () => {});
  const dbg = new Debugger(session);
  dbg.toFirstInstruction();
  dbg.startTimeTravel();
  return { dbg, session };
}

describe("replay --to's seek in slices", () => {
  it("reports each slice on the way and lands where one seek lands", () => {
    const direct = open();
    const want = direct.dbg.seek({ at: "exit", exits: 701 });
    direct.dbg.close();
    const { dbg, session } = open();
    const goal = session.recordedExits()[700].icount;
    let slices = 0;
    const got = seekInSlices(dbg, { at: "exit", exits: 701 }, goal, () => slices++, 50_000);
    expect(got).toEqual(want);
    expect(slices).toBe(Math.ceil(goal / 50_000) - 1);
    dbg.close();
  });

  it("refuses a position past the end as one seek does, after the slices it could run", () => {
    const { dbg } = open();
    const r = seekInSlices(dbg, { at: "step", icount: 99_999_999 }, 99_999_999, () => {}, 50_000);
    expect(r).toMatchObject({ error: "invalid", message: expect.stringMatching(/^cannot reach icount 99999999: the replay came to icount \d+ /) });
    dbg.close();
  });
});

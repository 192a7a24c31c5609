// Where --at leaves the guest for gdb, and the slices a watched run takes on the way.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Debugger } from "../replay/debug.js";
import { readRecording } from "../replay/recording.js";
import { Session } from "../replay/session.js";
import { runTo } from "./gdb-serve.js";

const REC = fileURLToPath(new URL("../../recordings/hello-vm.rec", import.meta.url));

function open(): Debugger {
  const dbg = new Debugger(Session.replay(readRecording(readFileSync(REC), "hello-vm.rec"), () => {}));
  dbg.toFirstInstruction();
  return dbg;
}

describe("--at's run", () => {
  it("reports each slice when watched, and stops after exactly that many instructions", () => {
    const dbg = open();
    let slices = 0;
    expect(runTo(dbg, 123_456, () => slices++, 10_000)).toEqual({ icount: 123_456, stop: "at" });
    expect(slices).toBe(13);
    expect(dbg.position().icount).toBe(123_456);
    dbg.close();
  });

  it("says in words that the recording ends first", () => {
    const dbg = open();
    expect(runTo(dbg, 99_999_999, undefined)).toMatchObject({ stop: "the recording ends" });
    dbg.close();
  });
});

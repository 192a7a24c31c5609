// The committed sample recordings replay to their end with every state hash matching, on the
// interpreter and with the compiler: the machine still runs these guests exactly as it did when
// they were made (see recordings/README.md).

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readRecording } from "../src/replay/recording.js";
import { seededRandom } from "../src/replay/seeded-random.js";
import { Session } from "../src/replay/session.js";
import { ROOT } from "./layers.js";

const DIR = join(ROOT, "recordings");
const OUTPUT: { [file: string]: RegExp } = {
  "hello.rec": /^afterglow: real mode ok\n[^]*\nafterglow: done\n$/,
  "echo.rec": /^echo: type; q quits\nAFTERGLOW\n[0-9A-F]{4}\nRECORDS\n[0-9A-F]{4}\nQ/,
  "hello-vm.rec": /^afterglow: real mode ok\n[^]*\nafterglow: done\n$/,
  "echo-vm.rec": /^echo: type; q quits\nAFTERGLOW\n[0-9A-F]{4}\nRECORDS\n[0-9A-F]{4}\nQ/,
  "race-chaos.rec": /^race: boot\n$/,
};
/** The VM exits each of the stack's recordings holds at least (a short failing boot has few). */
const MIN_EXITS: { [file: string]: number } = { "race-chaos.rec": 25 };
/** The seed of the random places where the sliced replays cut their runs. */
const SLICE_SEED = 1;
/** Made before the stack existed: the bare machine, and no VM exits. */
const BARE = ["hello.rec", "echo.rec"];

describe("the committed recordings", () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith(".rec"));

  it("are all known to this test", () => {
    expect(files.sort()).toEqual(Object.keys(OUTPUT).sort());
  });

  // They were made by the interpreter; the compiler (src/machine/cpu/jit) must replay them too.
  // And the host may cut a replay anywhere (a debugger's slices, a seek): cut at random places,
  // as short as one instruction, it must meet every hash all the same.
  for (const file of files) for (const jit of [false, true]) for (const sliced of [false, true]) {
    it(`${file} replays to its end with every state hash and VM exit matching, ${jit ? "compiled" : "interpreted"}${sliced ? ", in runs cut at random places" : ""}`, () => {
      const rec = readRecording(new Uint8Array(readFileSync(join(DIR, file))), file);
      expect(rec.end).toBeDefined();
      expect(rec.records.filter((r) => r.t === "hash").length).toBeGreaterThan(5);
      const out: number[] = [];
      const session = Session.replay(rec, (b) => out.push(b), {}, { jit });
      if (sliced) {
        const random = seededRandom(SLICE_SEED);
        while (!session.replayDone()) session.run({ maxInsns: session.position().icount + 1 + Math.floor(random() ** 2 * 3000) });
      } else session.run();
      expect(session.replayDone()).toBe(true);
      expect(session.position().icount).toBe(rec.end!.icount);
      expect(session.stateHash()).toBe(rec.end!.hash);
      // The stack's recordings check every VM exit too.
      if (BARE.includes(file)) expect(session.exitCount()).toBe(0);
      else expect(session.exitCount()).toBeGreaterThan(MIN_EXITS[file] ?? 200);
      expect(Buffer.from(out).toString("latin1")).toMatch(OUTPUT[file]);
    });
  }
});

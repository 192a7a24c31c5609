// A replay cut anywhere is the same replay: the gdb stub cuts its runs by host time, a seek or a
// breakpoint cuts them elsewhere, and none of that may show in the machine's state. The shared
// Linux recording (test/support/linux-recording.ts, under the stack) replayed in runs of seeded
// random lengths, down to one instruction, meets every one of its state hashes and VM exits.

import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { readRecording } from "../../src/replay/recording.js";
import { seededRandom } from "../../src/replay/seeded-random.js";
import { Session } from "../../src/replay/session.js";
import { haveLinux, linuxRecording, type LinuxRecording } from "../support/linux-recording.js";
import { oracle } from "../support/oracle.js";

const ready = oracle("Debian's i386 kernel and busybox in guests/cache", haveLinux, "bash scripts/fetch-debian.sh");
let boot: LinuxRecording;

beforeAll(() => {
  if (ready) boot = linuxRecording();
}, 900_000);

describe.skipIf(!ready)("a replayed Linux boot cut into runs at random places", () => {
  it("meets every state hash and VM exit of the recording, to its end", () => {
    const rec = readRecording(new Uint8Array(readFileSync(boot.rec)), boot.rec);
    expect(rec.records.filter((r) => r.t === "hash").length).toBeGreaterThan(50);
    const session = Session.replay(rec, () => {}, { kernel: new Uint8Array(readFileSync(boot.kernel)), initrd: new Uint8Array(readFileSync(boot.initrd)) });
    const seed = 3;
    const random = seededRandom(seed);
    let runs = 0;
    while (!session.replayDone()) {
      // Mostly short runs: a squared uniform draw, up to 20,000 instructions, 6,700 on average.
      session.run({ maxInsns: session.position().icount + 1 + Math.floor(random() ** 2 * 20_000) });
      runs++;
    }
    expect(session.position().icount, `seed ${seed}`).toBe(rec.end!.icount);
    expect(session.stateHash()).toBe(rec.end!.hash);
    expect(runs).toBeGreaterThan(50_000);
  }, 900_000);
});

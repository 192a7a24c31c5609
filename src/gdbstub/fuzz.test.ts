// Random and malformed input, a fixed number of chunks from a seeded generator: the stub must never
// throw, never hang, and must still answer a well-formed `?` afterwards. Each run prints its seed;
// FUZZ_SEED=n reruns one seed (FUZZ_CHUNKS=n changes how many chunks):
//   FUZZ_SEED=12345 npx vitest run src/gdbstub/fuzz.test.ts

import { describe, expect, it } from "vitest";
import { FakeMachine } from "../../test/gdb/fake-machine.js";
import { hexOfText } from "./hex.js";
import { PacketDecoder, frame } from "./packet.js";
import { GdbConnection } from "./stub.js";

/** The seeds every run tries, or the one FUZZ_SEED names. */
const SEEDS = process.env.FUZZ_SEED ? [Number(process.env.FUZZ_SEED) >>> 0] : [1, 0x5eed, 0x9e3779b9];
/** Chunks per seed (about a second's worth each). */
const CHUNKS = Number(process.env.FUZZ_CHUNKS) || 4000;
const rerun = (seed: number) => `rerun with FUZZ_SEED=${seed} npx vitest run src/gdbstub/fuzz.test.ts`;

/** xorshift32: reproducible from its seed. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  return { next, int, pick };
}

const COMMANDS = [
  "?", "g", "G", "p", "P", "m", "M", "X", "Z0,", "Z1,", "Z2,", "Z3,", "Z4,", "z0,", "z2,", "Z9,", "s", "c", "S", "C",
  "vCont?", "vCont;", "vCont;c", "vCont;s:1", "vCont;r1000,1010:1", "vCont;r1000", "vCont;C05", "vKill;1", "D", "k", "H", "T", "bs", "bc", "qSupported:",
  "qXfer:features:read:", "qXfer:features:read:target.xml:", "qRcmd,", "qAttached", "qC", "qfThreadInfo",
  "QStartNoAckMode", "vMustReplyEmpty", "!", "",
];
const PIECES = [
  "0", "1", "2000", "1000", "ffffffff", "100000000", "fffffffffffffffffffff", "-1", ",", ":", ";", "=", "zz", "}", "*",
  "}}", "*!", "#", "thread:1", "p1.1", "target.xml", "0,fff", "2000,4", "1005,1", hexOfText("help"), "00".repeat(200),
];

function randomPayload(r: ReturnType<typeof rng>): string {
  let p = r.pick(COMMANDS);
  const n = r.int(6);
  for (let i = 0; i < n; i++) {
    if (r.next() < 0.8) p += r.pick(PIECES);
    else p += String.fromCharCode(r.int(256));
  }
  return p;
}

function randomChunk(r: ReturnType<typeof rng>): string {
  const kind = r.int(10);
  if (kind < 4) return frame(randomPayload(r), r.next() < 0.2);
  if (kind === 4) return "$" + randomPayload(r) + "#" + r.pick(["00", "zz", "4", "", "ff"]);
  if (kind === 5) return r.pick(["+", "-", "\x03", "$", "#", "}", "*", "$#00"]);
  if (kind === 6 && r.next() < 0.05) return frame("M2000,4000:" + "00".repeat(0x4000)); // over the limit
  let s = "";
  const len = 1 + r.int(200);
  for (let i = 0; i < len; i++) s += r.next() < 0.2 ? r.pick(["$", "#", "}", "*", "\x03", "+", "-"]) : String.fromCharCode(r.int(256));
  return s;
}

describe("gdb stub under fuzzing", () => {
  it.each(SEEDS)("survives random and malformed bytes and packets, then still answers ? (seed %i)", async (seed) => {
    console.log(`gdb stub fuzz: seed ${seed}, ${CHUNKS} chunks (${rerun(seed)})`);
    const r = rng(seed);
    const target = new FakeMachine();
    const internal: string[] = [];
    let replies: string[] = [];
    let decoder = new PacketDecoder(1 << 20);
    let closed = false;

    const open = () => {
      closed = false;
      decoder = new PacketDecoder(1 << 20);
      return new GdbConnection(
        target,
        {
          send: (b) => {
            for (const ev of decoder.feed(b)) if (ev.type === "packet") replies.push(ev.payload);
          },
          close: () => (closed = true),
        },
        { log: (l) => internal.push(l) },
      );
    };

    let conn = open();
    let chunks = 0;
    try {
      while (chunks < CHUNKS) {
        // Like a reconnecting gdb after `D` or `k`.
        if (closed) {
          conn.dispose();
          conn = open();
        }
        conn.receive(Buffer.from(randomChunk(r), "latin1"));
        chunks++;
        replies = replies.slice(-10);
        // Let resume slices run now and then, as the event loop would between socket reads.
        if (chunks % 16 === 0) await new Promise((res) => setImmediate(res));
      }

      // Finish any partial packet (an empty packet is answered with an empty reply), stop a run,
      // then ask. A `D` or `k` still queued behind the run may end the connection when the run
      // stops; then ask again on a new one, as gdb would reconnect.
      replies = [];
      for (let attempt = 0; attempt < 2 && !/^[TS][0-9a-f]{2}/.test(replies.at(-1) ?? ""); attempt++) {
        if (closed) conn = open();
        conn.receive(Buffer.from("$#00\x03", "latin1"));
        conn.receive(Buffer.from(frame("?"), "latin1"));
        for (let i = 0; i < 100 && !closed && !/^[TS][0-9a-f]{2}/.test(replies.at(-1) ?? ""); i++) {
          await new Promise((res) => setTimeout(res, 10));
        }
      }
    } catch (e) {
      throw new Error(`fuzz seed ${seed} (${rerun(seed)}): ${(e as Error).stack}`);
    }

    expect(replies.at(-1), `seed ${seed} (${rerun(seed)}): ${JSON.stringify(replies)}`).toMatch(/^[TS][0-9a-f]{2}/);
    // The toy target never throws, so any internal error is the stub's own bug.
    expect(internal.filter((l) => !l.includes("bad checksum")), `seed ${seed} (${rerun(seed)})`).toEqual([]);
  });
});

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../test/layers.js";
import { nasm } from "../../test/support/cpu.js";
import { ExitReason } from "../l4/api.js";
import { FORMAT_VERSION, MAGIC, RecordingError, RecordingWriter, readRecording, type HeaderRecord, type Record } from "./recording.js";
import { decodeExits, ExitEncoder, type ExitsRecord } from "./exit-log.js";
import { DivergenceError, Session, Stop } from "./session.js";

const ECHO = new Uint8Array(readFileSync(join(ROOT, "guests", "builtin", "echo.bin")));
const HELLO = new Uint8Array(readFileSync(join(ROOT, "guests", "builtin", "hello.bin")));

/** Records `image` with `lines` typed one per idle moment, as the CLI does with piped input. */
function record(image: Uint8Array, lines: string[], hashEvery = 100_000): { file: Uint8Array; out: string } {
  const chunks: Uint8Array[] = [];
  const out: number[] = [];
  const s = new Session(
    { guest: { kind: "image", bytes: image, name: "guest.bin" }, ramSize: 4 << 20, rtcEpochSeconds: 1_700_000_000, console: (b) => out.push(b) },
    { sink: (b) => chunks.push(Uint8Array.from(b)), argv: ["record"], tool: "test", hashEvery, embedImages: true },
  );
  const pending = lines.map((l) => new TextEncoder().encode(l));
  const stop = s.run({
    maxInsns: 50_000_000,
    onIdle: () => {
      if (pending.length === 0 || !s.consoleListening()) return false;
      s.consoleInput(pending.shift()!);
      return true;
    },
  });
  s.end(stop === Stop.HALT ? "halt" : "limit");
  return { file: Buffer.concat(chunks), out: Buffer.from(out).toString("latin1") };
}

function replay(file: Uint8Array, images?: { [role: string]: Uint8Array }): { out: string; session: Session } {
  const out: number[] = [];
  const session = Session.replay(readRecording(file), (b) => out.push(b), images);
  session.run();
  return { out: Buffer.from(out).toString("latin1"), session };
}

/** Runs a replay that must diverge; the DivergenceError it stops with. */
function divergenceOf(s: Session): DivergenceError {
  let err: unknown;
  try {
    s.run();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(DivergenceError);
  return err as DivergenceError;
}

describe("recordings", () => {
  it("replay the console output and end state of a run with typed input, in a fresh session", () => {
    const r = record(ECHO, ["hi\n", "there\n", "q"]);
    expect(r.out).toMatch(/^echo: type; q quits\nHI\n[0-9A-F]{4}\nTHERE\n[0-9A-F]{4}\nQecho: bye\n$/);
    const rec = readRecording(r.file);
    expect(rec.end?.reason).toBe("halt");
    expect(rec.records.filter((x) => x.t === "input" && x.kind === "console")).toHaveLength(3);
    const p = replay(r.file);
    expect(p.out).toBe(r.out);
    expect(p.session.replayDone()).toBe(true);
    expect(p.session.stateHash()).toBe(rec.end!.hash);
  });

  it("check state hashes on the way and stop at the first one that differs", () => {
    const r = record(HELLO, [], 50_000);
    const rec = readRecording(r.file);
    const hashes = rec.records.filter((x) => x.t === "hash");
    expect(hashes.length).toBeGreaterThan(5);
    // Forge the fourth hash: the replay must run the first three and stop at that one.
    const forged = { ...rec, records: rec.records.map((x) => (x === hashes[3] ? { ...x, hash: "0".repeat(32) } : x)) };
    const s = Session.replay(forged, () => {});
    const err = divergenceOf(s);
    expect((err as DivergenceError).at.icount).toBe(hashes[3].icount);
    expect((err as Error).message).toMatch(/^replay diverged at icount \d+ \(guest [\d.]+ s\): expected state hash 0{32}, got [0-9a-f]{32}$/);
  });

  it("check every VM exit of the stack on the way and stop at the first one that differs, naming it", () => {
    const r = record(ECHO, ["hi\n", "q"]);
    const rec = readRecording(r.file);
    expect(rec.header.machine.kind).toBe("stack");
    const exits = decodeExits(rec.records.filter((x): x is ExitsRecord => x.t === "exits"));
    expect(exits.length).toBeGreaterThan(50);
    // Forge exit #20: one more in its qualification.
    const enc = new ExitEncoder();
    for (const e of exits) enc.add(e.icount, e.reason, e.n === 20 ? e.qualification + 1 : e.qualification, e.eip);
    const first = rec.records.findIndex((x) => x.t === "exits");
    const records: Record[] = rec.records.filter((x) => x.t !== "exits");
    records.splice(first, 0, enc.take()!);
    const s = Session.replay({ ...rec, records }, () => {});
    const err = divergenceOf(s);
    expect((err as DivergenceError).exit).toBe(20);
    expect((err as DivergenceError).at.icount).toBe(exits[20].icount);
    expect((err as Error).message).toMatch(/^replay diverged at icount \d+, exit #20 \(guest [\d.]+ s\): expected #20 icount \d+ [A-Z_]+ .* eip 0x[0-9a-f]{8}, got #20 icount \d+ [A-Z_]+ /);
    // The genuine recording replays with every exit matched.
    const ok = Session.replay(rec, () => {});
    expect(ok.run()).toBe(Stop.HALT);
    expect(ok.exitCount()).toBe(exits.length);
  });

  it("do not grow with the guest's RDTSCs in a VM: the TSC is VMX offsetting, no exit and no input", () => {
    // A guest reads its TSC `reads` times, sends the last reading's four bytes to COM1 and halts.
    const tscGuest = (reads: number) =>
      nasm(
        `cli
        mov ecx, ${reads}
        read: rdtsc
        dec ecx
        jnz read
        mov dx, 0x3f8
        mov cx, 4
        send: out dx, al
        shr eax, 8
        loop send
        hlt`,
        16,
        0x7c00,
      );
    // State hashes every 10 M instructions: none on the way in either run.
    const few = record(tscGuest(1), [], 10_000_000);
    const many = record(tscGuest(200_000), [], 10_000_000);
    const exitsOf = (file: Uint8Array) => decodeExits(readRecording(file).records.filter((x): x is ExitsRecord => x.t === "exits"));
    const [e1, e2] = [exitsOf(few.file), exitsOf(many.file)];
    expect(e2.map((e) => e.reason)).toEqual(e1.map((e) => e.reason));
    expect(e2.some((e) => e.reason === ExitReason.RDTSC)).toBe(false);
    // The only input is the wall clock's start, the same in both.
    const inputsOf = (file: Uint8Array) => readRecording(file).records.filter((x) => x.t === "input");
    expect(inputsOf(many.file)).toEqual(inputsOf(few.file));
    expect(inputsOf(few.file).map((x) => x.kind)).toEqual(["rtc"]);
    // 600,000 more instructions, a few bytes more: the icounts in the exits, hashes and end.
    expect(many.file.length - few.file.length).toBeLessThan(32);
    // The readings are the guest's time, which the replay reproduces exactly.
    expect(many.out).not.toBe(few.out);
    for (const r of [few, many]) expect(replay(r.file).out).toBe(r.out);
  });

  it("replay everything whole that a recording cut at 50 seeded points during input and VM exits holds", () => {
    // The CLI's way of recording: the host looks in every 100 ms of guest time (a chunk each) and
    // types a line when the guest has waited for one a while; the echo guest's timer keeps VM
    // exits coming.
    const chunks: Uint8Array[] = [];
    const out: number[] = [];
    const session = new Session(
      { guest: { kind: "image", bytes: ECHO }, ramSize: 4 << 20, rtcEpochSeconds: 1_700_000_000, console: (b) => out.push(b) },
      { sink: (b) => chunks.push(Uint8Array.from(b)), argv: [], tool: "test", embedImages: true },
    );
    const lines = [...Array.from({ length: 40 }, (_, k) => `line ${k}\n`), "q"].map((l) => new TextEncoder().encode(l));
    let waitingSince = -1;
    const type = (): boolean => {
      if (lines.length === 0 || !session.consoleListening()) return false;
      const now = session.guestTimeNs();
      if (waitingSince < 0) waitingSince = now;
      if (now < waitingSince + [30, 170, 60][lines.length % 3] * 1e6) return false;
      waitingSince = -1;
      return session.consoleInput(lines.shift()!) > 0;
    };
    let stop: Stop;
    do stop = session.run({ maxInsns: session.position().icount + 4_000_000, maxNs: session.guestTimeNs() + 100_000_000, onIdle: type });
    while (stop === Stop.BUDGET);
    expect(stop).toBe(Stop.HALT);
    session.end("halt");
    const file = Buffer.concat(chunks);
    const full = readRecording(file);
    expect(chunks.length).toBeGreaterThan(30);
    const fullOut = Buffer.from(out).toString("latin1");
    const exitsIn = (records: Record[]) => records.reduce((n, r) => n + (r.t === "exits" ? r.count : 0), 0);
    // Seeded cut points over the whole file past its header (a fixed LCG: tests read no host randomness).
    let x = 0x5eed;
    const rnd = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const headerEnd = MAGIC.length + chunks[1].length;
    for (let k = 0; k < 50; k++) {
      const cut = headerEnd + Math.floor(rnd() * (file.length - headerEnd));
      const rec = readRecording(file.subarray(0, cut));
      expect(rec.records).toEqual(full.records.slice(0, rec.records.length));
      const replayed: number[] = [];
      const s = Session.replay(rec, (b) => replayed.push(b));
      s.run();
      expect(s.replayDone()).toBe(true);
      // Every VM exit of every whole chunk, checked; every position it records, reached.
      expect(s.exitCount(), `cut at ${cut}`).toBe(exitsIn(rec.records));
      const last = rec.records.filter((r): r is Extract<Record, { icount: number }> => r.t === "pos" || r.t === "input" || r.t === "hash").at(-1);
      if (last) expect(s.position().icount).toBeGreaterThanOrEqual(last.icount);
      expect(fullOut.startsWith(Buffer.from(replayed).toString("latin1"))).toBe(true);
      // Without its positions (as recordings before format 3 are), its VM exits still carry it
      // through every whole chunk.
      const bare = Session.replay({ ...rec, records: rec.records.filter((x) => x.t !== "pos") }, () => {});
      bare.run();
      expect(bare.exitCount(), `cut at ${cut}, no positions`).toBe(exitsIn(rec.records));
    }
  });

  it("name the field a recording holds wrong, whatever the record, and the RAM it cannot have", () => {
    const r = record(ECHO, ["q"]);
    const rec = readRecording(r.file);
    // A recording rewritten with good checksums but a field of the wrong type (as by a tool that
    // edits recordings): the reader says which field, never leaves it for the replay to trip on.
    const rewrite = (edit: (h: HeaderRecord, records: Record[]) => void): Uint8Array => {
      const h = structuredClone(rec.header);
      const records = structuredClone(rec.records);
      edit(h, records);
      const chunks: Uint8Array[] = [];
      const w = new RecordingWriter((b) => chunks.push(Uint8Array.from(b)), h);
      for (const x of records) w.add(x);
      w.flush();
      return Buffer.concat(chunks);
    };
    const cases: [string, (h: HeaderRecord, records: Record[]) => void, string][] = [
      ["ramSize null", (h) => ((h.machine as { ramSize: unknown }).ramSize = null), "record.machine.ramSize is null; it must be an integer from 1 to 9007199254740991"],
      ["sha256 a number", (h) => ((h.images[0] as { sha256: unknown }).sha256 = 7), "record.images[0].sha256 is 7; it must be 64 hex digits"],
      ["cmdline missing", (h) => (h.guest = { kind: "linux" } as HeaderRecord["guest"]), "record.guest.cmdline is missing; it must be a string"],
      ["unknown end", (_, rs) => ((rs.at(-1) as { reason: unknown }).reason = "exploded"), "record.reason is \"exploded\"; it must be one of halt, reboot"],
      ["input data", (_, rs) => ((rs.find((x) => x.t === "input" && x.kind === "console") as { data: unknown }).data = "q"), "record.data is \"q\"; it must be bytes"],
      ["timing out of range", (h) => (h.machine.timing = { rtcPhaseTicks: 40000, pitPhaseNs: 0, irqLatencyNs: 0, timesliceNs: 10_000_000 }), "record.machine.timing.rtcPhaseTicks is 40000; it must be an integer from 0 to 32767"],
    ];
    for (const [what, edit, message] of cases) {
      let err: unknown;
      try {
        readRecording(rewrite(edit), "x.rec");
      } catch (e) {
        err = e;
      }
      expect(err, what).toBeInstanceOf(RecordingError);
      expect((err as Error).message, what).toMatch(/^x\.rec is corrupt: chunk \d+ at byte \d+ holds a malformed record: /);
      expect((err as Error).message, what).toContain(message);
    }
    // 4 GiB of guest RAM: no machine has it.
    expect(() => readRecording(rewrite((h) => (h.machine.ramSize = 4096 * 2 ** 20)), "x.rec")).toThrow(
      "x.rec is corrupt: its header asks for 4294967296 bytes of RAM, and guest RAM in a VM is 4 to 2048 MiB in multiples of 4",
    );
  });

  it("reject corrupt, foreign, older- and newer-format files with one line", () => {
    const r = record(ECHO, ["q"]);
    const flipped = Uint8Array.from(r.file);
    flipped[flipped.length - 3] ^= 0x40;
    expect(() => readRecording(flipped, "x.rec")).toThrow(/^x\.rec is corrupt: chunk \d+ at byte \d+ fails its checksum$/);
    expect(() => readRecording(new TextEncoder().encode("#!/bin/sh\necho hi\n"), "x.rec")).toThrow("x.rec is not an afterglow recording (no AGLOWREC signature)");
    const chunks: Uint8Array[] = [];
    const future: HeaderRecord = { ...readRecording(r.file).header, format: FORMAT_VERSION + 1 };
    new RecordingWriter((b) => chunks.push(Uint8Array.from(b)), future).flush();
    expect(() => readRecording(Buffer.concat(chunks), "x.rec")).toThrow(`x.rec is format version ${FORMAT_VERSION + 1}; this afterglow reads version ${FORMAT_VERSION}`);
    // Recordings made when a REP counted once: their positions are not this machine's.
    chunks.length = 0;
    new RecordingWriter((b) => chunks.push(Uint8Array.from(b)), { ...future, format: 3 }).flush();
    expect(() => readRecording(Buffer.concat(chunks), "x.rec")).toThrow(
      `x.rec is format version 3, which counted a REP string instruction once; record it again with this afterglow (it reads version ${FORMAT_VERSION})`,
    );
    // Recordings whose state hashes depended on where the host cut the runs.
    chunks.length = 0;
    new RecordingWriter((b) => chunks.push(Uint8Array.from(b)), { ...future, format: 4 }).flush();
    expect(() => readRecording(Buffer.concat(chunks), "x.rec")).toThrow(
      `x.rec is format version 4, whose state hashes depended on where runs were cut; record it again with this afterglow (it reads version ${FORMAT_VERSION})`,
    );
    expect(() => readRecording(flipped, "x.rec")).toThrow(RecordingError);
  });

  it("call a chunk whose length field was damaged to point past the file's end corrupt, and a chunk cut off truncated", () => {
    const { file } = record(ECHO, ["q"]);
    const starts: number[] = [];
    for (let off = MAGIC.length; off < file.length; off += 8 + Buffer.from(file).readUInt32LE(off)) starts.push(off);
    expect(starts.length).toBeGreaterThan(2);
    starts.forEach((off, chunk) => {
      for (const byte of [1, 2]) {
        const damaged = Uint8Array.from(file);
        damaged[off + byte] ^= 0xff;
        expect(() => readRecording(damaged, "x.rec"), `chunk ${chunk}, length byte ${byte}`).toThrow(
          new RegExp(`^x\\.rec is corrupt: chunk ${chunk} at byte ${off} claims \\d+ bytes, past the file's end, but its checksum holds for its first \\d+$`),
        );
      }
    });
    // Cut inside the header's chunk, and inside the last one: each mid-payload.
    expect(() => readRecording(file.subarray(0, starts[1] - 5), "x.rec")).toThrow("x.rec is truncated before its header");
    expect(readRecording(file.subarray(0, file.length - 5), "x.rec").truncatedAt).toBe(starts.at(-1));
  });

  it("refuse an image other than the one recorded", () => {
    const chunks: Uint8Array[] = [];
    new Session(
      { guest: { kind: "image", bytes: ECHO, name: "echo.bin" }, ramSize: 4 << 20, rtcEpochSeconds: 0, console: () => {} },
      { sink: (b) => chunks.push(Uint8Array.from(b)), argv: [], tool: "test" },
    ).end("user-stop");
    const rec = readRecording(Buffer.concat(chunks));
    expect(() => Session.replay(rec, () => {}, { "boot image": HELLO })).toThrow(/^wrong boot image: it has sha256 [0-9a-f]{16}…, the recording was made with echo\.bin \(sha256 [0-9a-f]{16}…\)$/);
    expect(() => Session.replay(rec, () => {})).toThrow(/^the recording needs the boot image echo\.bin/);
    expect(() => Session.replay(rec, () => {}, { "boot image": ECHO })).not.toThrow();
  });
});

// Seeded fuzzing of the host: random guest code in real, protected and virtual-8086 mode on both
// machines (each run recorded, its replay checked, then the recording damaged at random and read
// and replayed again), and random gdb packets against a replay of such a run. The host must never
// throw but as documented (a RecordingError for a damaged recording, a DivergenceError for one
// that no longer matches), nor report an internal error to gdb, nor hang. Case `k` of seed `s`
// is the same on every host: `npm run fuzz -- --seed s --from k --count 1` runs it again.

import { GdbConnection } from "../../src/gdbstub/stub.js";
import { PacketDecoder, frame } from "../../src/gdbstub/packet.js";
import { SessionTarget } from "../../src/gdbstub/session-target.js";
import { PAGE_SIZE, type PhysMem } from "../../src/machine/memory.js";
import { digestOfPage, PAGE_DIGEST, pageDigests } from "../../src/replay/ram-digest.js";
import { seededRandom } from "../../src/replay/seeded-random.js";
import { Debugger } from "../../src/replay/debug.js";
import { RecordingError, readRecording } from "../../src/replay/recording.js";
import { DivergenceError, endReasonOf, Session, Stop, type MachineKind } from "../../src/replay/session.js";
import { nasm } from "../support/cpu.js";

export type Mode = "real" | "protected" | "v86";

/** What one case did, and the host's failure, if any (an exception or internal error, with its case). */
export interface CaseResult {
  what: string;
  failure?: string;
}

/**
 * Instructions and guest time a random guest may run: random code does not end by itself. A body
 * of 256 bytes, re-entered at every fault, has shown what it does within a few thousand
 * instructions, and the guest time bounds a guest that exits at every instruction (from unmapped
 * memory, one EPT exit each) to a few thousand exits: more cases find more than longer ones.
 */
const MAX_INSNS = 5_000;
const MAX_NS = 2_000_000;
const BODY = 256;

/**
 * Gets a random body into `mode`: protected mode with flat segments and an IDT (built by the
 * assembler: the guest's instructions go to the body) whose every gate leads back into the body (so faults re-enter random code instead of ending at once); for v86,
 * a TSS and an IRETD into virtual-8086 mode at the body (IOPL 3).
 */
function prologueSource(mode: Mode): string {
  if (mode === "real") return "xor ax, ax\nmov ss, ax\nmov sp, 0x7000\njmp body\nbody:";
  return `
  cli
  xor ax, ax
  mov ds, ax
  lgdt [gdtd]
  mov eax, cr0
  or al, 1
  mov cr0, eax
  jmp 0x08:pm
bits 32
pm:
  mov ax, 0x10
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov fs, ax
  mov gs, ax
  mov esp, 0x70000
  lidt [idtd]
  ${
    mode === "v86"
      ? `mov dword [tss + 4], 0x60000
  mov word [tss + 8], 0x10
  mov word [tss + 102], 104
  mov ax, 0x18
  ltr ax
  push dword 0
  push dword 0
  push dword 0
  push dword 0
  push dword 0x0600
  push dword 0xfff0
  push dword 0x23002
  push dword 0x07c0
  push dword body - 0x7c00
  iretd`
      : "jmp body"
  }
align 8
gdt:
  dq 0
  dq 0x00cf9a000000ffff
  dq 0x00cf92000000ffff
  dw 103, tss
  db 0, 0x89, 0, 0
gdtd:
  dw gdtd - gdt - 1
  dd gdt
idtd:
  dw 256 * 8 - 1
  dd idt
tss: times 104 db 0
idt: times 256 dw body, 0x08, 0x8e00, 0
body:`;
}

const prologues = new Map<Mode, Uint8Array>();
function prologue(mode: Mode): Uint8Array {
  let p = prologues.get(mode);
  if (p === undefined) prologues.set(mode, (p = nasm(prologueSource(mode), 16, 0x7c00)));
  return p;
}

/** An image: the mode's prologue, then random bytes (weighted toward short, valid-looking code). */
function guestImage(rnd: () => number, mode: Mode): Uint8Array {
  const p = prologue(mode);
  const img = new Uint8Array(p.length + BODY);
  img.set(p);
  const common = [0x0f, 0x66, 0x67, 0xf3, 0xcd, 0xe6, 0xe4, 0xee, 0xec, 0x9c, 0x9d, 0xcf, 0xfa, 0xfb, 0xf4, 0x8e, 0x8c, 0xea, 0x9a];
  for (let i = p.length; i < img.length; i++) img[i] = rnd() < 0.2 ? common[Math.floor(rnd() * common.length)] : Math.floor(rnd() * 256);
  return img;
}

const describeError = (e: unknown): string => (e instanceof Error ? (e.stack ?? e.message) : String(e));

/** Runs one guest, recorded; the recording's bytes, chunk by chunk, and its end's hash. */
function recordGuest(image: Uint8Array, machine: MachineKind): { chunks: Uint8Array[]; hash: string; icount: number } {
  const chunks: Uint8Array[] = [];
  const s = new Session(
    { guest: { kind: "image", bytes: image }, machine, ramSize: 4 << 20, rtcEpochSeconds: 1_700_000_000, console: () => {} },
    { sink: (b) => chunks.push(Uint8Array.from(b)), argv: ["fuzz"], tool: "fuzz", embedImages: true, hashEvery: 1_000 },
  );
  // Two pieces, so the recording has chunks to damage beyond its header (as the CLI's slices:
  // the second only if the first stopped at its budget).
  const first = s.run({ maxInsns: MAX_INSNS / 2, maxNs: MAX_NS / 2 });
  const stop = first === Stop.BUDGET ? s.run({ maxInsns: MAX_INSNS, maxNs: MAX_NS }) : first;
  s.end(stop === Stop.BUDGET ? "limit" : endReasonOf(stop), "fuzz");
  staleDigests(s.machine.pc.mem);
  return { chunks, hash: s.stateHash(), icount: s.position().icount };
}

/** Throws if a page's cached digest is not its bytes' (a write went past PhysMem's barrier). */
function staleDigests(mem: PhysMem): void {
  const cached = pageDigests(mem);
  for (let p = 0; p < mem.pageFlags.length; p++) {
    const truth = digestOfPage(mem.u8.subarray(p * PAGE_SIZE, (p + 1) * PAGE_SIZE));
    if (Buffer.compare(cached.subarray(p * PAGE_DIGEST, (p + 1) * PAGE_DIGEST), truth) !== 0) {
      throw new Error(`the cached digest of physical page 0x${p.toString(16)} is stale: a write went past the barrier`);
    }
  }
}

/** Damage of one kind at a random place: a flipped byte, a cut, a chunk lost or repeated, garbage. */
function damage(rnd: () => number, chunks: Uint8Array[]): { bytes: Uint8Array; how: string } {
  const file = Buffer.concat(chunks);
  const at = Math.floor(rnd() * file.length);
  switch (Math.floor(rnd() * 5)) {
    case 0: {
      const b = Buffer.from(file);
      b[at] ^= 1 << Math.floor(rnd() * 8);
      return { bytes: b, how: `bit flipped at byte ${at}` };
    }
    case 1:
      return { bytes: file.subarray(0, at), how: `cut at byte ${at}` };
    case 2: {
      const k = 1 + Math.floor(rnd() * (chunks.length - 1));
      return { bytes: Buffer.concat(chunks.filter((_, i) => i !== k)), how: `chunk ${k} lost` };
    }
    case 3: {
      const k = 1 + Math.floor(rnd() * (chunks.length - 1));
      return { bytes: Buffer.concat([...chunks.slice(0, k + 1), chunks[k], ...chunks.slice(k + 1)]), how: `chunk ${k} repeated` };
    }
    default: {
      const b = Buffer.from(file);
      for (let i = at; i < Math.min(b.length, at + 64); i++) b[i] = Math.floor(rnd() * 256);
      return { bytes: b, how: `garbage from byte ${at}` };
    }
  }
}

/** One case of random guest code: recorded, replayed to the same end, then damaged and replayed. */
function guestCase(rnd: () => number, mode: Mode, machine: MachineKind): CaseResult {
  return imageCase(rnd, guestImage(rnd, mode), machine, `${mode}-mode code on the ${machine === "stack" ? "stack" : "bare PC"}`);
}

/**
 * A guest case's checks on a given image, damaged by `seed`: for the images of cases that found
 * bugs, kept in ./regressions (an image outlives changes to how cases are made).
 */
export function regressionCase(image: Uint8Array, machine: MachineKind, seed: number): CaseResult {
  return imageCase(seededRandom(seed), image, machine, `an image on the ${machine === "stack" ? "stack" : "bare PC"}`);
}

function imageCase(rnd: () => number, image: Uint8Array, machine: MachineKind, what: string): CaseResult {
  let rec: ReturnType<typeof recordGuest>;
  try {
    rec = recordGuest(image, machine);
  } catch (e) {
    return { what, failure: `the run threw: ${describeError(e)}` };
  }
  try {
    const s = Session.replay(readRecording(Buffer.concat(rec.chunks)), () => {});
    s.run();
    if (!s.replayDone() || s.stateHash() !== rec.hash || s.position().icount !== rec.icount) return { what, failure: "its replay ended elsewhere than the run" };
  } catch (e) {
    return { what, failure: `its replay threw: ${describeError(e)}` };
  }
  const d = damage(rnd, rec.chunks);
  try {
    const s = Session.replay(readRecording(d.bytes, "damaged"), () => {});
    s.run();
  } catch (e) {
    if (!(e instanceof RecordingError) && !(e instanceof DivergenceError)) return { what, failure: `a replay of it damaged (${d.how}) threw: ${describeError(e)}` };
  }
  return { what: `${what}, recording ${d.how}` };
}

const COMMANDS = [
  "?", "g", "G", "p", "P", "m", "M", "X", "Z0,", "Z1,", "Z2,", "Z3,", "Z4,", "z0,", "z2,", "s", "c", "vCont;c", "vCont;s:1", "vCont;r7c00,7d00:1",
  "D", "k", "bs", "bc", "qSupported:", "qXfer:features:read:target.xml:", "qRcmd,", "qAttached", "qC", "qfThreadInfo", "qOffsets", "QStartNoAckMode", "Hg",
];
const PIECES = ["0", "1", "7c00", "7c10,4", "8", "ffffffff", "100000000", ",", ":", ";", "=", "10", "4", "1000,2", "zz", "6c34207468726561647300", "7768656e", "65786974732033", "787020307837633030"];

/** One case of random gdb packets against a replay of random guest code. */
async function gdbCase(rnd: () => number, machine: MachineKind): Promise<CaseResult> {
  const what = `gdb packets on a replay on the ${machine === "stack" ? "stack" : "bare PC"}`;
  const rec = recordGuest(guestImage(rnd, (["real", "protected", "v86"] as const)[Math.floor(rnd() * 3)]), machine);
  const dbg = new Debugger(Session.replay(readRecording(Buffer.concat(rec.chunks)), () => {}));
  dbg.toFirstInstruction();
  const target = new SessionTarget(dbg, { onMessage: () => {} });
  const internal: string[] = [];
  const decoder = new PacketDecoder(1 << 20);
  let closed = false;
  const open = () =>
    new GdbConnection(target, { send: (b) => void decoder.feed(b), close: () => (closed = true) }, { log: (l) => internal.push(l) });
  let conn = open();
  try {
    for (let i = 0; i < 60; i++) {
      if (closed) {
        conn.dispose();
        closed = false;
        conn = open();
      }
      let p = COMMANDS[Math.floor(rnd() * COMMANDS.length)];
      for (let n = Math.floor(rnd() * 4); n > 0; n--) p += rnd() < 0.85 ? PIECES[Math.floor(rnd() * PIECES.length)] : String.fromCharCode(Math.floor(rnd() * 256));
      conn.receive(Buffer.from(rnd() < 0.9 ? frame(p) : p, "latin1"));
      if (i % 8 === 0) await new Promise((r) => setImmediate(r));
    }
    conn.receive(Buffer.from("\x03", "latin1"));
    await new Promise((r) => setTimeout(r, 5));
  } catch (e) {
    return { what, failure: `the stub threw: ${describeError(e)}` };
  } finally {
    conn.dispose();
    dbg.close();
  }
  const bad = internal.filter((l) => !/bad checksum/.test(l));
  return bad.length > 0 ? { what, failure: `internal errors: ${bad.join("; ")}` } : { what };
}

/** Case `k` of seed `seed`. */
export async function fuzzCase(seed: number, k: number): Promise<CaseResult> {
  const rnd = seededRandom((Math.imul(seed, 0x9e3779b1) ^ k) >>> 0);
  const machine: MachineKind = rnd() < 0.5 ? "bare" : "stack";
  const kind = k % 4;
  if (kind === 3) return gdbCase(rnd, machine);
  return guestCase(rnd, (["real", "protected", "v86"] as const)[kind], machine);
}

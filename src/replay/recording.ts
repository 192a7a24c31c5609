// The recording file: an append-only stream of chunks, each a msgpack array of records with its
// length and CRC-32 in front, so that a recording cut short by a crash or Ctrl-C is readable up to
// its last whole chunk. The first chunk holds the header alone.
//
//   file   = MAGIC chunk*
//   chunk  = u32le length, u32le crc32(payload), payload (msgpack: Record[])
//
// Positions are (icount, ns): retired instructions and guest nanoseconds. Both are needed because
// a halted CPU lets guest time pass without retiring instructions.

import { crc32 } from "node:zlib";
import { Packr } from "msgpackr";
import type { ExitsRecord } from "./exit-log.js";
import { ramSizeProblem, timingSchema, type MachineKind, type MachineTiming } from "./machine-config.js";
import { bytes, int, listOf, object, oneOf, str, variants, type Schema } from "./schema.js";

export type { ExitsRecord };

export const MAGIC = Buffer.from("AGLOWREC", "latin1");
/**
 * 2 added VM exits (ExitsRecord); 3 the machine's timing and the chaos seed, where the images were
 * (ImageRef.path), positions reached (PosRecord), and the failure ends "panic" and "hang"; 4 counts
 * each iteration of a repeated string instruction as a retired instruction (src/x86/rep.ts), and its
 * state hashes read RAM by its pages' digests (./ram-digest.ts). Versions 1 to 3 counted a REP once,
 * so every position after the first REP in them (inputs, timer events, hashes, exits) is at another
 * icount on this machine: they are refused with a message to record again, rather than replayed by a
 * second definition of a retired instruction. 5: a state hash holds the interrupt shadow of an STI
 * or MOV SS only at the instruction it covers. Version 4 hashed whatever instruction count the field
 * last held, which a REP string instruction cut short by the end of a run cleared: the same machine
 * hashed differently depending on where the host had cut its runs (a debugger's slices, a seek),
 * and a replay reported a divergence that was not one. Its hashes cannot be checked by the new
 * definition, so version 4 is refused too.
 */
export const FORMAT_VERSION = 5;
const CHUNK_HEAD = 8;
/** A chunk longer than this is a corrupt length field, not a real chunk. */
const MAX_CHUNK = 256 * 2 ** 20;

export interface ImageRef {
  /** What the image is to the machine: "boot image", "kernel", "initrd". */
  role: string;
  /** The file name it was read from (for messages; the hash is what counts). */
  name: string;
  size: number;
  sha256: string;
  /** The bytes themselves, in a portable (packed) recording. */
  data?: Uint8Array;
  /** The absolute path it was read from on the machine that recorded (a replay there finds it, checked by its hash). */
  path?: string;
}

export interface HeaderRecord {
  t: "header";
  format: number;
  tool: string;
  node: string;
  /** The command line that made the recording. */
  argv: string[];
  /**
   * kind: absent in recordings made before the stack existed (they are all of the bare machine).
   * timing: absent for the default machine's.
   */
  machine: { ramSize: number; kind?: MachineKind; timing?: MachineTiming };
  guest: { kind: "image" } | { kind: "linux"; cmdline: string };
  images: ImageRef[];
  /** Instructions between state hashes. */
  hashEvery: number;
  /** A chaos run's seed, from which its timing and input delays were chosen (./chaos.ts). */
  seed?: number;
}

/** Something that entered the machine from the host, at the position it was delivered. */
export type InputRecord =
  | { t: "input"; icount: number; ns: number; kind: "console"; data: Uint8Array }
  | { t: "input"; icount: number; ns: number; kind: "rtc"; epochSeconds: number };

export interface HashRecord {
  t: "hash";
  icount: number;
  ns: number;
  hash: string;
}

/**
 * How a run ended. The guest's own ends: it halted for good, rebooted, or (failures) triple
 * faulted, died on an exception it could not take, panicked (a kernel's panic line on its console,
 * then its halt, reboot or silence), or hung (nothing retired and nothing printed for the hang
 * limit of guest time, or halted where nothing could ever wake it). Idle: it waits for console
 * input that will not come. The host's: a limit (--max-insns, --max-time), the user, a host error.
 */
export const END_REASONS = ["halt", "reboot", "triple-fault", "exception", "panic", "hang", "idle", "user-stop", "limit", "host-error"] as const;
export type EndReason = (typeof END_REASONS)[number];

/** The ends that are the guest's failures: what triage explains and chaos keeps. */
export const FAILURE_ENDS: readonly EndReason[] = ["triple-fault", "exception", "panic", "hang"];

export interface EndRecord {
  t: "end";
  icount: number;
  ns: number;
  reason: EndReason;
  hash: string;
  /** One line on the cause: the panic line, what hung, the host error's message, the limit. */
  detail?: string;
}

/** A position the recording run reached (written whenever it flushes): a recording cut short replays at least this far. */
export interface PosRecord {
  t: "pos";
  icount: number;
  ns: number;
}

export type Record = HeaderRecord | InputRecord | HashRecord | EndRecord | ExitsRecord | PosRecord;

/** A recording that cannot be read or used; the message is one line fit for a user. */
export class RecordingError extends Error {
  override name = "RecordingError";
}

const packr = new Packr({ useRecords: false, moreTypes: false });

/** Writes records as chunks to `sink` (e.g. an fd written synchronously), flushing when asked. */
export class RecordingWriter {
  private pending: Record[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly sink: (bytes: Uint8Array) => void,
    header: HeaderRecord,
  ) {
    sink(MAGIC);
    this.pending.push(header);
    this.flush();
  }

  add(r: Record): void {
    this.pending.push(r);
    this.pendingBytes += r.t === "input" && r.kind === "console" ? r.data.length + 16 : r.t === "exits" ? r.data.length + 16 : 24;
    if (this.pendingBytes >= 64 * 1024) this.flush();
  }

  /** Ends the current chunk: everything added so far survives a crash after this returns. */
  flush(): void {
    if (this.pending.length === 0) return;
    const payload = packr.pack(this.pending);
    const head = Buffer.alloc(CHUNK_HEAD);
    head.writeUInt32LE(payload.length, 0);
    head.writeUInt32LE(crc32(payload), 4);
    this.sink(Buffer.concat([head, payload]));
    this.pending = [];
    this.pendingBytes = 0;
  }
}

export interface ReadRecording {
  header: HeaderRecord;
  /** Every record after the header, in order. */
  records: Record[];
  /** Set when the file stops inside a chunk: the byte offset of that chunk. */
  truncatedAt?: number;
  /** The end record, when the recording has one. */
  end?: EndRecord;
}

/** Parses a recording; throws a RecordingError for anything but a clean cut at the end. */
export function readRecording(bytes: Uint8Array, name = "recording"): ReadRecording {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new RecordingError(`${name} is not an afterglow recording (no AGLOWREC signature)`);
  }
  const records: Record[] = [];
  let off = MAGIC.length;
  let truncatedAt: number | undefined;
  let chunk = 0;
  while (off < buf.length) {
    if (buf.length - off < CHUNK_HEAD) {
      truncatedAt = off;
      break;
    }
    const len = buf.readUInt32LE(off);
    const sum = buf.readUInt32LE(off + 4);
    if (len > MAX_CHUNK) throw new RecordingError(`${name} is corrupt: chunk ${chunk} at byte ${off} claims ${len} bytes`);
    if (buf.length - off - CHUNK_HEAD < len) {
      const whole = checksummedLength(buf, off + CHUNK_HEAD, sum);
      if (whole !== undefined) {
        throw new RecordingError(`${name} is corrupt: chunk ${chunk} at byte ${off} claims ${len} bytes, past the file's end, but its checksum holds for its first ${whole}`);
      }
      truncatedAt = off;
      break;
    }
    const payload = buf.subarray(off + CHUNK_HEAD, off + CHUNK_HEAD + len);
    if (crc32(payload) !== sum) throw new RecordingError(`${name} is corrupt: chunk ${chunk} at byte ${off} fails its checksum`);
    let items: unknown;
    try {
      items = packr.unpack(payload);
    } catch {
      throw new RecordingError(`${name} is corrupt: chunk ${chunk} at byte ${off} is not valid msgpack`);
    }
    if (!Array.isArray(items)) throw new RecordingError(`${name} is corrupt: chunk ${chunk} at byte ${off} holds no records`);
    for (const r of items) records.push(checkRecord(r, name, chunk, off));
    off += CHUNK_HEAD + len;
    chunk++;
  }
  const header = records.shift();
  if (header === undefined) throw new RecordingError(`${name} is truncated before its header`);
  if (header.t !== "header") throw new RecordingError(`${name} is corrupt: it does not start with a header`);
  if (records.some((r) => r.t === "header")) throw new RecordingError(`${name} is corrupt: it has a second header`);
  if (records.some((r, i) => r.t === "end" && i !== records.length - 1)) throw new RecordingError(`${name} is corrupt: records follow its end record`);
  if (header.format >= 1 && header.format <= 3) {
    throw new RecordingError(`${name} is format version ${header.format}, which counted a REP string instruction once; record it again with this afterglow (it reads version ${FORMAT_VERSION})`);
  }
  if (header.format === 4) {
    throw new RecordingError(`${name} is format version 4, whose state hashes depended on where runs were cut; record it again with this afterglow (it reads version ${FORMAT_VERSION})`);
  }
  if (header.format !== FORMAT_VERSION) {
    throw new RecordingError(`${name} is format version ${header.format}; this afterglow reads version ${FORMAT_VERSION}`);
  }
  const last = records.at(-1);
  return { header, records, truncatedAt, end: last?.t === "end" ? last : undefined };
}

/**
 * The length of the run of bytes from `start` whose CRC-32 is `sum`, or undefined. A chunk whose
 * length points past the end of the file was either cut off while recording, and then its payload
 * is not all there, or has a damaged length field: then its whole payload, the bytes its checksum
 * holds for, is there, a shorter run than the length says.
 */
function checksummedLength(buf: Buffer, start: number, sum: number): number | undefined {
  // zlib's crc32 goes on from a previous value: one byte at a time, each prefix's checksum.
  let c = 0;
  for (let i = start; i < buf.length; i++) {
    c = crc32(buf.subarray(i, i + 1), c);
    if (c === sum) return i + 1 - start;
  }
  return undefined;
}

const position = { icount: int(), ns: int() };
const HASH = str(/^[0-9a-f]{32}$/, "32 hex digits");
const IMAGE = object(
  { role: oneOf("boot image", "kernel", "initrd"), name: str(), size: int(), sha256: str(/^[0-9a-f]{64}$/, "64 hex digits") },
  { data: bytes, path: str() },
);
const HEADER = object(
  {
    format: int(),
    tool: str(),
    node: str(),
    argv: listOf(str()),
    machine: object({ ramSize: int(1) }, { kind: oneOf("stack", "bare"), timing: timingSchema }),
    guest: variants("kind", { image: object({}), linux: object({ cmdline: str() }) }),
    images: listOf(IMAGE, 3),
    hashEvery: int(1),
  },
  { seed: int(0, 2 ** 32 - 1) },
);
const RECORD: Schema = variants("t", {
  header: (v, path) => {
    // A format this afterglow does not read is reported by its version, not by its fields.
    const f = (v as { format?: unknown }).format;
    return Number.isSafeInteger(f) && f !== FORMAT_VERSION ? undefined : HEADER(v, path);
  },
  input: variants("kind", {
    console: object({ ...position, data: bytes }),
    rtc: object({ ...position, epochSeconds: int(0, 2 ** 33) }),
  }),
  hash: object({ ...position, hash: HASH }),
  end: object({ ...position, reason: oneOf(...END_REASONS), hash: HASH }, { detail: str() }),
  exits: object({ first: int(), count: int(), data: bytes }),
  pos: object(position),
});

function checkRecord(r: unknown, name: string, chunk: number, off: number): Record {
  const problem = RECORD(r, "record");
  if (problem !== undefined) throw new RecordingError(`${name} is corrupt: chunk ${chunk} at byte ${off} holds a malformed record: ${problem}`);
  if ((r as Record).t === "header") {
    const h = r as HeaderRecord;
    const ram = h.format === FORMAT_VERSION ? ramSizeProblem(h.machine.ramSize, h.machine.kind ?? "bare") : undefined;
    if (ram !== undefined) throw new RecordingError(`${name} is corrupt: its header asks for ${h.machine.ramSize} bytes of RAM, and ${ram}`);
  }
  return r as Record;
}

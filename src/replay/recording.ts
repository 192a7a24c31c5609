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

export type { ExitsRecord };

export const MAGIC = Buffer.from("AGLOWREC", "latin1");
/** 2 added VM exits (ExitsRecord); version 1 recordings (bare machine only) still read. */
export const FORMAT_VERSION = 2;
const OLDEST_FORMAT = 1;
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
}

export interface HeaderRecord {
  t: "header";
  format: number;
  tool: string;
  node: string;
  /** The command line that made the recording. */
  argv: string[];
  /** kind: absent in recordings made before the stack existed (they are all of the bare machine). */
  machine: { ramSize: number; kind?: "stack" | "bare" };
  guest: { kind: "image" } | { kind: "linux"; cmdline: string };
  images: ImageRef[];
  /** Instructions between state hashes. */
  hashEvery: number;
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

export type EndReason = "halt" | "reboot" | "triple-fault" | "exception" | "idle" | "user-stop" | "limit" | "host-error";

export interface EndRecord {
  t: "end";
  icount: number;
  ns: number;
  reason: EndReason;
  hash: string;
  /** For "host-error": the message. */
  detail?: string;
}

export type Record = HeaderRecord | InputRecord | HashRecord | EndRecord | ExitsRecord;

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
  if (!(header.format >= OLDEST_FORMAT && header.format <= FORMAT_VERSION)) {
    throw new RecordingError(`${name} is format version ${header.format}; this afterglow reads versions ${OLDEST_FORMAT} to ${FORMAT_VERSION}`);
  }
  const last = records.at(-1);
  return { header, records, truncatedAt, end: last?.t === "end" ? last : undefined };
}

function checkRecord(r: unknown, name: string, chunk: number, off: number): Record {
  const bad = () => new RecordingError(`${name} is corrupt: chunk ${chunk} at byte ${off} holds a malformed record`);
  if (typeof r !== "object" || r === null) throw bad();
  const o = r as { [k: string]: unknown };
  switch (o.t) {
    case "header":
      if (typeof o.format !== "number") throw bad();
      if (o.format >= OLDEST_FORMAT && o.format <= FORMAT_VERSION && !(Array.isArray(o.images) && typeof o.hashEvery === "number" && typeof o.machine === "object")) throw bad();
      return r as HeaderRecord;
    case "input":
    case "hash":
    case "end":
      if (!Number.isSafeInteger(o.icount) || !Number.isSafeInteger(o.ns)) throw bad();
      if (o.t === "input" && o.kind === "console" && !(o.data instanceof Uint8Array)) throw bad();
      if (o.t === "input" && o.kind !== "console" && !(o.kind === "rtc" && typeof o.epochSeconds === "number")) throw bad();
      if (o.t !== "input" && typeof o.hash !== "string") throw bad();
      return r as Record;
    case "exits":
      if (!Number.isSafeInteger(o.first) || !Number.isSafeInteger(o.count) || !(o.data instanceof Uint8Array)) throw bad();
      return r as ExitsRecord;
    default:
      throw bad();
  }
}

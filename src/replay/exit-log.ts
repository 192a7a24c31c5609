// VM exits in a recording: every exit the kernel saw (sequence number, icount, reason,
// qualification, guest EIP), in batches. Consecutive exits are alike — the same few ports, EIPs
// in the same functions, icounts close together — so each is written as differences from the one
// before (icount, EIP) in LEB128 varints, and the batch is deflated. A Linux boot's 55 thousand
// exits take about two bytes each.

import { deflateRawSync, inflateRawSync } from "node:zlib";
import { decodeCrQualification, decodeIoQualification, exitName, ExitReason } from "../l4/api.js";

/** One VM exit as replay checks it. */
export interface ExitEvent {
  /** Sequence number from 0: the exit's place among all exits of the run. */
  n: number;
  icount: number;
  reason: number;
  qualification: number;
  eip: number;
}

const CR_ACCESS_TYPES = ["mov to", "mov from", "clts", "lmsw"];

/** One line for an exit: number, icount, reason and what the qualification says, EIP. */
export function describeExit(e: ExitEvent): string {
  return `#${e.n} icount ${e.icount} ${exitName(e.reason)} ${describeQualification(e)} eip 0x${(e.eip >>> 0).toString(16).padStart(8, "0")}`;
}

/** What an exit's qualification says: the port and direction of an I/O exit, the CR and access of a CR exit, else its value. */
export function describeQualification(e: ExitEvent): string {
  const q = e.qualification >>> 0;
  if (e.reason === ExitReason.IO_INSTRUCTION) {
    const io = decodeIoQualification(q);
    const dir = io.input ? "in" : "out";
    return `${dir}${io.string ? "s" : ""} port 0x${io.port.toString(16)} (${io.size} byte${io.size > 1 ? "s" : ""}${io.rep ? ", rep" : ""})`;
  }
  if (e.reason === ExitReason.CR_ACCESS) {
    const cr = decodeCrQualification(q);
    return `${CR_ACCESS_TYPES[cr.access]} cr${cr.cr}`;
  }
  return `qualification 0x${q.toString(16)}`;
}

/** A batch of exits as a recording stores it. */
export interface ExitsRecord {
  t: "exits";
  /** Sequence number of the batch's first exit. */
  first: number;
  count: number;
  /** Deflated varints: per exit, icount delta, reason, qualification, zigzag EIP delta. */
  data: Uint8Array;
}

/** Exits in batches as they happen. */
export class ExitEncoder {
  /** The batch's varints: `length` bytes of `bytes`, which grows by doubling and is reused. */
  private bytes = new Uint8Array(1024);
  private length = 0;
  private count = 0;
  private first = 0;
  private icount = 0;
  private eip = 0;

  /** Exits recorded so far (the next one's sequence number). */
  get total(): number {
    return this.first + this.count;
  }

  add(icount: number, reason: number, qualification: number, eip: number): void {
    // Room for four varints: 8 bytes for the icount delta (below 2^53), 5 for each of the others.
    if (this.length + 23 > this.bytes.length) {
      const more = new Uint8Array(this.bytes.length * 2);
      more.set(this.bytes.subarray(0, this.length));
      this.bytes = more;
    }
    this.varint(icount - this.icount);
    this.varint(reason);
    this.varint(qualification >>> 0);
    const d = (eip - this.eip) | 0;
    this.varint(((d << 1) ^ (d >> 31)) >>> 0);
    this.icount = icount;
    this.eip = eip >>> 0;
    this.count++;
  }

  get pending(): number {
    return this.count;
  }

  /** The batch so far as a record (null when empty); the next batch continues the differences. */
  take(): ExitsRecord | null {
    if (this.count === 0) return null;
    const r: ExitsRecord = { t: "exits", first: this.first, count: this.count, data: deflateRawSync(this.bytes.subarray(0, this.length)) };
    this.first += this.count;
    this.count = 0;
    this.length = 0;
    return r;
  }

  /** LEB128 of `v` (a non-negative integer below 2^53), shifting while it fits in 31 bits. */
  private varint(v: number): void {
    const b = this.bytes;
    let n = this.length;
    while (v > 0x7fffffff) {
      b[n++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    while (v >= 0x80) {
      b[n++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[n++] = v;
    this.length = n;
  }
}

/** The exits of consecutive batches, in order; throws on a batch that does not decode. */
export function decodeExits(batches: ExitsRecord[]): ExitEvent[] {
  const out: ExitEvent[] = [];
  let icount = 0, eip = 0;
  for (const batch of batches) {
    if (batch.first !== out.length) throw new Error(`exit batch starts at exit ${batch.first}, expected ${out.length}`);
    const b = inflateRawSync(batch.data);
    let i = 0;
    const next = (): number => {
      let v = 0, scale = 1;
      for (;;) {
        if (i >= b.length) throw new Error("exit batch ends inside an exit");
        const byte = b[i++];
        v += (byte & 0x7f) * scale;
        if (byte < 0x80) return v;
        scale *= 0x80;
      }
    };
    for (let k = 0; k < batch.count; k++) {
      icount += next();
      const reason = next();
      const qualification = next();
      const z = next();
      eip = (eip + ((z >>> 1) ^ -(z & 1))) >>> 0;
      out.push({ n: out.length, icount, reason, qualification, eip });
    }
    if (i !== b.length) throw new Error("exit batch has bytes after its last exit");
  }
  return out;
}

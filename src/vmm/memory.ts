// Guest memory as the VMM sees it: guest RAM is mapped into the VMM's own space at a window, and
// the VMM reads and writes it with ordinary memory accesses (src/l4 "read"/"write" requests), one
// system call each. A handler that needs guest memory (string I/O, an instruction to decode, PDPTEs)
// runs against what has been read so far; what is missing is recorded, the handler returns
// "need", the VMM reads it and runs the handler again from the start. So handlers read first and
// change nothing until every read succeeded; their writes are effects done after they finish.
//
// Linear addresses go through the guest's page tables (2-level, PSE, PAE; src/x86/paging.ts's
// walk), read the same way: a table not read yet is MISSING.

import { MISSING, NOT_PRESENT, peekTranslate, type Paging } from "../x86/paging.js";

export class GuestMemory {
  /** Reads the handler asked for that have not been done: [guest-physical address, length]. */
  readonly missing: [number, number][] = [];
  /** Writes the handler made: [guest-physical address, bytes] (done after it finishes). */
  readonly writes: [number, Uint8Array][] = [];

  constructor(
    public ramSize = 0,
    private fetched: readonly (readonly [number, Uint8Array])[] = [],
  ) {}

  /** Starts over with what has been `fetched` so far: nothing missing, nothing written. */
  begin(ramSize: number, fetched: readonly (readonly [number, Uint8Array])[]): void {
    this.ramSize = ramSize;
    this.fetched = fetched;
    if (this.missing.length !== 0) this.missing.length = 0;
    if (this.writes.length !== 0) this.writes.length = 0;
  }

  /**
   * The `len` bytes at guest-physical `gpa`, or null when they are yet to be read (the need is
   * recorded). Bytes beyond RAM read as all ones (nothing answers there).
   */
  read(gpa: number, len: number): Uint8Array | null {
    gpa >>>= 0;
    if (gpa >= this.ramSize) return new Uint8Array(len).fill(0xff);
    const inRam = Math.min(len, this.ramSize - gpa);
    let bytes: Uint8Array | null = null;
    for (const [a, b] of this.fetched) {
      if (gpa >= a && gpa + inRam <= a + b.length) {
        bytes = b.subarray(gpa - a, gpa - a + inRam);
        break;
      }
    }
    if (!bytes) {
      if (!this.missing.some(([a, l]) => a === gpa && l === inRam)) this.missing.push([gpa, inRam]);
      return null;
    }
    if (inRam === len) return bytes;
    const out = new Uint8Array(len).fill(0xff);
    out.set(bytes);
    return out;
  }

  read32(gpa: number): number | null {
    const b = this.read(gpa, 4);
    return b ? (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0 : null;
  }

  /** Records a write (done once the handler finishes); bytes beyond RAM are dropped. */
  write(gpa: number, bytes: Uint8Array): void {
    gpa >>>= 0;
    if (gpa >= this.ramSize) return;
    this.writes.push([gpa, bytes.slice(0, Math.min(bytes.length, this.ramSize - gpa))]);
  }
}

/** A linear access that found a page not present: the linear address to report in CR2. */
export interface PageFault {
  fault: number;
}

/** Reads `len` bytes at linear `lin` (any pages): the bytes, null while reads are missing, or a fault. */
export function readLinear(mem: GuestMemory, p: Paging, lin: number, len: number): Uint8Array | null | PageFault {
  const out = new Uint8Array(len);
  let missing = false;
  for (let done = 0; done < len; ) {
    const a = (lin + done) >>> 0;
    const chunk = Math.min(len - done, 0x1000 - (a & 0xfff));
    const gpa = peekTranslate(mem, p, a);
    if (gpa === NOT_PRESENT) return { fault: a };
    if (gpa === MISSING) missing = true;
    else {
      const b = mem.read(gpa, chunk);
      if (b) out.set(b, done);
      else missing = true;
    }
    done += chunk;
  }
  return missing ? null : out;
}

/** Writes `bytes` at linear `lin`: true once the writes are recorded, null while reads are missing, or a fault. */
export function writeLinear(mem: GuestMemory, p: Paging, lin: number, bytes: Uint8Array): true | null | PageFault {
  const pieces: [number, Uint8Array][] = [];
  let missing = false;
  for (let done = 0; done < bytes.length; ) {
    const a = (lin + done) >>> 0;
    const chunk = Math.min(bytes.length - done, 0x1000 - (a & 0xfff));
    const gpa = peekTranslate(mem, p, a);
    if (gpa === NOT_PRESENT) return { fault: a };
    if (gpa === MISSING) missing = true;
    else pieces.push([gpa, bytes.subarray(done, done + chunk)]);
    done += chunk;
  }
  if (missing) return null;
  for (const [gpa, b] of pieces) mem.write(gpa, b);
  return true;
}

export function isFault(r: unknown): r is PageFault {
  return typeof r === "object" && r !== null && "fault" in r;
}

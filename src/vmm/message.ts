// The VMM's side of the virtualization-fault protocol (src/l4/api.ts, "The virtualization
// extension"): reading a VM exit out of the message registers, and writing the reply that carries
// guest state back, an event to inject, an interrupt-window request and map items.
//
// An exit arrives in one of two forms:
//   vfault           label 0xf800 | reason; MR1 qualification, MR2 instruction length, MR3 the
//                    transfer mask, MR4... the guest-state words it names
//   VM page fault    label PAGE_FAULT | rwx (an EPT violation, sent to the VM's pager); MR1 the
//                    guest-physical address, MR2 guest EIP, then (when a mask is registered for
//                    reason 48) MR3 the mask and MR4... its words
// Both are answered the same way: MR1 the mask of the groups written back, MR2... their words in
// transfer order, then map items.

import {
  ExitReason,
  GuestField,
  Label,
  VfaultMr,
  VmFaultMr,
  VreplyMr,
  XFER_GROUPS,
  XFER_GROUP_FIRST,
  isPageFaultLabel,
  isVfaultLabel,
  itemSndBase,
  msgTag,
  putMapItem,
  tagLabel,
  tagT,
  tagU,
  vfaultLabel,
  vfaultReason,
  xferGroupOf,
  type Fpage,
  type Word,
} from "../l4/api.js";

/** A VM exit as the VMM received it. */
export interface Exit {
  /** The basic exit reason (EPT_VIOLATION for a VM page fault; STARTUP and RECALL are L4's). */
  reason: number;
  /** MR1 of a vfault; for a VM page fault, the access (Rights bits: r 4, w 2, x 1). */
  qualification: number;
  /** Instruction length (0 for a VM page fault). */
  length: number;
  /** Guest-physical address of an EPT violation (else 0). */
  gpa: number;
  /** Which guest-state groups the exit carries. */
  mask: number;
  /**
   * The guest-state words, laid out by `mask`: `words[at]` up to `words[end - 1]`. `words` is the
   * message itself (not copied: nothing changes it while the exit is handled).
   */
  words: ArrayLike<number>;
  at: number;
  end: number;
}

const layouts = new Map<number, Int8Array>();

/** Position of every GuestField in a block of words laid out by `mask` (-1: absent). Pure, memoized. */
export function layoutOf(mask: number): Int8Array {
  let l = layouts.get(mask);
  if (l) return l;
  l = new Int8Array(GuestField.COUNT).fill(-1);
  let i = 0;
  for (let g = 0; g < XFER_GROUPS; g++) {
    if ((mask & (1 << g)) === 0) continue;
    for (let f = XFER_GROUP_FIRST[g]; f < XFER_GROUP_FIRST[g + 1]; f++) l[f] = i++;
  }
  layouts.set(mask, l);
  return l;
}

/** An Exit to fill in (parseExit's `into`). */
export function emptyExit(): Exit {
  return { reason: 0, qualification: 0, length: 0, gpa: 0, mask: 0, words: [], at: 0, end: 0 };
}

/**
 * Reads a vfault or VM page fault out of MR0...; null for any other message. Fills `into` when
 * given (the VMM's one Exit, reused for every message: nothing keeps an exit past its handling).
 */
export function parseExit(mr: ArrayLike<number>, into: Exit = emptyExit()): Exit | null {
  const tag = mr[0];
  const label = tagLabel(tag);
  const u = tagU(tag);
  const x = into;
  if (isVfaultLabel(label)) {
    x.reason = vfaultReason(label);
    x.qualification = mr[VfaultMr.QUALIFICATION] >>> 0;
    x.length = mr[VfaultMr.INSTRUCTION_LENGTH] >>> 0;
    x.gpa = 0;
    x.mask = mr[VfaultMr.MASK] >>> 0;
    x.words = mr;
    x.at = VfaultMr.STATE;
    x.end = Math.max(VfaultMr.STATE, 1 + u);
    return x;
  }
  if (isPageFaultLabel(label)) {
    const mask = u >= 3 ? mr[VmFaultMr.MASK] >>> 0 : 0;
    x.reason = ExitReason.EPT_VIOLATION;
    x.qualification = label & 7;
    x.length = 0;
    x.gpa = mr[VmFaultMr.ADDRESS] >>> 0;
    x.mask = mask;
    x.words = mr;
    x.at = VmFaultMr.STATE;
    x.end = mask ? Math.max(VmFaultMr.STATE, 1 + u) : VmFaultMr.STATE;
    // MR2 is guest EIP even when no mask was registered.
    if (!(mask & (1 << xferGroupOf(GuestField.EIP)))) {
      x.mask = mask | (1 << xferGroupOf(GuestField.EIP));
      const l = layoutOf(x.mask);
      const s: number[] = new Array<number>(x.end - x.at + 1).fill(0);
      const old = layoutOf(mask);
      for (let f = 0; f < GuestField.COUNT; f++) if (old[f] >= 0 && old[f] < x.end - x.at) s[l[f]] = mr[x.at + old[f]] >>> 0;
      s[l[GuestField.EIP]] = mr[VmFaultMr.IP] >>> 0;
      x.words = s;
      x.at = 0;
      x.end = s.length;
    }
    return x;
  }
  return null;
}

/**
 * Message registers [from, to) as a plain array, for an exit's words and the VMM's state (its job
 * and its outbox): a typed array of this size lives outside V8's heap and is slow to make, and
 * there is one per exit.
 */
export function mrWords(mr: ArrayLike<number>, from: number, to: number): number[] {
  // Sized once: pushing would grow the array (and copy it) several times for a long exit.
  const out = new Array<number>(Math.max(0, to - from));
  for (let i = from; i < to; i++) out[i - from] = mr[i] >>> 0;
  return out;
}

export function hasField(x: Exit, f: GuestField): boolean {
  const i = layoutOf(x.mask)[f];
  return i >= 0 && x.at + i < x.end;
}

/** A guest-state word of the exit; throws when the mask did not carry it (a VMM bug). */
export function fieldOf(x: Exit, f: GuestField): number {
  const i = layoutOf(x.mask)[f];
  if (i < 0 || x.at + i >= x.end) throw new Error(`vmm: exit ${x.reason} carries no guest field ${f} (mask 0x${x.mask.toString(16)})`);
  return x.words[x.at + i] >>> 0;
}

/**
 * A reply under construction: the guest-state words to write back (whole groups: fields a
 * handler did not set are taken from the exit, which must have carried them) and map items.
 */
export class Reply {
  mask = 0;
  // The words set, by GuestField, and which are set (listed too, so that clearing touches only
  // those): made once per VMM and cleared for each exit, not made per exit.
  private readonly values = new Uint32Array(GuestField.COUNT);
  private readonly isSet = new Uint8Array(GuestField.COUNT);
  private readonly setList = new Uint8Array(GuestField.COUNT);
  private setCount = 0;
  /** Map items: [fpage in the VMM's space, send base (the guest-physical address)]. */
  readonly items: [Fpage, Word][] = [];

  /** Empty again, for the next exit. */
  clear(): void {
    for (let i = 0; i < this.setCount; i++) this.isSet[this.setList[i]] = 0;
    this.setCount = 0;
    this.mask = 0;
    if (this.items.length !== 0) this.items.length = 0;
  }

  set(f: GuestField, value: number): void {
    this.mask |= 1 << xferGroupOf(f);
    this.values[f] = value;
    if (this.isSet[f] === 0) {
      this.isSet[f] = 1;
      this.setList[this.setCount++] = f;
    }
  }

  has(f: GuestField): boolean {
    return this.isSet[f] !== 0;
  }

  get(f: GuestField): number {
    return this.values[f];
  }

  map(f: Fpage, sndBase: Word): void {
    this.items.push([f, sndBase]);
  }

  /** Writes the reply into MR0...; returns the number of registers used. */
  encode(mr: Uint32Array, x: Exit | null): number {
    let i = VreplyMr.STATE;
    if (this.mask !== 0) {
      mr[VreplyMr.MASK] = this.mask;
      for (let g = 0; g < XFER_GROUPS; g++) {
        if ((this.mask & (1 << g)) === 0) continue;
        for (let f = XFER_GROUP_FIRST[g]; f < XFER_GROUP_FIRST[g + 1]; f++) {
          mr[i++] = this.isSet[f] !== 0 ? this.values[f] : x ? fieldOf(x, f) : missing(f);
        }
      }
    } else i = 1;
    const u = i - 1;
    for (let k = 0; k < this.items.length; k++) i = putMapItem(mr, i, this.items[k][0], this.items[k][1]);
    mr[0] = msgTag(0, u, i - 1 - u);
    return i;
  }
}

function missing(f: GuestField): never {
  throw new Error(`vmm: a reply writes the group of guest field ${f} without its value`);
}

// ------------------------------------------------------------------------------------------------
// Building and reading messages by hand: for tests, and for anyone checking what the VMM said.

export interface ExitSpec {
  qualification?: number;
  length?: number;
  /** The transfer mask; default: the groups of the fields given. */
  mask?: number;
  fields?: Partial<Record<GuestField, number>>;
}

function fieldsMask(fields: Partial<Record<GuestField, number>>): number {
  let m = 0;
  for (const k of Object.keys(fields)) m |= 1 << xferGroupOf(Number(k) as GuestField);
  return m;
}

function stateWords(mask: number, fields: Partial<Record<GuestField, number>>): number[] {
  const out: number[] = [];
  for (let g = 0; g < XFER_GROUPS; g++) {
    if ((mask & (1 << g)) === 0) continue;
    for (let f = XFER_GROUP_FIRST[g]; f < XFER_GROUP_FIRST[g + 1]; f++) out.push((fields[f as GuestField] ?? 0) >>> 0);
  }
  return out;
}

/** The message registers of a vfault, laid out as the kernel sends it. */
export function vfaultMessage(reason: number, spec: ExitSpec = {}): Uint32Array {
  const fields = spec.fields ?? {};
  const mask = spec.mask ?? fieldsMask(fields);
  const words = stateWords(mask, fields);
  const mr = new Uint32Array(64);
  mr[VfaultMr.QUALIFICATION] = spec.qualification ?? 0;
  mr[VfaultMr.INSTRUCTION_LENGTH] = spec.length ?? 0;
  mr[VfaultMr.MASK] = mask;
  mr.set(words, VfaultMr.STATE);
  mr[0] = msgTag(vfaultLabel(reason), 3 + words.length, 0);
  return mr;
}

/** The message registers of an EPT violation sent to the pager (`access`: Rights bits). */
export function vmFaultMessage(gpa: number, access: number, eip: number, spec: Omit<ExitSpec, "qualification" | "length"> = {}): Uint32Array {
  const fields = spec.fields ?? {};
  const mask = spec.mask ?? fieldsMask(fields);
  const mr = new Uint32Array(64);
  mr[VmFaultMr.ADDRESS] = gpa;
  mr[VmFaultMr.IP] = eip;
  let u = 2;
  if (mask) {
    const words = stateWords(mask, { ...fields, [GuestField.EIP]: fields[GuestField.EIP] ?? eip });
    mr[VmFaultMr.MASK] = mask;
    mr.set(words, VmFaultMr.STATE);
    u = 3 + words.length;
  }
  mr[0] = msgTag(Label.PAGE_FAULT | (access & 7), u, 0);
  return mr;
}

export interface DecodedReply {
  mask: number;
  /** The words written back, by GuestField. */
  fields: Partial<Record<GuestField, number>>;
  items: { fpage: Fpage; sndBase: Word }[];
}

/** Reads a reply out of MR0... (the inverse of Reply.encode). */
export function decodeReply(mr: ArrayLike<number>): DecodedReply {
  const u = tagU(mr[0]);
  const t = tagT(mr[0]);
  const out: DecodedReply = { mask: 0, fields: {}, items: [] };
  if (u >= 1) {
    out.mask = mr[VreplyMr.MASK] >>> 0;
    let i = VreplyMr.STATE;
    for (let g = 0; g < XFER_GROUPS && i <= u; g++) {
      if ((out.mask & (1 << g)) === 0) continue;
      for (let f = XFER_GROUP_FIRST[g]; f < XFER_GROUP_FIRST[g + 1] && i <= u; f++) out.fields[f as GuestField] = mr[i++] >>> 0;
    }
  }
  for (let i = 1 + u; i < 1 + u + t; i += 2) out.items.push({ sndBase: itemSndBase(mr[i]), fpage: mr[i + 1] >>> 0 });
  return out;
}

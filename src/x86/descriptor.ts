// Segment descriptors as the GDT and LDT hold them (SDM vol. 3, 3.4.5 and 3.5): how a descriptor's
// two doublewords give base, limit and attributes. The attribute word is descriptor bytes 5-6 with
// the limit nibble masked out, which is also the layout of VMX access rights (bits 0-15).

/** Attribute bits of a descriptor (and of VMX access rights). */
export const enum DescAttr {
  /** Type field bits 0-3: accessed, writable/readable, expand-down/conforming, code. */
  ACCESSED = 0x1, RW = 0x2, DC = 0x4, CODE = 0x8,
  /** S: code/data (1) or system (0). */
  S = 0x10,
  DPL_SHIFT = 5, DPL = 0x60,
  P = 0x80,
  /** Available for system software. */
  AVL = 0x1000,
  /** D/B: 32-bit code or stack. */
  DB = 0x4000,
  G = 0x8000,
}

/** Base address of a segment descriptor, as an int32. */
export function descBase(lo: number, hi: number): number {
  return ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) | 0;
}

/** Limit of a segment descriptor in bytes (granularity applied), as a uint32. */
export function descLimit(lo: number, hi: number): number {
  const raw = (lo & 0xffff) | (hi & 0xf0000);
  return (hi & (1 << 23)) !== 0 ? ((raw << 12) | 0xfff) >>> 0 : raw;
}

/** Attributes (descriptor bytes 5-6 without the limit nibble), in the layout of DescAttr. */
export function descAttr(hi: number): number {
  return (hi >>> 8) & 0xf0ff;
}

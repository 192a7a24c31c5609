// IA32 paging as data (SDM vol. 3, 2.5 and chapter 4): the control-register bits, the bits of a
// paging-structure entry, and the walk a debugger or a VMM does to find where a guest-linear
// address is: 2-level (with PSE) or PAE, checking presence only and setting no accessed or dirty
// bits. The CPU's own walk (src/machine/cpu/mmu.ts) checks rights, reserved bits and sets A/D as
// hardware does, and reads PAE's PDPTEs from its registers; it uses these bit names too.

/** CR0 bits. */
export const enum Cr0 {
  PE = 1 << 0, MP = 1 << 1, EM = 1 << 2, TS = 1 << 3, ET = 1 << 4, NE = 1 << 5,
  WP = 1 << 16, AM = 1 << 18, NW = 1 << 29, CD = 1 << 30, PG = 0x80000000,
}

/** CR4 bits. */
export const enum Cr4 {
  VME = 1 << 0, PVI = 1 << 1, TSD = 1 << 2, DE = 1 << 3, PSE = 1 << 4, PAE = 1 << 5, MCE = 1 << 6,
  PGE = 1 << 7, PCE = 1 << 8, OSFXSR = 1 << 9, OSXMMEXCPT = 1 << 10, VMXE = 1 << 13,
}

/** Bits of a paging-structure entry (the low doubleword of a PAE one). */
export const enum Pte {
  P = 1 << 0, RW = 1 << 1, US = 1 << 2, PWT = 1 << 3, PCD = 1 << 4, A = 1 << 5, D = 1 << 6,
  /** In a PDE: the entry maps a 4 MiB (2 MiB under PAE) page. */
  PS = 1 << 7,
  G = 1 << 8,
}

/** The registers a walk reads. */
export interface Paging {
  cr0: number;
  cr3: number;
  cr4: number;
}

/** Physical memory as a peek walk reads it: a doubleword, or null where it cannot be read yet. */
export interface TableReader {
  read32(paddr: number): number | null;
}

/** A walk that found a non-present entry: the access would #PF. */
export const NOT_PRESENT = -1;
/** A walk that could not finish: a paging-structure entry could not be read. */
export const MISSING = -2;

/**
 * The physical address of linear `lin` through the page tables `p` names: a number, NOT_PRESENT
 * or MISSING. PAE's PDPTEs are read from the PDPT that CR3 names. Nothing is written.
 */
export function peekTranslate(mem: TableReader, p: Paging, lin: number): number {
  lin >>>= 0;
  if ((p.cr0 & Cr0.PG) === 0) return lin;
  if ((p.cr4 & Cr4.PAE) !== 0) {
    const pdpte = mem.read32(((p.cr3 & 0xffffffe0) + (lin >>> 30) * 8) >>> 0);
    if (pdpte === null) return MISSING;
    if ((pdpte & Pte.P) === 0) return NOT_PRESENT;
    const pde = mem.read32(((pdpte & 0xfffff000) + ((lin >>> 21) & 0x1ff) * 8) >>> 0);
    if (pde === null) return MISSING;
    if ((pde & Pte.P) === 0) return NOT_PRESENT;
    if ((pde & Pte.PS) !== 0) return ((pde & 0xffe00000) | (lin & 0x1fffff)) >>> 0;
    const pte = mem.read32(((pde & 0xfffff000) + ((lin >>> 12) & 0x1ff) * 8) >>> 0);
    if (pte === null) return MISSING;
    if ((pte & Pte.P) === 0) return NOT_PRESENT;
    return ((pte & 0xfffff000) | (lin & 0xfff)) >>> 0;
  }
  const pde = mem.read32(((p.cr3 & 0xfffff000) + (lin >>> 22) * 4) >>> 0);
  if (pde === null) return MISSING;
  if ((pde & Pte.P) === 0) return NOT_PRESENT;
  if ((pde & Pte.PS) !== 0 && (p.cr4 & Cr4.PSE) !== 0) return ((pde & 0xffc00000) | (lin & 0x3fffff)) >>> 0;
  const pte = mem.read32(((pde & 0xfffff000) + ((lin >>> 12) & 0x3ff) * 4) >>> 0);
  if (pte === null) return MISSING;
  if ((pte & Pte.P) === 0) return NOT_PRESENT;
  return ((pte & 0xfffff000) | (lin & 0xfff)) >>> 0;
}

/**
 * A present PAE PDPTE with reserved bits set: 2:1 or 8:5 of its low doubleword, or any of its
 * high one (frames below 4 GiB). Loading one (MOV to CR0, CR3 or CR4, VM entry) fails.
 */
export function pdpteReserved(lo: number, hi: number): boolean {
  return (lo & Pte.P) !== 0 && ((lo & 0x1e6) !== 0 || hi !== 0);
}

// Linear → physical translation: 32-bit two-level paging with 4 KiB pages and PSE 4 MiB pages,
// U/S and R/W protection with CR0.WP, accessed/dirty bits, and #PF with its error code and CR2.
// A software TLB caches translations per linear page, separately for supervisor/user and for
// reads/writes, so the walk runs once per page until CR3, CR0, CR4 or INVLPG invalidates it.
// PAE, NX and global pages come with the next issue.

import type { PhysMem } from "../memory.js";

const PTE_P = 1, PTE_RW = 2, PTE_US = 4, PTE_A = 0x20, PTE_D = 0x40, PTE_PS = 0x80;

/** #PF error-code bits. */
export const enum PfErr { P = 1, W = 2, U = 4 }

/** What the MMU needs from the CPU: control registers and a way to fault. */
export interface MmuHost {
  cr0: number;
  cr3: number;
  cr4: number;
  cr2: number;
  cpl: number;
  /** Raises #PF with `code`; does not return. */
  pageFault(code: number): never;
}

/**
 * TLB entry encoding: (physical page base) | 1, or 0 when absent. Kept per linear page number in
 * four tables: supervisor read, supervisor write, user read, user write.
 */
export class Mmu {
  private readonly tlb = [new Int32Array(1 << 20), new Int32Array(1 << 20), new Int32Array(1 << 20), new Int32Array(1 << 20)];
  /** Linear pages with any TLB entry, so a flush touches only those. */
  private readonly filled: number[] = [];
  /** True when CR0.PG is set: the CPU tests this before translating. */
  enabled = false;
  /** Counts invalidations, so holders of a translation (the CPU's fetch path) can tell it is stale. */
  generation = 0;

  constructor(private readonly host: MmuHost, private readonly mem: PhysMem) {}

  /** CR0, CR3 or CR4 changed: forget every translation. */
  changed(): void {
    this.enabled = (this.host.cr0 & 0x80000000) !== 0;
    this.generation++;
    for (const p of this.filled) for (const t of this.tlb) t[p] = 0;
    this.filled.length = 0;
  }

  /** INVLPG: forget the translation of one linear address. */
  invalidate(lin: number): void {
    const p = lin >>> 12;
    for (const t of this.tlb) t[p] = 0;
    this.generation++;
  }

  /** Physical address of linear `lin` for an access by the current privilege level. */
  translate(lin: number, write: boolean): number {
    const user = this.host.cpl === 3;
    const which = (user ? 2 : 0) | (write ? 1 : 0);
    const page = lin >>> 12;
    const e = this.tlb[which][page];
    if (e !== 0) return ((e & ~0xfff) | (lin & 0xfff)) >>> 0;
    const phys = this.walk(lin, write, user);
    this.tlb[which][page] = (phys & ~0xfff) | 1;
    this.filled.push(page);
    return phys;
  }

  /** Translation for a debugger or loader: no faults, no A/D updates; -1 when unmapped. */
  peek(lin: number): number {
    const mem = this.mem;
    const pdeAddr = ((this.host.cr3 & ~0xfff) + ((lin >>> 22) << 2)) >>> 0;
    const pde = mem.read32(pdeAddr);
    if ((pde & PTE_P) === 0) return -1;
    if ((pde & PTE_PS) !== 0 && (this.host.cr4 & 0x10) !== 0) return ((pde & 0xffc00000) | (lin & 0x3fffff)) >>> 0;
    const pte = mem.read32(((pde & ~0xfff) + (((lin >>> 12) & 0x3ff) << 2)) >>> 0);
    if ((pte & PTE_P) === 0) return -1;
    return ((pte & ~0xfff) | (lin & 0xfff)) >>> 0;
  }

  private walk(lin: number, write: boolean, user: boolean): number {
    const host = this.host, mem = this.mem;
    const err = (write ? PfErr.W : 0) | (user ? PfErr.U : 0);
    const pdeAddr = ((host.cr3 & ~0xfff) + ((lin >>> 22) << 2)) >>> 0;
    const pde = mem.read32(pdeAddr);
    if ((pde & PTE_P) === 0) this.fault(lin, err);
    const wp = (host.cr0 & 0x10000) !== 0;
    if ((pde & PTE_PS) !== 0 && (host.cr4 & 0x10) !== 0) {
      this.check(lin, pde, write, user, wp, err);
      const want = pde | PTE_A | (write ? PTE_D : 0);
      if (want !== pde) mem.write32(pdeAddr, want);
      return ((pde & 0xffc00000) | (lin & 0x3fffff)) >>> 0;
    }
    const pteAddr = ((pde & ~0xfff) + (((lin >>> 12) & 0x3ff) << 2)) >>> 0;
    const pte = mem.read32(pteAddr);
    if ((pte & PTE_P) === 0) this.fault(lin, err);
    // Both levels must allow the access.
    this.check(lin, pde & pte, write, user, wp, err);
    if ((pde & PTE_A) === 0) mem.write32(pdeAddr, pde | PTE_A);
    const want = pte | PTE_A | (write ? PTE_D : 0);
    if (want !== pte) mem.write32(pteAddr, want);
    return ((pte & ~0xfff) | (lin & 0xfff)) >>> 0;
  }

  private check(lin: number, rights: number, write: boolean, user: boolean, wp: boolean, err: number): void {
    if (user && (rights & PTE_US) === 0) this.fault(lin, err | PfErr.P);
    if (write && (rights & PTE_RW) === 0 && (user || wp)) this.fault(lin, err | PfErr.P);
  }

  private fault(lin: number, code: number): never {
    this.host.cr2 = lin;
    return this.host.pageFault(code);
  }
}

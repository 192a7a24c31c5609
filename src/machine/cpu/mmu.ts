// Linear → physical translation (SDM vol. 3, chapter 4): 32-bit two-level paging with 4 KiB pages
// and PSE 4 MiB pages, PAE three-level paging with 2 MiB pages and the execute-disable bit
// (EFER.NXE), global pages (CR4.PGE), U/S and R/W protection with CR0.WP, accessed/dirty bits,
// reserved-bit checks, and #PF with its error code and CR2.
//
// A software TLB caches one entry per linear 4 KiB page and privilege (supervisor, user): one
// Int32Array, the supervisor entries first and the user entries USER_HALF above them, indexed by
// `(lin >>> 12) | user`. An entry is the physical page base with permission bits in its low 12
// bits (Tlb.*): an access hits when its bit is set, so a hit is one typed-array load and one test.
// A write is allowed by the entry only once the dirty bit is set in memory, so the first write to
// a clean page walks again. Only pages of RAM are entered, so a hit may index RAM's typed arrays
// with no bounds check (the CPU's memory fast paths do). With paging off the TLB holds identity
// translations, so the fast paths need not ask whether paging is on.
// Pages holding an enabled data breakpoint are never entered, so every access to them comes through
// the walk, which checks the breakpoints (./debug.ts); for that the MMU also translates — as the
// identity — with paging off while data breakpoints are enabled (`enabled` is then true).
//
// Physical addresses are 32 bits: our RAM is below 4 GiB, so PAE entries naming frames at or above
// 4 GiB are treated as having reserved bits set (#PF with RSVD), and PDPTEs as invalid (#GP on the
// MOV to CR3/CR0/CR4 that loads them).

import type { PhysMem } from "../memory.js";
import { Cr0, Cr4, Pte, pdpteReserved } from "../../x86/paging.js";
import { Efer } from "../../x86/msr.js";

/** #PF error-code bits. */
export const enum PfErr { P = 1, W = 2, U = 4, RSVD = 8, ID = 0x10 }

/** Kinds of access. */
export const enum Access { READ = 0, WRITE = 1, EXEC = 2 }

/** Permission and bookkeeping bits of a TLB entry (the page base is in bits 31:12). */
export const enum Tlb { R = 1, W = 2, X = 4, G = 8, LARGE = 0x10 }

/** Offset of the user entries in the TLB array (and the value of `Mmu.user` at CPL 3). */
export const USER_HALF = 1 << 20;

/** Data-breakpoint slots of the guest: DR0–DR3's. */
export const GUEST_WATCHES = 4;
/** The `hits` bit for the host debugger's watchpoints (bits 0–3 are DR0–DR3's); `hostHit` says which. */
export const HOST_WATCH_HIT = 1 << GUEST_WATCHES;


/**
 * The TLB and the PDPTE registers as plain data (Mmu.saveTlb): `entries` holds, for each linear
 * page on the local list and then the global one, the page and its supervisor and user entries.
 */
export interface TlbState {
  local: number;
  entries: Int32Array;
  large: boolean;
  pdpte: number[];
}

/** Reserved bits of a 2 MiB PAE PDE (low dword): 20:13. */
const PDE2M_RSVD_LO = 0x1fe000;
/** Reserved bits of a 4 MiB PDE without PSE-36: 21:13. */
const PDE4M_RSVD = 0x3fe000;

/** Memory as the page walk reads and writes it: RAM, or guest-physical memory through EPT. */
export interface WalkMem {
  read32(addr: number): number;
  write32(addr: number, v: number): void;
}

/**
 * VMX non-root operation with EPT (./vmx.ts): every guest-physical address — the walk's own
 * accesses through `walkMem`, and the final one through `translate` — goes through the EPT, and
 * the TLB holds the combined translation with the rights both allow. Either may end the
 * instruction with a VM exit (EPT violation or misconfiguration).
 */
export interface GuestPhys {
  readonly walkMem: WalkMem;
  /** Host-physical address of guest-physical `gpa` for `access` at linear `lin`; sets `perm` (Tlb R/W/X bits the EPT allows). */
  translate(gpa: number, access: Access, lin: number): number;
  perm: number;
  /** The linear address being translated, set before the walk (the exit reports it). */
  lin: number;
}

/** What the MMU needs from the CPU: control registers and a way to fault. */
export interface MmuHost {
  cr0: number;
  cr3: number;
  cr4: number;
  cr2: number;
  cpl: number;
  efer: number;
  /** Raises #PF with `code`; does not return. */
  pageFault(code: number): never;
  /** Some translations were dropped (holders of one, like the CPU's fetch path, must look again). */
  tlbFlushed(): void;
  /** An access matched a data breakpoint (`hits` says which). */
  watchHit(): void;
}

/** The TLB is dropped and rebuilt after this many fills without a full flush (INVLPG refills). */
const FILLED_CAP = 1 << 17;

export class Mmu {
  /** Supervisor entries per linear page number, then (at USER_HALF) the user entries. */
  readonly tlb = new Int32Array(2 * USER_HALF);
  /** USER_HALF at CPL 3, else 0: the half of the TLB the current privilege uses (the CPU sets it with CPL). */
  user = 0;
  /** RAM pages: only these are entered in the TLB. */
  private readonly ramPages: number;
  // Linear pages that may hold a non-global (`local`) or a global entry, so a flush touches only
  // those and a CR3 write only the first; `listed` marks each page's lists (bit 0 local, 1 global).
  // Arrays of FILLED_CAP with counts, not growing lists: a VM exit and entry flush each (no VPID),
  // and a flush allocates nothing.
  private readonly local = new Int32Array(FILLED_CAP);
  private readonly global = new Int32Array(FILLED_CAP);
  private nLocal = 0;
  private nGlobal = 0;
  private readonly listed = new Uint8Array(USER_HALF);
  /** Some entry came from a large page since the last full flush (INVLPG must drop its whole range). */
  private largeFilled = false;
  /** The four PDPTE registers of PAE paging, low and high doublewords. */
  readonly pdpte = new Int32Array(8);
  /** True when linear addresses need translating: CR0.PG set, or data breakpoints enabled. */
  enabled = false;
  /** Counts invalidations, so holders of a translation (the CPU's fetch path) can tell it is stale. */
  generation = 0;

  // Data breakpoints: slots 0–3 from DR0–DR3/DR7 (set by ./debug.ts), then any number of the host
  // debugger's (never guest state). Linear start, length, and what is watched as a mask (1 = writes,
  // 2 = reads: DR7's 1 = write-only and 3 = read/write); `hits` collects bit k for guest slot k
  // (DR6's B0–B3) and HOST_WATCH_HIT for host watchpoints, which `hostHits` lists.
  readonly watchLin = new Int32Array(GUEST_WATCHES);
  readonly watchLen = new Int32Array(GUEST_WATCHES);
  readonly watchRw = new Int32Array(GUEST_WATCHES);
  private hostLin = new Int32Array(0);
  private hostLen = new Int32Array(0);
  private hostRw = new Int32Array(0);
  /** Linear pages some host watchpoint covers (one may span several). */
  private hostPages = new Set<number>();
  /** Enabled data breakpoints, guest's and host's. */
  watchCount = 0;
  hits = 0;
  /** With HOST_WATCH_HIT in `hits`: the indexes of the host watchpoints the instruction touched. */
  readonly hostHits: number[] = [];

  /** What the walk reads tables through: RAM, or the guest-physical view under EPT. */
  private mem: WalkMem;
  /** EPT in VMX non-root operation (see GuestPhys), else null. */
  private ept: GuestPhys | null = null;

  constructor(private readonly host: MmuHost, private readonly ram: PhysMem) {
    this.ramPages = ram.size >>> 12;
    this.mem = ram;
  }

  /** VM entry with EPT (or exit: null): translate through it from now on; flushes the TLB. */
  setEpt(ept: GuestPhys | null): void {
    this.ept = ept;
    this.mem = ept !== null ? ept.walkMem : this.ram;
    this.changed();
  }

  private get paged(): boolean {
    return (this.host.cr0 & Cr0.PG) !== 0;
  }

  private get pae(): boolean {
    return (this.host.cr4 & Cr4.PAE) !== 0;
  }

  /**
   * CR0, CR4 or EFER changed (or a snapshot was restored): forget every translation, global ones
   * included, and reload the PDPTEs when PAE paging is on (SDM 4.4.1).
   */
  changed(): void {
    this.enabled = this.paged || this.watchCount > 0 || this.ept !== null;
    if (this.paged && this.pae) this.loadPdptes(this.host.cr3);
    this.flushAll();
  }

  /** MOV to CR3 (or a task switch): reload the PDPTEs under PAE, forget non-global translations. */
  cr3Changed(): void {
    if (this.paged && this.pae) this.loadPdptes(this.host.cr3);
    if ((this.host.cr4 & Cr4.PGE) === 0) return this.flushAll();
    this.generation++;
    this.host.tlbFlushed();
    const t = this.tlb, listed = this.listed, local = this.local;
    for (let k = 0; k < this.nLocal; k++) {
      const p = local[k], q = p | USER_HALF;
      if ((t[p] & Tlb.G) === 0) t[p] = 0;
      if ((t[q] & Tlb.G) === 0) t[q] = 0;
      listed[p] &= ~1;
    }
    this.nLocal = 0;
  }

  /** Forgets every translation. */
  flushAll(): void {
    this.generation++;
    this.host.tlbFlushed();
    const t = this.tlb, listed = this.listed;
    if (this.nLocal + this.nGlobal >= FILLED_CAP) {
      t.fill(0);
      listed.fill(0);
    } else {
      this.forget(this.local, this.nLocal);
      this.forget(this.global, this.nGlobal);
    }
    this.nLocal = 0;
    this.nGlobal = 0;
    this.largeFilled = false;
  }

  /** Clears both halves' entries of the first `n` pages in `pages`, and their listing. */
  private forget(pages: Int32Array, n: number): void {
    const t = this.tlb, listed = this.listed;
    for (let k = 0; k < n; k++) {
      const p = pages[k];
      t[p] = t[p | USER_HALF] = 0;
      listed[p] = 0;
    }
  }

  /**
   * What the TLB holds, and the PDPTEs, as plain data. A snapshot carries them (Pc.save): a
   * restored machine must find cached what the saved one had, not walk again, because a walk
   * sets accessed bits a hit does not and reads page tables the guest may have changed since
   * without invalidating (the SDM allows both; Linux clears accessed bits without INVLPG), and
   * the PDPTEs are loaded with CR3, not read again.
   */
  saveTlb(): TlbState {
    const t = this.tlb, entries = new Int32Array(3 * (this.nLocal + this.nGlobal));
    let n = 0, local = 0;
    const put = (pages: Int32Array, count: number): void => {
      for (let k = 0; k < count; k++) {
        const p = pages[k];
        if ((t[p] | t[p | USER_HALF]) === 0) continue; // dropped by INVLPG since it was listed
        entries[n++] = p;
        entries[n++] = t[p];
        entries[n++] = t[p | USER_HALF];
      }
    };
    put(this.local, this.nLocal);
    local = n / 3;
    put(this.global, this.nGlobal);
    return { local, entries: entries.slice(0, n), large: this.largeFilled, pdpte: Array.from(this.pdpte) };
  }

  /**
   * Puts back saveTlb's TLB and PDPTEs, after whatever else the restore flushed. Pages a data
   * breakpoint now watches stay out, as a fill would leave them.
   */
  restoreTlb(s: TlbState): void {
    this.flushAll();
    this.pdpte.set(s.pdpte);
    const t = this.tlb, e = s.entries;
    for (let k = 0; k < e.length; k += 3) {
      const page = e[k];
      if (this.watchCount > 0 && this.watched(page)) continue;
      t[page] = e[k + 1];
      t[page | USER_HALF] = e[k + 2];
      const list = k / 3 < s.local ? 1 : 2;
      if ((this.listed[page] & list) !== 0) continue;
      this.listed[page] |= list;
      if (list === 2) this.global[this.nGlobal++] = page;
      else this.local[this.nLocal++] = page;
    }
    this.largeFilled = s.large;
  }

  /** INVLPG: forget the translation of one linear address (the whole large page it lies in, if any). */
  invalidate(lin: number): void {
    const p = lin >>> 12;
    const t = this.tlb;
    t[p] = t[p | USER_HALF] = 0;
    if (this.largeFilled) {
      const n = this.pae ? 512 : 1024;
      const first = p & ~(n - 1);
      for (let q = first; q < first + n; q++) {
        if ((t[q] & Tlb.LARGE) !== 0) t[q] = 0;
        if ((t[q | USER_HALF] & Tlb.LARGE) !== 0) t[q | USER_HALF] = 0;
      }
    }
    this.generation++;
    this.host.tlbFlushed();
  }

  /**
   * True when `cr3` names a PDPT whose present entries have no reserved bits: MOV to CR3 (and to
   * CR0/CR4 when they turn PAE paging on) raises #GP(0) otherwise.
   */
  pdptesValid(cr3: number): boolean {
    const base = (cr3 & ~0x1f) >>> 0;
    for (let k = 0; k < 4; k++) {
      const lo = this.mem.read32(base + 8 * k), hi = this.mem.read32(base + 8 * k + 4);
      if (pdpteReserved(lo, hi)) return false;
    }
    return true;
  }

  private loadPdptes(cr3: number): void {
    const base = (cr3 & ~0x1f) >>> 0;
    for (let k = 0; k < 8; k++) this.pdpte[k] = this.mem.read32(base + 4 * k);
  }

  // ------------------------------------------------------------------------------------------
  // The hot path

  /**
   * Physical address of linear `lin` for a data access of `size` bytes (within one page) at the
   * current privilege level.
   */
  translate(lin: number, write: boolean, size = 1): number {
    const e = this.tlb[(lin >>> 12) | this.user];
    if ((e & (write ? Tlb.W : Tlb.R)) !== 0) return ((e & ~0xfff) | (lin & 0xfff)) >>> 0;
    return this.miss(lin, write ? Access.WRITE : Access.READ, this.user !== 0, size);
  }

  /** Physical address of linear `lin` for an instruction fetch at the current privilege level. */
  translateExec(lin: number): number {
    const e = this.tlb[(lin >>> 12) | this.user];
    if ((e & Tlb.X) !== 0) return ((e & ~0xfff) | (lin & 0xfff)) >>> 0;
    return this.miss(lin, Access.EXEC, this.user !== 0, 1);
  }

  /**
   * Physical address for an implicit supervisor access — descriptor tables, the IDT, the TSS —
   * which is a supervisor access whatever the CPL (SDM 4.6).
   */
  translateSys(lin: number, write: boolean, size = 1): number {
    const e = this.tlb[lin >>> 12];
    if ((e & (write ? Tlb.W : Tlb.R)) !== 0) return ((e & ~0xfff) | (lin & 0xfff)) >>> 0;
    return this.miss(lin, write ? Access.WRITE : Access.READ, false, size);
  }

  // ------------------------------------------------------------------------------------------
  // The walk

  /** Walk results (scratch, so the walk allocates nothing). */
  private wPhys = 0;
  private wPerm = 0;

  private miss(lin: number, access: Access, user: boolean, size: number): number {
    const page = lin >>> 12;
    if (this.ept !== null) this.ept.lin = lin;
    if (!this.paged) {
      this.wPhys = lin >>> 0;
      this.wPerm = Tlb.R | Tlb.W | Tlb.X;
    } else if (this.pae) {
      this.walkPae(lin, access, user);
    } else {
      this.walk32(lin, access, user);
    }
    let phys = this.wPhys, eptPerm = -1;
    if (this.ept !== null) {
      phys = this.ept.translate(phys, access, lin);
      eptPerm = this.ept.perm | ~7;
    }
    if (this.watchCount > 0 && this.watched(page)) {
      if (access !== Access.EXEC) this.checkWatch(lin, size, access === Access.WRITE);
      return phys;
    }
    // Only RAM is cached: a hit must be safe to index RAM with (see the file comment).
    if (phys >>> 12 >= this.ramPages) return phys;
    const perm = this.wPerm & eptPerm;
    const list = (perm & Tlb.G) !== 0 ? 2 : 1;
    if ((this.listed[page] & list) === 0) {
      if (this.nLocal + this.nGlobal >= FILLED_CAP) this.flushAll();
      this.listed[page] |= list;
      if (list === 2) this.global[this.nGlobal++] = page;
      else this.local[this.nLocal++] = page;
    }
    if ((perm & Tlb.LARGE) !== 0) this.largeFilled = true;
    this.tlb[user ? page | USER_HALF : page] = ((phys & ~0xfff) | perm) | 0;
    return phys;
  }

  private walk32(lin: number, access: Access, user: boolean): void {
    const host = this.host, mem = this.mem;
    const err = this.errBase(access, user);
    const pdeAddr = ((host.cr3 & ~0xfff) + ((lin >>> 22) << 2)) >>> 0;
    const pde = mem.read32(pdeAddr);
    if ((pde & Pte.P) === 0) this.fault(lin, err);
    if ((pde & Pte.PS) !== 0 && (host.cr4 & Cr4.PSE) !== 0) {
      if ((pde & PDE4M_RSVD) !== 0) this.fault(lin, err | PfErr.P | PfErr.RSVD);
      const perm = this.permit(lin, pde, 0, access, user, err);
      this.setAD(pdeAddr, pde, access);
      this.wPhys = ((pde & 0xffc00000) | (lin & 0x3fffff)) >>> 0;
      this.wPerm = this.finish(perm, pde, access, true);
      return;
    }
    const pteAddr = ((pde & ~0xfff) + (((lin >>> 12) & 0x3ff) << 2)) >>> 0;
    const pte = mem.read32(pteAddr);
    if ((pte & Pte.P) === 0) this.fault(lin, err);
    // Both levels must allow the access.
    const perm = this.permit(lin, pde & pte, 0, access, user, err);
    if ((pde & Pte.A) === 0) mem.write32(pdeAddr, pde | Pte.A);
    this.setAD(pteAddr, pte, access);
    this.wPhys = ((pte & ~0xfff) | (lin & 0xfff)) >>> 0;
    this.wPerm = this.finish(perm, pte, access, false);
  }

  private walkPae(lin: number, access: Access, user: boolean): void {
    const mem = this.mem;
    const err = this.errBase(access, user);
    const nxe = (this.host.efer & Efer.NXE) !== 0;
    // Bits 62:32 of PDEs and PTEs are reserved here (frames below 4 GiB), 63 too without NXE.
    const rsvdHi = nxe ? 0x7fffffff : -1;
    const k = lin >>> 30;
    const pdptLo = this.pdpte[2 * k];
    if ((pdptLo & Pte.P) === 0) this.fault(lin, err);
    const pdeAddr = ((pdptLo & ~0xfff) + (((lin >>> 21) & 0x1ff) << 3)) >>> 0;
    const pde = mem.read32(pdeAddr), pdeHi = mem.read32(pdeAddr + 4);
    if ((pde & Pte.P) === 0) this.fault(lin, err);
    if ((pdeHi & rsvdHi) !== 0) this.fault(lin, err | PfErr.P | PfErr.RSVD);
    if ((pde & Pte.PS) !== 0) {
      if ((pde & PDE2M_RSVD_LO) !== 0) this.fault(lin, err | PfErr.P | PfErr.RSVD);
      const perm = this.permit(lin, pde, pdeHi, access, user, err);
      this.setAD(pdeAddr, pde, access);
      this.wPhys = ((pde & 0xffe00000) | (lin & 0x1fffff)) >>> 0;
      this.wPerm = this.finish(perm, pde, access, true);
      return;
    }
    const pteAddr = ((pde & ~0xfff) + (((lin >>> 12) & 0x1ff) << 3)) >>> 0;
    const pte = mem.read32(pteAddr), pteHi = mem.read32(pteAddr + 4);
    if ((pte & Pte.P) === 0) this.fault(lin, err);
    if ((pteHi & rsvdHi) !== 0) this.fault(lin, err | PfErr.P | PfErr.RSVD);
    const perm = this.permit(lin, pde & pte, pdeHi | pteHi, access, user, err);
    if ((pde & Pte.A) === 0) mem.write32(pdeAddr, pde | Pte.A);
    this.setAD(pteAddr, pte, access);
    this.wPhys = ((pte & ~0xfff) | (lin & 0xfff)) >>> 0;
    this.wPerm = this.finish(perm, pte, access, false);
  }

  /** The #PF error code of a fault on this access, before P and RSVD. */
  private errBase(access: Access, user: boolean): number {
    let err = (access === Access.WRITE ? PfErr.W : 0) | (user ? PfErr.U : 0);
    // I/D is reported only where execute-disable exists (PAE with NXE).
    if (access === Access.EXEC && (this.host.efer & Efer.NXE) !== 0 && this.pae) err |= PfErr.ID;
    return err;
  }

  /**
   * The TLB permissions that `rights` (the AND of the levels' low doublewords) and `hiOr` (the
   * OR of their high doublewords: bit 31 is XD) give this privilege; faults when `access` is not
   * among them.
   */
  private permit(lin: number, rights: number, hiOr: number, access: Access, user: boolean, err: number): number {
    if (user && (rights & Pte.US) === 0) this.fault(lin, err | PfErr.P);
    let perm = Tlb.R | Tlb.X;
    if ((rights & Pte.RW) !== 0 || (!user && (this.host.cr0 & Cr0.WP) === 0)) perm |= Tlb.W;
    if (hiOr < 0 && (this.host.efer & Efer.NXE) !== 0) perm &= ~Tlb.X;
    if (access === Access.WRITE && (perm & Tlb.W) === 0) this.fault(lin, err | PfErr.P);
    if (access === Access.EXEC && (perm & Tlb.X) === 0) this.fault(lin, err | PfErr.P);
    return perm;
  }

  /** Sets the accessed bit, and the dirty bit for a write, in the final-level entry. */
  private setAD(addr: number, entry: number, access: Access): void {
    const want = entry | Pte.A | (access === Access.WRITE ? Pte.D : 0);
    if (want !== entry) this.mem.write32(addr, want);
  }

  /** The TLB entry's permission bits: writes only once the page is dirty; G under CR4.PGE. */
  private finish(perm: number, entry: number, access: Access, large: boolean): number {
    if ((entry & Pte.D) === 0 && access !== Access.WRITE) perm &= ~Tlb.W;
    if ((entry & Pte.G) !== 0 && (this.host.cr4 & Cr4.PGE) !== 0) perm |= Tlb.G;
    if (large) perm |= Tlb.LARGE;
    return perm;
  }

  private fault(lin: number, code: number): never {
    this.host.cr2 = lin;
    return this.host.pageFault(code);
  }

  // ------------------------------------------------------------------------------------------
  // Data breakpoints

  private watched(page: number): boolean {
    for (let k = 0; k < GUEST_WATCHES; k++) {
      if (this.watchLen[k] !== 0 && this.watchLin[k] >>> 12 === page) return true;
    }
    return this.hostPages.has(page);
  }

  private checkWatch(lin: number, size: number, write: boolean): void {
    const a = lin >>> 0, b = a + size, rw = write ? 1 : 2;
    for (let k = 0; k < GUEST_WATCHES; k++) {
      const len = this.watchLen[k];
      if (len === 0 || (this.watchRw[k] & rw) === 0) continue;
      const w = this.watchLin[k] >>> 0;
      if (a < w + len && w < b) {
        this.hits |= 1 << k;
        this.host.watchHit();
      }
    }
    for (let k = 0; k < this.hostLen.length; k++) {
      if ((this.hostRw[k] & rw) === 0) continue;
      const w = this.hostLin[k] >>> 0;
      if (a >= w + this.hostLen[k] || w >= b) continue;
      if ((this.hits & HOST_WATCH_HIT) === 0) this.hostHits.length = 0;
      this.hits |= HOST_WATCH_HIT;
      if (!this.hostHits.includes(k)) this.hostHits.push(k);
      this.host.watchHit();
    }
  }

  /** Sets the guest's data breakpoints (`len` 0 = none) and flushes the TLB so their pages miss. */
  setWatches(lins: ArrayLike<number>, lens: ArrayLike<number>, rws: ArrayLike<number>): void {
    for (let k = 0; k < GUEST_WATCHES; k++) {
      this.watchLin[k] = lins[k] ?? 0;
      this.watchLen[k] = lens[k] ?? 0;
      this.watchRw[k] = rws[k] ?? 0;
    }
    this.watchesChanged();
  }

  /**
   * Sets the host debugger's watchpoints, as many as it has (each of length at least 1; watchpoint k
   * is reported as k in `hostHits`), and flushes the TLB so their pages miss.
   */
  setHostWatches(lins: Int32Array, lens: Int32Array, rws: Int32Array): void {
    this.hostLin = lins.slice();
    this.hostLen = lens.slice();
    this.hostRw = rws.slice();
    this.hostPages.clear();
    for (let k = 0; k < lins.length; k++) {
      const first = lins[k] >>> 12, last = Math.floor(((lins[k] >>> 0) + lens[k] - 1) / 4096);
      for (let page = first; page <= last; page++) this.hostPages.add(page & 0xfffff);
    }
    this.watchesChanged();
  }

  private watchesChanged(): void {
    let n = this.hostLen.length;
    for (let k = 0; k < GUEST_WATCHES; k++) if (this.watchLen[k] !== 0) n++;
    this.watchCount = n;
    this.enabled = this.paged || n > 0 || this.ept !== null;
    this.flushAll();
  }
}

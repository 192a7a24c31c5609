// Physical RAM: one ArrayBuffer, little-endian like the machine it emulates. Accesses take
// physical addresses; the CPU's paging and the devices' MMIO sit in front of this.

export type PhysAddr = number;

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;

/**
 * The per-page flags byte of PhysMem.pageFlags. Any nonzero flag sends a write to the page down
 * the slow path (PhysMem.written): the CPU's write fast paths and bulk string operations test the
 * byte against zero, so a flag costs nothing until the page is written.
 */
export const enum PageFlag {
  /**
   * Decoded instructions (the CPU's decode cache, and code compiled from them) come from this
   * page: a write must tell the CPU, which drops them if it touches their bytes.
   */
  CODE = 1,
  /**
   * Not written since the last checkpoint (src/replay/checkpoint.ts): the first write clears the
   * flag, which marks the page dirty, and later writes take the fast path again.
   */
  CLEAN = 2,
  /**
   * The page's digest is cached and still true (src/replay/ram-digest.ts): the first write clears
   * the flag, so a state hash reads again only the pages written since the last one. Every page
   * has it at power-on, when RAM is zeros whose digest needs no reading: reading untouched RAM
   * makes the host's kernel map it (256 MiB, 0.75 s here, and memory the guest never used).
   */
  HASHED = 4,
}

export class PhysMem {
  readonly size: number;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly i32: Int32Array;
  private readonly view: DataView;
  /** One PageFlag byte per physical page. */
  readonly pageFlags: Uint8Array;
  /**
   * Called when the bytes `[addr, addr + len)` (within `page`) of a page with decoded
   * instructions are written: the CPU drops the code they invalidate, and clears the page's CODE
   * flag when none is left.
   */
  onCodeWrite: (page: number, addr: PhysAddr, len: number) => void = () => {};
  /** Whether writes are being tracked (CLEAN flags are set at each checkpoint). */
  private tracking = false;

  constructor(size: number) {
    if (size <= 0 || size % PAGE_SIZE !== 0) throw new Error(`RAM size must be a positive multiple of 4 KiB, not ${size}`);
    const buf = new ArrayBuffer(size);
    this.size = size;
    this.u8 = new Uint8Array(buf);
    this.u16 = new Uint16Array(buf);
    this.i32 = new Int32Array(buf);
    this.view = new DataView(buf);
    this.pageFlags = new Uint8Array(size >>> PAGE_SHIFT).fill(PageFlag.HASHED);
  }

  /**
   * The write barrier: the `len` bytes at `addr`, all in `page`, are about to be written and the
   * page has a flag set. Every write to RAM calls it (the CPU's fast paths only skip it for pages
   * whose flags are all clear). Any write makes the page dirty and its digest stale; only one to
   * instruction bytes drops code.
   */
  written(page: number, addr: PhysAddr, len: number): void {
    const f = this.pageFlags[page];
    this.pageFlags[page] = f & ~(PageFlag.CLEAN | PageFlag.HASHED);
    if ((f & PageFlag.CODE) !== 0) this.onCodeWrite(page, addr, len);
  }

  // Reads outside RAM return all-ones, like an open bus; writes there are dropped.
  read8(a: PhysAddr): number {
    return a < this.size ? this.u8[a] : 0xff;
  }

  read16(a: PhysAddr): number {
    if ((a & 1) === 0 && a < this.size) return this.u16[a >>> 1];
    if (a + 1 < this.size) return this.view.getUint16(a, true);
    return this.read8(a) | (this.read8(a + 1) << 8);
  }

  /** Returns the doubleword as an int32. */
  read32(a: PhysAddr): number {
    if ((a & 3) === 0 && a < this.size) return this.i32[a >>> 2];
    if (a + 3 < this.size) return this.view.getInt32(a, true);
    return this.read8(a) | (this.read8(a + 1) << 8) | (this.read8(a + 2) << 16) | (this.read8(a + 3) << 24);
  }

  write8(a: PhysAddr, v: number): void {
    if (a >= this.size) return;
    if (this.pageFlags[a >>> PAGE_SHIFT] !== 0) this.written(a >>> PAGE_SHIFT, a, 1);
    this.u8[a] = v;
  }

  write16(a: PhysAddr, v: number): void {
    if (a + 1 >= this.size || ((a & 0xfff) === 0xfff)) {
      this.write8(a, v);
      this.write8(a + 1, v >>> 8);
      return;
    }
    if (this.pageFlags[a >>> PAGE_SHIFT] !== 0) this.written(a >>> PAGE_SHIFT, a, 2);
    if ((a & 1) === 0) this.u16[a >>> 1] = v;
    else this.view.setUint16(a, v, true);
  }

  write32(a: PhysAddr, v: number): void {
    if (a + 3 >= this.size || ((a & 0xfff) > 0xffc)) {
      this.write16(a, v);
      this.write16(a + 2, v >>> 16);
      return;
    }
    if (this.pageFlags[a >>> PAGE_SHIFT] !== 0) this.written(a >>> PAGE_SHIFT, a, 4);
    if ((a & 3) === 0) this.i32[a >>> 2] = v;
    else this.view.setInt32(a, v, true);
  }

  /** Copies bytes in (a loader's "write these bytes here"); drops any cached code they overwrite. */
  load(a: PhysAddr, bytes: Uint8Array): void {
    if (a < 0 || a + bytes.length > this.size) throw new Error(`image of ${bytes.length} bytes at 0x${a.toString(16)} does not fit in RAM`);
    this.writing(a, bytes.length);
    this.u8.set(bytes, a);
  }

  /** The barrier for a write of `length` bytes at `a` done on the arrays directly (bulk copies). */
  writing(a: PhysAddr, length: number): void {
    if (length <= 0) return;
    const end = a + length;
    for (let p = a >>> PAGE_SHIFT; p <= (end - 1) >>> PAGE_SHIFT; p++) {
      if (this.pageFlags[p] === 0) continue;
      const from = Math.max(a, p << PAGE_SHIFT), to = Math.min(end, (p + 1) << PAGE_SHIFT);
      this.written(p, from, to - from);
    }
  }

  /**
   * The barrier for replacing page `page` with the page of `bytes` at `at`: the page becomes
   * dirty (and its digest stale), and its code is told only of the span that differs, so a restore to the same code
   * keeps it (time travel restores often, and mostly to the same code).
   */
  private replacing(page: number, bytes: Uint8Array, at: number): void {
    const f = this.pageFlags[page];
    if (f === 0) return;
    this.pageFlags[page] = f & ~(PageFlag.CLEAN | PageFlag.HASHED);
    if ((f & PageFlag.CODE) === 0) return;
    const u8 = this.u8, base = page << PAGE_SHIFT;
    let lo = -1, hi = -1;
    for (let k = 0; k < PAGE_SIZE; k++) {
      if (u8[base + k] === bytes[at + k]) continue;
      if (lo < 0) lo = k;
      hi = k;
    }
    if (lo >= 0) this.onCodeWrite(page, base + lo, hi - lo + 1);
  }

  // --- write tracking, for checkpoints ------------------------------------------------------------

  /**
   * Starts a new tracking epoch: every page becomes clean, and from now on the first write to a
   * page marks it dirty. Costs one pass over the flags, nothing per write after the first.
   */
  markClean(): void {
    const f = this.pageFlags;
    for (let p = 0; p < f.length; p++) f[p] |= PageFlag.CLEAN;
    this.tracking = true;
  }

  /** Whether `page` was written since the last markClean (every page is, before the first). */
  isDirty(page: number): boolean {
    return !this.tracking || (this.pageFlags[page] & PageFlag.CLEAN) === 0;
  }

  /** Puts a page's bytes back (a checkpoint's restore), through the barrier. */
  restorePage(page: number, bytes: Uint8Array): void {
    this.replacing(page, bytes, 0);
    this.u8.set(bytes, page << PAGE_SHIFT);
  }

  save(): { size: number; bytes: Uint8Array } {
    return { size: this.size, bytes: this.u8.slice() };
  }

  /** Takes RAM back to `s`, through the barrier (which keeps the code of unchanged bytes). */
  restore(s: { size: number; bytes: Uint8Array }): void {
    if (s.size !== this.size) throw new Error(`snapshot RAM size ${s.size} differs from ${this.size}`);
    for (let p = 0; p < this.pageFlags.length; p++) this.replacing(p, s.bytes, p << PAGE_SHIFT);
    this.u8.set(s.bytes);
  }
}

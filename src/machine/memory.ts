// Physical RAM: one ArrayBuffer, little-endian like the machine it emulates. Accesses take
// physical addresses; the CPU's paging and the devices' MMIO sit in front of this.

export type PhysAddr = number;

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;

export class PhysMem {
  readonly size: number;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly i32: Int32Array;
  private readonly view: DataView;
  /**
   * One byte per physical page: nonzero when decoded instructions from that page are cached, so
   * a write there takes the slow path and tells `onCodeWrite`, which the CPU installs to drop what
   * the bytes written `[addr, addr + len)` (within the page) invalidate.
   */
  readonly codePages: Uint8Array;
  onCodeWrite: (page: number, addr: PhysAddr, len: number) => void = () => {};

  constructor(size: number) {
    if (size <= 0 || size % PAGE_SIZE !== 0) throw new Error(`RAM size must be a positive multiple of 4 KiB, not ${size}`);
    const buf = new ArrayBuffer(size);
    this.size = size;
    this.u8 = new Uint8Array(buf);
    this.u16 = new Uint16Array(buf);
    this.i32 = new Int32Array(buf);
    this.view = new DataView(buf);
    this.codePages = new Uint8Array(size >>> PAGE_SHIFT);
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
    if (this.codePages[a >>> PAGE_SHIFT] !== 0) this.onCodeWrite(a >>> PAGE_SHIFT, a, 1);
    this.u8[a] = v;
  }

  write16(a: PhysAddr, v: number): void {
    if (a + 1 >= this.size || ((a & 0xfff) === 0xfff)) {
      this.write8(a, v);
      this.write8(a + 1, v >>> 8);
      return;
    }
    if (this.codePages[a >>> PAGE_SHIFT] !== 0) this.onCodeWrite(a >>> PAGE_SHIFT, a, 2);
    if ((a & 1) === 0) this.u16[a >>> 1] = v;
    else this.view.setUint16(a, v, true);
  }

  write32(a: PhysAddr, v: number): void {
    if (a + 3 >= this.size || ((a & 0xfff) > 0xffc)) {
      this.write16(a, v);
      this.write16(a + 2, v >>> 16);
      return;
    }
    if (this.codePages[a >>> PAGE_SHIFT] !== 0) this.onCodeWrite(a >>> PAGE_SHIFT, a, 4);
    if ((a & 3) === 0) this.i32[a >>> 2] = v;
    else this.view.setInt32(a, v, true);
  }

  /** Copies bytes in (a loader's "write these bytes here"); drops any cached code they overwrite. */
  load(a: PhysAddr, bytes: Uint8Array): void {
    if (a < 0 || a + bytes.length > this.size) throw new Error(`image of ${bytes.length} bytes at 0x${a.toString(16)} does not fit in RAM`);
    this.u8.set(bytes, a);
    const end = a + bytes.length;
    for (let p = a >>> PAGE_SHIFT; p <= (end - 1) >>> PAGE_SHIFT; p++) {
      if (this.codePages[p] === 0) continue;
      const from = Math.max(a, p << PAGE_SHIFT), to = Math.min(end, (p + 1) << PAGE_SHIFT);
      this.onCodeWrite(p, from, to - from);
    }
  }

  save(): { size: number; bytes: Uint8Array } {
    return { size: this.size, bytes: this.u8.slice() };
  }

  /**
   * Takes RAM back to `s`. Cached code survives where the bytes do not change (time travel
   * restores often, and mostly to the same code).
   */
  restore(s: { size: number; bytes: Uint8Array }): void {
    if (s.size !== this.size) throw new Error(`snapshot RAM size ${s.size} differs from ${this.size}`);
    const u8 = this.u8, bytes = s.bytes;
    for (let p = 0; p < this.codePages.length; p++) {
      if (this.codePages[p] === 0) continue;
      let lo = -1, hi = -1;
      for (let a = p << PAGE_SHIFT, to = a + PAGE_SIZE; a < to; a++) {
        if (u8[a] === bytes[a]) continue;
        if (lo < 0) lo = a;
        hi = a;
      }
      if (lo >= 0) this.onCodeWrite(p, lo, hi - lo + 1);
    }
    u8.set(bytes);
  }
}

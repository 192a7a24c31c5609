// Test support: a bare CPU in flat 32-bit protected mode (or real mode) running a few bytes of
// code, and nasm as the assembler, so tests state their programs in assembly, not hex.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Seg } from "../../src/x86/insn.js";
import { PhysMem } from "../../src/machine/memory.js";
import { Cpu } from "../../src/machine/cpu/cpu.js";
import { SegAttr, Stop, type IoBus } from "../../src/machine/cpu/arch.js";

/** Assembles NASM source (a `bits` directive is prepended) to a flat binary. */
export function nasm(source: string, bits: 16 | 32 = 32, org = 0): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), "afterglow-nasm-"));
  try {
    writeFileSync(join(dir, "t.asm"), `bits ${bits}\norg ${org}\n${source}\n`);
    execFileSync("nasm", ["-f", "bin", "-o", join(dir, "t.bin"), join(dir, "t.asm")], { stdio: "pipe" });
    return new Uint8Array(readFileSync(join(dir, "t.bin")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An I/O bus that records OUTs and answers INs from a map (default 0xff…). */
export class RecordingIo implements IoBus {
  outs: [port: number, value: number, size: number][] = [];
  ins = new Map<number, number>();
  in8(p: number): number { return (this.ins.get(p) ?? 0xff) & 0xff; }
  in16(p: number): number { return (this.ins.get(p) ?? 0xffff) & 0xffff; }
  in32(p: number): number { return this.ins.get(p) ?? -1; }
  out8(p: number, v: number): void { this.outs.push([p, v, 1]); }
  out16(p: number, v: number): void { this.outs.push([p, v, 2]); }
  out32(p: number, v: number): void { this.outs.push([p, v, 4]); }
}

export const CODE_BASE = 0x1000;
const FLAT_CODE = SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.ACCESSED | SegAttr.DB | SegAttr.G;
const FLAT_DATA = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.ACCESSED | SegAttr.DB | SegAttr.G;

/** Puts `cpu` in flat 32-bit protected mode at CPL 0, ESP at 0x80000. */
export function enterFlat32(cpu: Cpu): void {
  cpu.cr0 |= 1;
  cpu.setSegCache(Seg.CS, 0x08, 0, 0xffffffff, FLAT_CODE);
  for (const s of [Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) cpu.setSegCache(s, 0x10, 0, 0xffffffff, FLAT_DATA);
  cpu.r32[4] = 0x80000;
}

/**
 * A CPU with 1 MiB of RAM in flat 32-bit protected mode at CPL 0 (or real mode with all segments
 * 0), the code at CODE_BASE, ESP at 0x80000, stopping on every exception.
 */
export function bareCpu(code: Uint8Array, mode: "flat32" | "real" = "flat32"): { cpu: Cpu; io: RecordingIo } {
  const io = new RecordingIo();
  const cpu = new Cpu(new PhysMem(1 << 20), io);
  cpu.trapExceptions = true;
  if (process.env.AFTERGLOW_TEST_JIT === "1") {
    cpu.jit = true;
    cpu.jitThreshold = 1;
  }
  if (mode === "flat32") {
    enterFlat32(cpu);
  } else {
    cpu.setSegCache(Seg.CS, 0, 0, 0xffff, SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.ACCESSED);
    cpu.r32[4] = 0xfffe;
  }
  cpu.mem.load(CODE_BASE, code);
  cpu.eip = CODE_BASE;
  return { cpu, io };
}

/**
 * Assembles `source`, runs it until it executes `int3` (append one), an exception, HLT or the
 * budget, and returns the CPU. `setup` runs before the first instruction.
 */
export function runAsm(source: string, setup?: (cpu: Cpu) => void, opts: { mode?: "flat32" | "real"; budget?: number } = {}): { cpu: Cpu; io: RecordingIo; stop: Stop } {
  const mode = opts.mode ?? "flat32";
  const { cpu, io } = bareCpu(nasm(source, mode === "flat32" ? 32 : 16, CODE_BASE), mode);
  setup?.(cpu);
  const stop = cpu.run(opts.budget ?? 100_000);
  return { cpu, io, stop };
}

/** Page directory and the one page table of `identityPaging`. */
export const PAGING_PD = 0xf0000;
export const PAGING_PT = 0xf1000;

/**
 * 32-bit paging tables mapping the first 1 MiB identically, each page present, writable and user
 * unless `flags` says otherwise for it (P = 1, RW = 2, US = 4); source that turns paging on
 * follows in `PAGING_ON`.
 */
export function identityPaging(cpu: Cpu, flags: (page: number) => number = () => 7): void {
  cpu.mem.write32(PAGING_PD, PAGING_PT | 7);
  for (let p = 0; p < 256; p++) cpu.mem.write32(PAGING_PT + 4 * p, (p << 12) | flags(p));
}

/** Assembly that loads CR3 with `identityPaging`'s directory and sets CR0.PG (and WP). */
export const PAGING_ON = `
  mov eax, ${PAGING_PD}
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80010000
  mov cr0, eax`;

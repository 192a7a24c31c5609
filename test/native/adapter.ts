// The emulator's side of the native-conformance harness: our Cpu set up the way Linux sets up a
// 32-bit process, so each fixture case runs through the same machinery as it did natively —
// a GDT and LDT with the process's descriptors, an IDT whose gate privileges are Linux's, and a
// TSS whose ring-0 stack catches the exception frame. Exceptions are really delivered (privilege
// checks, stack switch, error code) and read back from that frame, not short-circuited.

import { Cpu } from "../../src/machine/cpu/cpu.js";
import { SegAttr } from "../../src/machine/cpu/arch.js";
import { loadSeg, writeDescriptor, writeGate } from "../../src/machine/cpu/segments.js";
import { hasErrorCode } from "../../src/x86/vectors.js";
import { PhysMem } from "../../src/machine/memory.js";
import { Seg } from "../../src/x86/insn.js";
import { RecordingIo } from "../support/cpu.js";
import type { CpuUnderTest, FixtureMeta, NativeState, StepResult } from "./harness.js";

const RAM = 4 << 20;
/** More iterations than any native case's REP count: a bound, so an instruction that jumps to itself cannot hang the test. */
const MAX_ITERATIONS = 1 << 20;
const GDT = 0x300000;
const LDT = 0x301000;
const IDT = 0x302000;
const TSS = 0x303000;
const KSTACK_TOP = 0x310000;
/** One `hlt` per vector, 4 bytes apart: where each gate leads. */
const STUBS = 0x320000;

const KERNEL_CS = 0x10;
const KERNEL_DS = 0x18;
/** glibc's TLS selector in GS: any user data descriptor will do, no case addresses through it. */
const TLS_SEL = 0x63;
/** Vectors whose IDT gates are DPL 3 on Linux: INT3, INTO and the system call. */
const USER_GATES = new Set([3, 4, 0x80]);

const GATE32_INTERRUPT = 0xe;
const TSS32_BUSY = 0xb;

/** Raw 20-bit limit field for a byte-granular effective limit and the attributes' G bit. */
function rawLimit(limit: number, attr: number): number {
  return attr & SegAttr.G ? limit >>> 12 : limit;
}

/**
 * `compile`: each instruction runs as a compiled block of its own (src/machine/cpu/jit), compiled
 * the first time it is reached, instead of through the interpreter.
 */
export function createCpuUnderTest(meta: FixtureMeta, opts: { compile?: boolean } = {}): CpuUnderTest & { cpu: Cpu } {
  const cpu = new Cpu(new PhysMem(RAM), new RecordingIo());
  if (opts.compile) {
    cpu.jit = true;
    cpu.jitThreshold = 1;
    cpu.jitBlockLimit = 1;
  }
  const userCode = meta.descriptors.find((d) => d.selector === 0x23);
  const userData = meta.descriptors.find((d) => d.selector === 0x2b);
  const ldtEntry = meta.descriptors.find((d) => (d.selector & 4) !== 0);
  if (!userCode || !userData || !ldtEntry) throw new Error("fixture meta lacks the user code, user data or LDT descriptor");

  function reset(): void {
    cpu.reset();
    const kcode = SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.ACCESSED | SegAttr.DB | SegAttr.G;
    const kdata = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.ACCESSED | SegAttr.DB | SegAttr.G;
    const put = (sel: number, base: number, limit: number, attr: number) => writeDescriptor(cpu, GDT + (sel & ~7), base, rawLimit(limit, attr), attr);
    put(KERNEL_CS, 0, 0xffffffff, kcode);
    put(KERNEL_DS, 0, 0xffffffff, kdata);
    put(0x23, userCode!.base, userCode!.limit, userCode!.attr);
    put(0x2b, userData!.base, userData!.limit, userData!.attr);
    put(TLS_SEL, 0, 0xffffffff, userData!.attr);
    writeDescriptor(cpu, LDT + (ldtEntry!.selector & ~7), ldtEntry!.base, rawLimit(ldtEntry!.limit, ldtEntry!.attr), ldtEntry!.attr);
    for (let v = 0; v < 256; v++) {
      writeGate(cpu, IDT + v * 8, KERNEL_CS, STUBS + v * 4, GATE32_INTERRUPT, USER_GATES.has(v) ? 3 : 0);
      cpu.wr8(STUBS + v * 4, 0xf4); // hlt
    }
    // 32-bit TSS: ESP0 at +4, SS0 at +8; the I/O map base beyond the limit means no bitmap.
    cpu.wr32(TSS + 4, KSTACK_TOP);
    cpu.wr32(TSS + 8, KERNEL_DS);
    cpu.wr16(TSS + 0x66, 0x68);
    cpu.cr0 |= 1;
    cpu.gdtrBase = GDT;
    cpu.gdtrLimit = meta.gdtLimit;
    cpu.idtrBase = IDT;
    cpu.idtrLimit = 256 * 8 - 1;
    cpu.ldtrSel = 0x28 | 0x40; // any non-null selector: the LDT's descriptor itself is not consulted
    cpu.ldtrBase = LDT;
    cpu.ldtrLimit = meta.ldtLimit;
    cpu.trSel = 0x80;
    cpu.trBase = TSS;
    cpu.trLimit = 0x67;
    cpu.trAttr = SegAttr.P | TSS32_BUSY;
  }

  let user: NativeState | null = null;

  return {
    cpu,
    reset() {
      reset();
      user = null;
    },

    setState(s: NativeState) {
      cpu.cpl = 3;
      cpu.setSegCache(Seg.CS, s.segs[Seg.CS], userCode.base, userCode.limit, userCode.attr);
      for (const seg of [Seg.SS, Seg.DS, Seg.ES, Seg.FS, Seg.GS]) loadSeg(cpu, seg, s.segs[seg]);
      for (let r = 0; r < 8; r++) cpu.r32[r] = s.regs[r];
      cpu.eip = s.eip;
      cpu.setFlagBits(s.eflags, -1);
    },

    writeMem(addr: number, bytes: Uint8Array) {
      cpu.mem.load(addr, bytes);
    },

    readMem(addr: number, len: number) {
      return cpu.mem.u8.slice(addr, addr + len);
    },

    step(): StepResult {
      // One instruction as the host ran it: a REP string instruction retires each iteration, so
      // its iterations run until EIP leaves it (a fault delivered takes the CPU to ring 0).
      const start = cpu.eip;
      for (let n = 0; n < MAX_ITERATIONS; n++) {
        cpu.run(1);
        if (cpu.cpl === 0 || cpu.eip !== start) break;
      }
      if (cpu.cpl !== 0) {
        user = null;
        return { vector: null, error: null };
      }
      // Delivered: the gate led to a stub, and the ring-0 stack holds the user's frame.
      const vector = ((cpu.eip >>> 0) - STUBS) >>> 2;
      let sp = cpu.r32[4];
      let error: number | null = null;
      if (hasErrorCode(vector)) {
        error = cpu.rd32(sp) & 0xffff;
        sp += 4;
      }
      const frame = [0, 1, 2, 3, 4].map((k) => cpu.rd32(sp + 4 * k) >>> 0); // EIP CS EFLAGS ESP SS
      const regs = Array.from(cpu.r32, (v) => v >>> 0);
      regs[4] = frame[3];
      const segs = Array.from(cpu.segSel);
      segs[Seg.CS] = frame[1] & 0xffff;
      segs[Seg.SS] = frame[4] & 0xffff;
      user = { regs, eip: frame[0], eflags: frame[2], segs };
      return { vector, error };
    },

    getState(): NativeState {
      return user ?? {
        regs: Array.from(cpu.r32, (v) => v >>> 0),
        eip: cpu.eip >>> 0,
        eflags: cpu.getEflags(),
        segs: Array.from(cpu.segSel),
      };
    },
  };
}

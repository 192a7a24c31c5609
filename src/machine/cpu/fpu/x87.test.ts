// x87 instruction-level behaviour: #NM and #MF/FERR# delivery, the FSAVE/FSTENV/FXSAVE images
// (checked against the host CPU where the host can run the same code), stack faults, and the
// transcendentals at arguments where the hardware's 66-bit π makes them differ from the true values.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runAsm } from "../../../../test/support/cpu.js";
import { Stop } from "../arch.js";
import { Vec } from "../../../x86/vectors.js";
import * as F from "./float80.js";
import * as T from "./transcendental.js";
import { buildCaseProgram, runCase } from "../../../../test/support/host-code.js";
import { HOST_CODE, HOST_CODE_INSTALL, hostMode, oracle } from "../../../../test/support/oracle.js";

const mode = hostMode();
const hasTools = oracle(`${HOST_CODE} (the host CPU as oracle)`, mode !== null, HOST_CODE_INSTALL);

/** Runs `code` natively with EDI pointing at a 1 KiB zeroed buffer; returns the buffer. */
function onHost(code: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), "afterglow-x87u-"));
  try {
    const exe = buildCaseProgram(dir, mode!, { bodies: `case0:\n${code}\n ret\n`, count: 1, inRecord: 1, outRecord: 1024, maxRecords: 1 });
    return runCase(exe, 0, 1, new Uint8Array(1));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const BUF = 0x30000;
function emulated(code: string): Uint8Array {
  const { cpu } = runAsm(`mov edi, ${BUF}\n${code}\n int3`);
  expect(cpu.excVector, "stopped at int3").toBe(3);
  return cpu.mem.u8.slice(BUF, BUF + 1024);
}

// A state with every tag kind, a raised (masked) exception and a moved TOP, then its images.
// Operands are built in the buffer above the images, not on the stack, so that the same code
// runs in 64-bit mode on a host whose kernel runs no 32-bit programs.
const IMAGES = `
  fninit
  mov word [edi+960], 0x0b7f
  fldcw [edi+960]
  fld1
  fldpi
  fldz
  mov dword [edi+976], 0
  mov dword [edi+980], 1
  mov word [edi+984], 0
  fld tword [edi+976]      ; a denormal
  mov dword [edi+992], 1
  mov dword [edi+996], 0x80000000
  mov word [edi+1000], 0x7fff
  fld tword [edi+992]      ; an SNaN (FLD m80 does not signal)
  fld st0
  fadd st0, st1            ; IE (masked): the QNaN
  ffree st3
  fdecstp
  fincstp
  fnstenv [edi]
  fldenv [edi]
  fxsave [edi+64]
  fnsave [edi+640]
  fnstsw [edi+760]
  fnstcw [edi+762]
  ; stack overflow: nine pushes, masked → the indefinite and IE|SF|C1
  fld1
  fld1
  fld1
  fld1
  fld1
  fld1
  fld1
  fld1
  fldz
  fnstsw [edi+764]
  fstp tword [edi+770]
  ; stack underflow: FADD with an empty register, masked → the indefinite, C1 = 0
  fninit
  fld1
  fadd st0, st2
  fnstsw [edi+780]
  fstp tword [edi+790]
  fninit
  fistp dword [edi+800]    ; empty: the integer indefinite
  fnstsw [edi+804]
  fninit
  mov word [edi+960], 0
  fldcw [edi+960]          ; every exception unmasked, PC 24, RC nearest
  fnstcw [edi+810]
`;

/** The byte ranges of the images that both sides define (pointers and padding excluded). */
const COMPARED: [number, number][] = [
  [0, 12], // FNSTENV: FCW FSW FTW (32-bit protected format)
  [64, 70], // FXSAVE: FCW FSW abridged FTW (+ reserved byte)
  ...Array.from({ length: 8 }, (_, k) => [64 + 32 + 16 * k, 64 + 42 + 16 * k] as [number, number]),
  [640, 652], // FNSAVE environment words
  [668, 748], // FNSAVE registers, ST(0) first
  [760, 768], [770, 780], [780, 782], [790, 800], [800, 806], [810, 812],
];

describe("the x87's environment images", () => {
  it.skipIf(!hasTools)("FNSTENV, FXSAVE, FNSAVE and stack faults agree with the host CPU", () => {
    const host = onHost(IMAGES);
    const ours = emulated(IMAGES);
    const diffs: string[] = [];
    for (const [a, b] of COMPARED) {
      const h = Array.from(host.subarray(a, b), (x) => x.toString(16).padStart(2, "0")).join(" ");
      const o = Array.from(ours.subarray(a, b), (x) => x.toString(16).padStart(2, "0")).join(" ");
      if (h !== o) diffs.push(`[${a}..${b}) ours ${o} host ${h}`);
    }
    expect(diffs).toEqual([]);
  });

  it("FRSTOR brings back what FNSAVE stored, and FNSAVE reinitializes", () => {
    const { cpu } = runAsm(`
      fninit
      fldpi
      fld1
      fnsave [0x30000]
      fnstcw [0x30200]
      frstor [0x30000]
      fsubp st1, st0
      int3`);
    expect(cpu.excVector).toBe(3);
    expect(cpu.mem.read16(0x30200)).toBe(0x037f);
    const st0 = cpu.fpu.st(0);
    expect(F.toNumber(st0)).toBeCloseTo(Math.PI - 1, 15);
    expect(cpu.fpu.top).toBe(7);
  });

  it("FXRSTOR brings back what FXSAVE stored, abridged tags included", () => {
    const { cpu } = runAsm(`
      fninit
      fldpi
      fld1
      fxsave [0x30000]
      fninit
      fxrstor [0x30000]
      fsubp st1, st0
      int3`);
    expect(cpu.excVector).toBe(3);
    expect(F.toNumber(cpu.fpu.st(0))).toBeCloseTo(Math.PI - 1, 15);
    expect(cpu.fpu.empty).toBe(0x7f);
    expect(runAsm(`fxsave [0x30008]\n int3`).cpu.excVector).toBe(Vec.GP);
  });

  it("save() and restore() carry the whole FPU state", () => {
    const a = runAsm(`fninit\n fldpi\n fldl2e\n fsqrt\n int3`).cpu;
    const b = runAsm(`int3`).cpu;
    b.fpu.restore(JSON.parse(JSON.stringify(a.fpu.save())));
    expect(b.fpu.save()).toEqual(a.fpu.save());
    expect(F.toNumber(b.fpu.st(0))).toBeCloseTo(Math.sqrt(Math.LOG2E), 15);
  });

  it("stores the real-mode 16-bit environment with a 20-bit instruction pointer and the opcode", () => {
    const { cpu } = runAsm(`
      mov ax, 0x1234
      mov ds, ax
      fninit
      fld1
      fld dword [0x10]
      fnstenv [0x20]
      int3`, undefined, { mode: "real" });
    expect(cpu.excVector).toBe(3);
    const at = (0x1234 << 4) + 0x20;
    const w = (k: number): number => cpu.mem.read16(at + 2 * k);
    expect(w(0)).toBe(0x037f | 0x3f);
    // FLD m32 at CS:IP = 0:(0x1000 + 3 + 2 + 2 + 2): D9 06 10 00
    const ip = 0x1000 + 3 + 2 + 2 + 2;
    expect(w(3)).toBe(ip & 0xffff);
    expect(w(4)).toBe(((ip >>> 16) << 12) | 0x106); // FOP: D9 06 → 001 0000 0110
    expect(w(5)).toBe(((0x1234 << 4) + 0x10) & 0xffff);
    expect(w(6)).toBe((((0x1234 << 4) + 0x10) >>> 16) << 12);
  });
});

describe("x87 exceptions and the CPU", () => {
  it("raises #NM for x87 instructions, FXSAVE included, when CR0.EM or CR0.TS is set", () => {
    const em = runAsm(`fld1\n int3`, (cpu) => { cpu.cr0 |= 4; });
    expect([em.cpu.excVector, em.cpu.eip]).toEqual([Vec.NM, 0x1000]);
    const ts = runAsm(`fninit\n int3`, (cpu) => { cpu.cr0 |= 8; });
    expect(ts.cpu.excVector).toBe(Vec.NM);
    const fx = runAsm(`fxsave [0x30000]\n int3`, (cpu) => { cpu.cr0 |= 8; });
    expect(fx.cpu.excVector).toBe(Vec.NM);
  });

  it("delivers an unmasked exception as #MF on the next waiting instruction when CR0.NE is set", () => {
    const r = runAsm(`
      fninit
      push dword 0x037b      ; ZE unmasked
      fldcw [esp]
      fldz
      fld1
      fdiv st0, st1          ; 1/0: ZE pending, ST(0) unchanged
      fnstsw ax              ; no-wait: no fault
      fld1                   ; waits: #MF here
      int3`, (cpu) => { cpu.cr0 |= 0x20; });
    expect(r.cpu.excVector).toBe(Vec.MF);
    expect(r.cpu.r16[0] & 0x80ff).toBe(0x8084); // B ES ZE
    expect(F.toNumber(r.cpu.fpu.st(0))).toBe(1);
    expect(r.cpu.mem.read8(r.cpu.eip)).toBe(0xd9); // stopped at the FLD1
  });

  it("FWAIT reports a pending unmasked exception as #MF, and raises #NM when CR0.MP and CR0.TS are set", () => {
    const pending = runAsm(`
      fninit
      push dword 0x037b      ; ZE unmasked
      fldcw [esp]
      fldz
      fld1
      fdiv st0, st1
      fwait
      int3`, (cpu) => { cpu.cr0 |= 0x20; });
    expect(pending.cpu.excVector).toBe(Vec.MF);
    expect(pending.cpu.mem.read8(pending.cpu.eip)).toBe(0x9b);
    const clean = runAsm(`fninit\n fwait\n int3`, (cpu) => { cpu.cr0 |= 0x20; });
    expect(clean.cpu.excVector).toBe(Vec.BP);
    const switched = runAsm(`fwait\n int3`, (cpu) => { cpu.cr0 |= 0x2 | 0x8; });
    expect(switched.cpu.excVector).toBe(Vec.NM);
    const tsOnly = runAsm(`fwait\n int3`, (cpu) => { cpu.cr0 |= 0x8; });
    expect(tsOnly.cpu.excVector).toBe(Vec.BP);
  });

  it("asserts FERR# when CR0.NE is clear, and waits for the interrupt unless IGNNE# is asserted", () => {
    const prog = `
      fninit
      push dword 0x037b
      fldcw [esp]
      fldz
      fld1
      fdiv st0, st1
      fld1
      int3`;
    const seen: boolean[] = [];
    const wait = runAsm(prog, (cpu) => { cpu.fpu.ferr = (a) => { seen.push(a); return false; }; });
    expect(wait.stop).toBe(Stop.HALT);
    expect(wait.cpu.halted).toBe(true);
    expect(seen).toEqual([true]);
    expect(wait.cpu.mem.read8(wait.cpu.eip)).toBe(0xd9);
    const ignne = runAsm(prog, (cpu) => { cpu.fpu.ferr = () => true; });
    expect(ignne.cpu.excVector).toBe(3);
    expect(ignne.cpu.fpu.top).toBe(5);
  });

  it("retires an instruction that waits for FERR#'s interrupt once, when it runs again", () => {
    const prog = `
      fninit
      push dword 0x037b
      fldcw [esp]
      fldz
      fld1
      fdiv st0, st1
      fld1
      int3`;
    const ignne = runAsm(prog, (cpu) => { cpu.fpu.ferr = () => true; });
    const wait = runAsm(prog, (cpu) => { cpu.fpu.ferr = () => false; });
    // Six instructions retired; the FLD1 waits, not retired.
    expect(wait.cpu.icount).toBe(6);
    // The interrupt came and its handler asserted IGNNE#: the FLD1 runs again and retires once.
    wait.cpu.fpu.ferr = () => true;
    wait.cpu.halted = false;
    wait.cpu.run(100);
    expect(wait.cpu.excVector).toBe(3);
    expect(wait.cpu.icount).toBe(ignne.cpu.icount);
  });

  it("FNCLEX clears the exceptions so the next waiting instruction runs", () => {
    const r = runAsm(`
      fninit
      push dword 0x037b
      fldcw [esp]
      fldz
      fld1
      fdiv st0, st1
      fnclex
      fld1
      int3`, (cpu) => { cpu.cr0 |= 0x20; });
    expect(r.cpu.excVector).toBe(3);
  });

  it("FISTTP is not an i686 instruction: #UD", () => {
    expect(runAsm(`fninit\n fld1\n fisttp dword [0x30000]\n int3`).cpu.excVector).toBe(Vec.UD);
  });

  it("FCMOVcc and FCOMI follow EFLAGS; FNSTSW AX reads the status word", () => {
    const r = runAsm(`
      fninit
      fld1
      fldz                  ; ST0 = 0, ST1 = 1
      fcomi st0, st1        ; 0 < 1: CF
      fcmovb st0, st1       ; taken: ST0 = 1
      fldpi
      fucomip st0, st1      ; pi > 1: no flags; pops
      fnstsw ax
      int3`);
    expect(r.cpu.excVector).toBe(3);
    expect(F.toNumber(r.cpu.fpu.st(0))).toBe(1);
    expect(r.cpu.getEflags() & 0x45).toBe(0);
    expect((r.cpu.r16[0] >> 11) & 7).toBe(6);
  });
});

describe("the transcendentals", () => {
  // Values an AMD host's FSIN/FCOS/FSINCOS returned: far from the true sine and cosine, as the
  // hardware reduces by π/2 with a 66-bit π (SDM vol. 1, 8.3.8) — and so do we.
  const env = (): F.FpEnv => ({ cw: 0x037f, flags: 0, c1: false });
  const v = (s: string): F.F80 => F.f80(parseInt(s.slice(0, 4), 16), BigInt("0x" + s.slice(5)));
  const hex = (a: F.F80): string => `${a.se.toString(16).padStart(4, "0")}:${a.m.toString(16).padStart(16, "0")}`;
  const one = (r: T.Trig, k = 0): string => (r && !r.outOfRange ? hex(r.r[k]) : "none");

  it("reduce their argument by π/2 with π rounded to 66 bits, as the hardware does", () => {
    expect(one(T.fsin(env(), v("4007:d92b540ac6e3f63f")))).toBe("3ffe:b769fc85b51d785d");
    expect(one(T.fsin(env(), v("401b:d08c7629976658ad")))).toBe("bffe:faf5944342a3648c");
    expect(one(T.fsin(env(), v("c007:c098ba292c63c927")))).toBe("bffe:f0a5bcfe89e55c25");
    expect(one(T.fcos(env(), v("400e:b121fdb55c74453e")))).toBe("3ffe:f87f85bc6ef4c90b");
    expect(one(T.fsincos(env(), v("4001:cafcb8f761a4f6c6")))).toBe("3ffa:f6491cf4f49f6803");
    // sin(2^62) is -0.7011; with π₆₆ it comes out as -0.7071.
    expect(one(T.fsin(env(), v("403d:8000000000000000")))).toBe("bffe:b506a9dd559cf157");
    expect(one(T.fcos(env(), v("403d:8000000000000000")))).toBe("bffe:b5033c867715345a");
    expect(one(T.fptan(env(), v("403d:8000000000000000")))).toBe("3fff:80026c6541a088b0");
  });

  it("leave arguments of 2^63 and above alone with C2 set", () => {
    expect(T.fsin(env(), v("403e:8000000000000000"))).toEqual({ outOfRange: true });
  });

  it("FYL2X of a power of two is exact", () => {
    const e = env();
    expect(hex(T.fyl2x(e, F.ONE, v("4002:8000000000000000"))!)).toBe("4000:c000000000000000");
    expect(e.flags & F.Exc.PE).toBe(0);
  });
});


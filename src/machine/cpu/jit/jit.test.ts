// The compiler at the edges of its contract (./README.md): budget boundaries inside blocks, faults
// in the middle of one, code that rewrites itself, the host debugger's breakpoints and
// watchpoints, snapshots, and a segment base that changes under compiled code. Each case runs the
// same code interpreted as the oracle.

import { describe, expect, it } from "vitest";
import { Reg, Seg } from "../../../x86/insn.js";
import { bareCpu, CODE_BASE, nasm } from "../../../../test/support/cpu.js";
import { cpuState, stateDiff } from "../../../../test/support/lockstep.js";
import { HostDebug } from "../debug.js";
import { SegAttr, Stop } from "../arch.js";
import type { Cpu } from "../cpu.js";
import { Vec } from "../../../x86/vectors.js";

const P = 1, RW = 2;
const PD = 0x10000, PT = 0x11000;
const FLAT_DATA = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.ACCESSED | SegAttr.DB | SegAttr.G;

/** A CPU running `source` at CODE_BASE, compiling every block the first time it is reached (`jit`) or interpreting. */
function machine(source: string, jit: boolean, setup?: (c: Cpu) => void): Cpu {
  const { cpu } = bareCpu(nasm(source, 32, CODE_BASE));
  if (jit) {
    cpu.jit = true;
    cpu.jitThreshold = 1;
  }
  setup?.(cpu);
  return cpu;
}

/** Identity paging of the first 4 MiB but for `absent` pages. */
function paging(c: Cpu, absent: number[] = []): void {
  c.mem.write32(PD, PT | P | RW);
  for (let p = 0; p < 1024; p++) c.mem.write32(PT + 4 * p, absent.includes(p << 12) ? 0 : (p << 12) | P | RW);
  c.cr3 = PD;
  c.cr0 |= 0x80000000;
  c.paging.changed();
}

function expectSame(a: Cpu, b: Cpu): void {
  expect(stateDiff(cpuState(a), cpuState(b))).toEqual([]);
  expect(Buffer.compare(a.mem.u8, b.mem.u8)).toBe(0);
}

/**
 * Runs `a` (compiling) and `b` (interpreting) `budget` instructions at a time, at most `maxSlices`
 * times, until `a` stops at the program's INT3: the same stop and state after every slice.
 */
function sameInSlices(a: Cpu, b: Cpu, budget: number, maxSlices: number): void {
  for (let k = 0; k < maxSlices && a.run(budget) === Stop.BUDGET; k++) {
    expect(b.run(budget)).toBe(Stop.BUDGET);
    expectSame(a, b);
  }
  expect(b.run(budget)).toBe(Stop.EXCEPTION);
  expectSame(a, b);
}

const LOOP = `
  mov ecx, 50
  xor eax, eax
again:
  add eax, ecx
  mov [0x8000 + ecx*4], eax
  xor eax, 0x55
  dec ecx
  jnz again
  mov ebx, [0x8010]
  add ebx, eax
  int3`;

describe("compiled blocks", () => {
  it("end runs exactly at the budget, wherever it falls in a block", () => {
    for (let budget = 1; budget <= 13; budget++) {
      const a = machine(LOOP, true), b = machine(LOOP, false);
      sameInSlices(a, b, budget, 400);
      expect(a.jitCompiled).toBeGreaterThan(0);
    }
  });

  it("count exactly past 2^32 instructions, where the icount is a double", () => {
    // Blocks count from their entry (Emitter: i0, ic, lim); the machine's count goes on from it.
    for (const budget of [5, 11, 1000]) {
      const start = 2 ** 32 - 3 * budget;
      const a = machine(LOOP, true, (c) => (c.icount = start)), b = machine(LOOP, false, (c) => (c.icount = start));
      sameInSlices(a, b, budget, 400);
      expect(a.icount).toBe(start + 255);
      expect(a.jitCompiled).toBeGreaterThan(0);
    }
  });

  it("loop within their function when a run enters a loop in its middle", () => {
    const a = machine(LOOP, true), b = machine(LOOP, false);
    let runs = 0;
    a.jitOnCompile = (blk) => ({ ...blk, run: (cpu, end) => (runs++, blk.run(cpu, end)) });
    // Four instructions in (the whole first block does not fit): the next run starts at the XOR.
    expect(a.run(4)).toBe(Stop.BUDGET);
    expect(b.run(4)).toBe(Stop.BUDGET);
    expect(a.run(1000)).toBe(Stop.EXCEPTION);
    expect(b.run(1000)).toBe(Stop.EXCEPTION);
    expectSame(a, b);
    // One block from the XOR round the loop, passing itself 49 times, then the one after it.
    expect(runs).toBeLessThan(4);
  });

  it("jump forward past an if's body inside their function, budgets and faults exact", () => {
    // Two forward branches whose ranges cross (each jumps into the other's), an ADC and an SBB
    // after the joins taking CF from whichever way came there, and a read in a skipped body that
    // reaches an absent page after some passes.
    const code = (edi: number) => `
      mov ecx, 300
      mov edi, ${edi}
      xor eax, eax
      xor edx, edx
      xor ebx, ebx
    again:
      cmp ecx, 100
      jb low
      add eax, 3
      test ecx, 4
      jnz mid
      mov esi, [edi]
      add edi, 16
      add eax, 5
    low:
      adc edx, ecx
      sub ebx, eax
    mid:
      sbb ebx, 0
      mov [0x7000 + ecx*4], eax
      dec ecx
      jnz again
      int3`;
    for (let budget = 1; budget <= 17; budget++) {
      const a = machine(code(0x8000), true), b = machine(code(0x8000), false);
      sameInSlices(a, b, budget, 5000);
    }
    const a = machine(code(0x8c00), true, (c) => paging(c, [0x9000])), b = machine(code(0x8c00), false, (c) => paging(c, [0x9000]));
    let runs = 0;
    a.jitOnCompile = (blk) => ({ ...blk, run: (cpu, end) => (runs++, blk.run(cpu, end)) });
    expect(a.run(100_000)).toBe(Stop.EXCEPTION);
    expect(b.run(100_000)).toBe(Stop.EXCEPTION);
    expect([a.excVector, a.cr2]).toEqual([Vec.PF, 0x9000]);
    expectSame(a, b);
    // The block before the loop, then the loop's block for every pass up to the fault: the
    // branches taken (half the passes take one) stay in it.
    expect(runs).toBeLessThan(4);
  });

  it("leave at a join after a store to their own page with the flags of the way that fell into it", () => {
    // The store before the join writes the instruction at the join (its own bytes again), which
    // ends the block after the store: the ADD's flag record, pending there, must reach the CPU
    // for the SBB after the join.
    const code = `
      mov ecx, 40
      mov edi, 0x8000
      xor ebx, ebx
    again:
      mov eax, ecx
      imul eax, eax, 0x9e3779b9
      mov edx, [mid]
      test ecx, 4
      jnz mid
      add eax, 0x80000000
      mov [mid], edx
    mid:
      mov esi, [edi]
      sbb ebx, eax
      dec ecx
      jnz again
      int3`;
    const a = machine(code, true), b = machine(code, false);
    expect(a.run(10_000)).toBe(Stop.EXCEPTION);
    expect(b.run(10_000)).toBe(Stop.EXCEPTION);
    expectSame(a, b);
  });

  it("read the TSC at RDTSC's own icount, wherever it falls in a block", () => {
    // A delay loop as Linux's delay_tsc spins, with blocks cut short; in the second, the RDTSC
    // in the loop is the last instruction of its code page, so it ends its block.
    const loop = `
      rdtsc
      sub eax, ebx
      cmp eax, 3000
      jb again
      mov ecx, edx
      int3`;
    const codes = [
      `rdtsc\n mov ebx, eax\n again: ${loop}`,
      `rdtsc\n mov ebx, eax\n jmp again\n times 0xffe - ($ - $$) nop\n again: ${loop}`,
    ];
    for (const [code, limit] of codes.flatMap((c) => [1, 2, 3, 64].map((l) => [c, l] as const))) {
      for (const budget of [1, 2, 5, 7, 100]) {
        const a = machine(code, true, (c) => (c.jitBlockLimit = limit)), b = machine(code, false);
        sameInSlices(a, b, budget, 5000);
        expect(a.jitCompiled).toBeGreaterThan(0);
      }
    }
  });

  it("run NOT, NEG and word shifts by every count with the interpreter's results and flags", () => {
    const ops = ["shl", "shr", "sar"].flatMap((op) => Array.from({ length: 33 }, (_, n) => `${op} dx, ${n}\n pushf\n ${op} si, 1\n pushf`));
    const code = `
      mov esp, 0x9000
      mov edx, 0x1234c5a7
      mov esi, 0x80008001
      ${ops.map((o) => `mov dx, 0xc5a7\n ${o}\n add ebx, edx\n adc ebx, esi`).join("\n")}
      not ebx
      neg bx
      pushf
      neg ecx
      adc eax, ecx
      not cl
      neg dh
      sbb eax, edx
      int3`;
    const a = machine(code, true), b = machine(code, false);
    expect(a.run(100_000)).toBe(Stop.EXCEPTION);
    expect(b.run(100_000)).toBe(Stop.EXCEPTION);
    expectSame(a, b);
  });

  it("chain to blocks in another code page only through a translation the TLB holds", () => {
    const code = `
      mov ecx, 60
    again:
      call callee
      dec ecx
      jnz again
      int3
      times 0x1000 - ($ - $$) nop
    callee:
      add eax, ecx
      ret`;
    for (const paged of [false, true]) {
      for (let budget = 1; budget <= 9; budget++) {
        const a = machine(code, true, paged ? (c) => paging(c) : undefined), b = machine(code, false, paged ? (c) => paging(c) : undefined);
        let chained = 0;
        const next = a.jitNext.bind(a);
        a.jitNext = (end) => {
          const blk = next(end);
          if (blk !== null) chained++;
          return blk;
        };
        sameInSlices(a, b, budget, 1000);
        if (budget >= 4) expect(chained).toBeGreaterThan(0);
      }
    }
    // The callee's page unmapped and the TLB flushed: the chain stops at the CALL and the fetch
    // faults, as the interpreter's does.
    const a = machine(code, true, (c) => paging(c)), b = machine(code, false, (c) => paging(c));
    for (const c of [a, b]) {
      expect(c.run(100)).toBe(Stop.BUDGET);
      c.mem.write32(PT + 4 * ((CODE_BASE + 0x1000) >>> 12), 0);
      c.paging.changed();
      expect(c.run(100)).toBe(Stop.EXCEPTION);
      expect([c.excVector, c.cr2]).toEqual([Vec.PF, CODE_BASE + 0x1000]);
    }
    expectSame(a, b);
  });

  it("count every iteration of a REP string instruction, ending at the budget, as the interpreter does", () => {
    const code = `
      mov ecx, 300
      mov edi, 0x20000
      mov eax, 0x11223344
      rep stosd
      mov ebx, ecx
      int3`;
    for (const budget of [1, 3, 4, 5, 7, 100]) {
      const a = machine(code, true), b = machine(code, false);
      sameInSlices(a, b, budget, 1000);
      expect(a.icount).toBe(3 + 300 + 2);
    }
  });

  it("fault in the middle at the faulting instruction's icount and EIP, the ones before it done", () => {
    const code = `
      mov eax, 1
      mov ebx, 2
      add eax, ebx
      mov ecx, [0x9004]
      mov edx, 4
      int3`;
    const a = machine(code, true, (c) => paging(c, [0x9000])), b = machine(code, false, (c) => paging(c, [0x9000]));
    expect(a.run(100)).toBe(Stop.EXCEPTION);
    expect(b.run(100)).toBe(Stop.EXCEPTION);
    expect([a.excVector, a.cr2, a.eip, a.icount, a.r32[Reg.EAX]]).toEqual([Vec.PF, 0x9004, CODE_BASE + 12, 3, 3]);
    expectSame(a, b);
    expect(a.jitCompiled).toBe(1);
  });

  it("read, write and update bytes and words in line, as the interpreter does at every slice", () => {
    // Byte and word operands in line (Emitter.rd, wr, rmw), aligned and not, a write into the
    // block's own code (which must take the slow path and end the block: the patched immediate
    // is what the next pass adds) and a byte watchpoint's hit.
    const code = `
      mov ecx, 30
      mov edi, 0x8000
      xor ebx, ebx
    again:
      mov al, [edi + ecx]
      add [edi + ecx + 64], al
      inc word [edi + ecx*2 + 128]
      xor byte [edi + 3], cl
      mov dx, [edi + ecx + 1]
      sub [edi + 200], dx
      mov [patch + 2], cl
    patch:
      add ebx, 0x11
      dec ecx
      jnz again
      int3`;
    const setup = (c: Cpu): void => {
      for (let k = 0; k < 256; k++) c.mem.write8(0x8000 + k, (k * 37) & 0xff);
      c.hostDebug = new HostDebug(c);
      c.hostDebug.setWatches([{ lin: 0x8000 + 64 + 9, len: 1, rw: 1 }]);
    };
    const a = machine(code, true, setup), b = machine(code, false, setup);
    for (const c of [a, b]) {
      expect(c.run(10_000)).toBe(Stop.REQUEST);
      expect(c.hostDebug?.hit).toEqual({ kind: "watch", indexes: [0] });
      expect(c.r32[Reg.ECX]).toBe(9);
      c.hostDebug?.setWatches([]);
    }
    expectSame(a, b);
    sameInSlices(a, b, 7, 100);
    expect(a.jitCompiled).toBeGreaterThan(0);
  });

  it("fault at an update of a read-only page before reading it, with the write's error code", () => {
    const code = `
      mov eax, 5
      mov ebx, 0x9000
      add byte [ebx + 1], al
      int3`;
    const setup = (c: Cpu): void => {
      paging(c);
      c.mem.write32(PT + 4 * 9, 0x9000 | P);
      c.cr0 |= 0x10000; // WP: the kernel's writes obey read-only pages too
      c.paging.changed();
      c.mem.write8(0x9001, 0x40); // written since power-on: no page flag sends the update to the CPU's accessors
      c.rd8(0x9001); // the page's translation in the TLB, readable, not writable
    };
    const a = machine(code, true, setup), b = machine(code, false, setup);
    for (const c of [a, b]) {
      expect(c.run(100)).toBe(Stop.EXCEPTION);
      expect([c.excVector, c.excCode, c.cr2, c.eip, c.icount]).toEqual([Vec.PF, 3, 0x9001, CODE_BASE + 10, 2]);
    }
    expectSame(a, b);
    expect(a.mem.read8(0x9001)).toBe(0x40);
    expect(a.jitCompiled).toBe(1);
  });

  it("fault at a loop's first instruction with the registers and flags its passes left", () => {
    // Each pass changes registers (AH and AL among them) and carries its DEC's flag record into
    // the next (PF differs between the first pass's and the last's); the read at the top of the
    // loop faults on the absent page in the 1025th pass.
    const code = `
      mov ebx, 0x8000
      mov ecx, 5001
      mov eax, 0x12345678
      xor edx, edx
    again:
      mov esi, [ebx]
      add ah, cl
      inc al
      xor dh, al
      add ebx, 4
      dec ecx
      jnz again
      int3`;
    const a = machine(code, true, (c) => paging(c, [0x9000])), b = machine(code, false, (c) => paging(c, [0x9000]));
    let runs = 0;
    a.jitOnCompile = (blk) => ({ ...blk, run: (cpu, end) => (runs++, blk.run(cpu, end)) });
    expect(a.run(100_000)).toBe(Stop.EXCEPTION);
    expect(b.run(100_000)).toBe(Stop.EXCEPTION);
    expect([a.excVector, a.cr2, a.r32[Reg.EBX], a.r32[Reg.ECX]]).toEqual([Vec.PF, 0x9000, 0x9000, 5001 - 1024]);
    expectSame(a, b);
    expect(runs).toBeLessThan(4);
  });

  it("keep byte and word registers within their dwords through a loop, a handler among them", () => {
    const code = `
      mov ecx, 40
      mov eax, 0x81828384
      mov edx, 0x01020304
      mov ebx, 0x7f
    again:
      add ah, cl
      setc bl
      sub dl, ah
      movzx esi, dh
      mov [0x8000 + ecx*4], dx
      inc si
      add bh, bl
      xor edx, esi
      mov di, [0x8000 + ecx*4]
      mov al, [0x8001 + ecx*4]
      adc ax, di
      shr edx, 3
      dec ecx
      jnz again
      int3`;
    for (let budget = 1; budget <= 15; budget += 2) {
      const a = machine(code, true), b = machine(code, false);
      sameInSlices(a, b, budget, 1000);
      expect(a.jitCompiled).toBeGreaterThan(0);
    }
  });

  // Aligned, the dword store would hit the TLB's fast path but for the code page's flag: its slow
  // path is what must end the block. The byte store always calls out.
  it.each([
    ["a byte store", "mov byte [patched + 1], 7", ""],
    ["an aligned dword store", "mov dword [patched + 1], 7", "times (3 - ($ - $$)) & 3 nop"],
  ])("run the new bytes when %s in a block rewrites an instruction after it", (_, store, align) => {
    const code = `
      mov edx, 3
      ${store}
      ${align}
    patched:
      mov eax, 1
      add eax, edx
      int3`;
    const a = machine(code, true), b = machine(code, false);
    a.run(100);
    b.run(100);
    expect(a.r32[Reg.EAX]).toBe(10);
    expectSame(a, b);
  });

  it("stop at a host breakpoint inside a block, as often as the interpreter does", () => {
    const code = LOOP.replace("xor eax, 0x55", "here: xor eax, 0x55");
    const bp = CODE_BASE + nasm(code.slice(0, code.indexOf("here:")), 32, CODE_BASE).length;
    const a = machine(code, true), b = machine(code, false);
    for (const c of [a, b]) {
      c.hostDebug = new HostDebug(c);
      c.hostDebug.exec.add(bp);
      c.hostDebug.changed();
    }
    // The first stop at the breakpoint, then resumed (skipping it) to the next.
    for (let k = 0; k < 3; k++) {
      for (const c of [a, b]) {
        c.hostDebug!.skipIcount = c.icount;
        c.hostDebug!.skipLin = bp;
        expect(c.run(10_000)).toBe(Stop.REQUEST);
        expect(c.eip).toBe(bp);
      }
      expectSame(a, b);
    }
  });

  it("run compiled while a host breakpoint is armed elsewhere", () => {
    const code = LOOP.replace("mov ebx, [0x8010]", "here: mov ebx, [0x8010]");
    const bp = CODE_BASE + nasm(code.slice(0, code.indexOf("here:")), 32, CODE_BASE).length;
    const a = machine(code, true), b = machine(code, false);
    let ran = 0;
    a.jitOnCompile = (blk) => ({ ...blk, run: (c, end) => { const ic = c.icount; const next = blk.run(c, end); ran += c.icount - ic; return next; } });
    for (const c of [a, b]) {
      c.hostDebug = new HostDebug(c);
      c.hostDebug.exec.add(bp);
      c.hostDebug.changed();
      expect(c.run(10_000)).toBe(Stop.REQUEST);
      expect(c.eip).toBe(bp);
    }
    expectSame(a, b);
    // The loop's 250 instructions, but for those the interpreter ran before the block was compiled.
    expect(ran).toBeGreaterThan(200);
  });

  it("stop after the instruction that touches a host watchpoint, with the block's compiled code", () => {
    const code = `
      mov ecx, 20
    again:
      mov eax, [0x7000 + ecx*4]
      add eax, ecx
      mov [0x7100 + ecx*4], eax
      dec ecx
      jnz again
      int3`;
    const watch = 0x7100 + 4 * 7;
    const a = machine(code, true), b = machine(code, false);
    for (const c of [a, b]) {
      c.hostDebug = new HostDebug(c);
      c.hostDebug.setWatches([{ lin: watch, len: 4, rw: 1 }]);
      expect(c.run(10_000)).toBe(Stop.REQUEST);
      expect(c.hostDebug.hit).toEqual({ kind: "watch", indexes: [0] });
      expect(c.r32[Reg.ECX]).toBe(7);
    }
    expectSame(a, b);
    expect(a.jitCompiled).toBeGreaterThan(0);
  });

  it("keep their code across a restore that leaves its bytes alone, and drop it when they change", () => {
    const a = machine(LOOP, true);
    const saved = { cpu: a.save(), ram: a.mem.save() };
    a.run(10_000);
    const compiled = a.jitCompiled;
    expect(compiled).toBeGreaterThan(0);
    const done = cpuState(a);
    a.mem.restore(saved.ram);
    a.restore(saved.cpu);
    a.run(10_000);
    expect(a.jitCompiled).toBe(compiled);
    expect(stateDiff(cpuState(a), done)).toEqual([]);
    // The same snapshot with the loop's ADD EAX, ECX made ADD EAX, EDX: compiled again.
    const patched = saved.ram.bytes.slice();
    const at = CODE_BASE + nasm(LOOP.slice(0, LOOP.indexOf("again:")), 32, CODE_BASE).length;
    expect(patched[at + 1]).toBe(0xc8);
    patched[at + 1] = 0xd0;
    a.mem.restore({ size: saved.ram.size, bytes: patched });
    a.restore(saved.cpu);
    a.run(10_000);
    expect(a.jitCompiled).toBeGreaterThan(compiled);
    const b = machine(LOOP, false);
    b.mem.restore({ size: saved.ram.size, bytes: patched });
    b.restore(saved.cpu);
    b.run(10_000);
    expectSame(a, b);
  });

  it("follow a data segment whose base changes between runs of the same block", () => {
    const code = `
      mov ecx, 4
    again:
      mov eax, [0x100]
      add [0x104], eax
      dec ecx
      jnz again
      int3`;
    const a = machine(code, true), b = machine(code, false);
    for (const c of [a, b]) {
      c.mem.write32(0x100, 5);
      c.mem.write32(0x20100, 7);
      expect(c.run(7)).toBe(Stop.BUDGET);
      c.setSegCache(Seg.DS, 0x18, 0x20000, 0xffffffff, FLAT_DATA);
      expect(c.run(100)).toBe(Stop.EXCEPTION);
    }
    expectSame(a, b);
    expect(a.mem.read32(0x104)).toBe(10);
    expect(a.mem.read32(0x20104)).toBe(14);
  });

  it("are never made from code above RAM, which reads as 0xff bytes", () => {
    // RAM is 1 MiB: a jump to 0x200000 fetches FF FF there, #UD, on both machines.
    const a = machine("mov eax, 0x200000\njmp eax", true), b = machine("mov eax, 0x200000\njmp eax", false);
    for (const c of [a, b]) {
      expect(c.run(100)).toBe(Stop.EXCEPTION);
      expect(c.excVector).toBe(Vec.UD);
      expect(c.eip).toBe(0x200000);
    }
    expectSame(a, b);
  });

  it("leave a block at an x87 instruction that waits for FERR#'s interrupt, with EIP at it", () => {
    // CR0.NE clear and an unmasked division by zero pending: the next FLD1 asserts FERR# and waits.
    const code = `
      fninit
      push dword 0x037b
      fldcw [esp]
      fldz
      fld1
      fdiv st0, st1
      fld1
      int3`;
    const setup = (c: Cpu): void => { c.fpu.ferr = () => false; };
    const a = machine(code, true, setup), b = machine(code, false, setup);
    for (const c of [a, b]) {
      expect(c.run(100)).toBe(Stop.HALT);
      expect(c.halted).toBe(true);
      expect(c.mem.read8(c.eip)).toBe(0xd9); // FLD1
    }
    expectSame(a, b);
    expect(a.jitCompiled).toBeGreaterThan(0);
  });
});

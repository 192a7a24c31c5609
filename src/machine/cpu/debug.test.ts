import { describe, expect, it } from "vitest";
import { Flag } from "../../x86/eflags.js";
import { Reg } from "../../x86/insn.js";
import { bareCpu, CODE_BASE, nasm, runAsm } from "../../../test/support/cpu.js";
import { type Cpu } from "./cpu.js";
import { Armed, SegAttr, Stop } from "./arch.js";
import { Vec } from "../../x86/vectors.js";
import { HostDebug } from "./debug.js";
import { writeDescriptor, writeGate } from "./segments.js";

/** Runs until `int3`, collecting the EIP of every #DB stop (trapExceptions stops without delivering). */
function trace(cpu: Cpu): number[] {
  const eips: number[] = [];
  for (let k = 0; k < 100; k++) {
    const stop = cpu.run(1000);
    if (stop !== Stop.EXCEPTION || cpu.excVector !== Vec.DB) break;
    eips.push(cpu.eip);
  }
  return eips;
}

/** Assembles `source` at CODE_BASE, returning the address of each `label:` as well. */
function program(source: string): { code: Uint8Array; labels: Record<string, number> } {
  const names = [...source.matchAll(/^\s*(\w+):/gm)].map((m) => m[1]);
  const code = nasm(`${source}\n${names.map((n) => `dd ${n}`).join("\n")}`, 32, CODE_BASE);
  const labels: Record<string, number> = {};
  const view = new DataView(code.buffer, code.byteOffset);
  names.forEach((n, k) => { labels[n] = view.getUint32(code.length - 4 * (names.length - k), true); });
  return { code, labels };
}

describe("debug exceptions", () => {
  it("single-steps with TF: a trap after each instruction that began with TF set, none after the POPF that set it", () => {
    const { code, labels } = program(`
      pushfd
      or dword [esp], 0x100
      popfd
    a: mov eax, 1
    b: mov ebx, 2
    c: pushfd
    d: and dword [esp], ~0x100
    e: popfd
    f: mov ecx, 3
      int3`);
    const { cpu } = bareCpu(code);
    expect(trace(cpu)).toEqual([labels.b, labels.c, labels.d, labels.e, labels.f]);
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.dr[6] & 0x4000).toBe(0x4000); // BS
    expect(cpu.r32[Reg.ECX]).toBe(3);
  });

  it("single-steps a REP string instruction one iteration at a time, EIP at it while ECX is not 0", () => {
    // SDM vol. 3, 17.3.1.4; QEMU agrees (guests/conformance/corners.asm).
    const { code, labels } = program(`
      mov esi, 0x3000
      mov edi, 0x4000
      mov ecx, 3
      pushfd
      or dword [esp], 0x100
      popfd
    a: rep movsb
    b: nop
      int3`);
    const { cpu } = bareCpu(code);
    const ecx: number[] = [];
    const eips: number[] = [];
    const icounts: number[] = [];
    for (let k = 0; k < 10; k++) {
      const stop = cpu.run(1000);
      if (stop !== Stop.EXCEPTION || cpu.excVector !== Vec.DB) break;
      eips.push(cpu.eip);
      ecx.push(cpu.r32[Reg.ECX]);
      icounts.push(cpu.icount);
    }
    // After the third iteration ECX is 0 and the instruction is done: the trap has EIP past it.
    expect(eips).toEqual([labels.a, labels.a, labels.b, labels.b + 1]);
    expect(ecx).toEqual([2, 1, 0, 0]);
    // Six instructions before it; each iteration of the REP retires.
    expect(icounts).toEqual([7, 8, 9, 10]);
    expect(cpu.mem.read8(0x4002)).toBe(cpu.mem.read8(0x3002));
  });

  it("holds the single-step trap after MOV SS and POP SS until the next instruction has run", () => {
    // SDM vol. 3, 6.8.3: one trap, after the instruction that follows the stack switch.
    const { code, labels } = program(`
      pushfd
      or dword [esp], 0x100
      popfd
    a: mov ax, ss
    b: mov ss, ax
    c: mov ebx, 1
    d: push ss
    e: pop ss
    f: mov ecx, 2
    g: nop
      int3`);
    const { cpu } = bareCpu(code);
    cpu.gdtrBase = 0x500;
    cpu.gdtrLimit = 0x17;
    writeDescriptor(cpu, 0x510, 0, 0xfffff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.DB | SegAttr.G);
    expect(trace(cpu)).toEqual([labels.b, labels.d, labels.e, labels.g, labels.g + 1]);
    expect(cpu.r32[Reg.ECX]).toBe(2);
  });

  it("delivers single-step traps through the IDT, with TF clear in the handler and back on after IRET", () => {
    // The #DB handler counts its calls in EDI; the stepped code runs three instructions after POPF.
    const { cpu, stop } = runAsm(`
      pushfd
      or dword [esp], 0x100
      popfd
      nop
      nop
      pushfd
      and dword [esp], ~0x100
      popfd
      hlt
      times 0x100 - ($ - $$) db 0xcc
      inc edi
      pushfd
      pop esi
      iret`, (c) => {
      c.trapExceptions = false;
      c.gdtrBase = 0x500;
      c.gdtrLimit = 0x17;
      writeDescriptor(c, 0x508, 0, 0xfffff, SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.DB | SegAttr.G);
      c.idtrBase = 0x4000;
      c.idtrLimit = 0x7ff;
      writeGate(c, 0x4000 + 8, 0x08, 0x1100, 0xe, 0);
    });
    expect(stop).toBe(Stop.HALT);
    expect(cpu.r32[Reg.EDI]).toBe(5); // after nop, nop, pushfd, and, popfd
    expect(cpu.r32[Reg.ESI] & Flag.TF).toBe(0);
  });

  it("stops at a DR0 execute breakpoint before the instruction runs, and RF lets it run once", () => {
    const { code, labels } = program(`
      mov eax, target
      mov dr0, eax
      mov eax, 0x401      ; L0, R/W0 = execute, LEN0 = 1 byte
      mov dr7, eax
      mov eax, 1
      jmp target
      nop
    target: mov eax, 2
      int3`);
    const { cpu } = bareCpu(code);
    expect(cpu.run(1000)).toBe(Stop.EXCEPTION);
    expect(cpu.excVector).toBe(Vec.DB);
    expect(cpu.eip).toBe(labels.target);
    expect(cpu.r32[Reg.EAX]).toBe(1);
    expect(cpu.dr[6] & 0xf).toBe(1);
    // A handler would IRET with RF set in the image: the breakpoint is suppressed for one instruction.
    cpu.flags |= Flag.RF;
    expect(cpu.run(1000)).toBe(Stop.EXCEPTION);
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.r32[Reg.EAX]).toBe(2);
    expect(cpu.getEflags() & Flag.RF).toBe(0);
  });

  it("traps after a write that touches a DR1 write watchpoint, but not after a read of it", () => {
    const { cpu } = runAsm(`
      mov eax, 0x3002
      mov dr1, eax
      mov eax, 0x5 << 20 | 0x8   ; R/W1 = write, LEN1 = 2 bytes, G1
      mov dr7, eax
      mov ebx, [0x3000]
      mov dword [0x3000], 0xdead
      mov ecx, 1
      int3`);
    expect(cpu.excVector).toBe(Vec.DB);
    expect(cpu.mem.read32(0x3000)).toBe(0xdead); // a trap: the write happened
    expect(cpu.r32[Reg.ECX]).toBe(0);
    expect(cpu.dr[6] & 0xf).toBe(2); // B1
    expect(cpu.mem.read8(cpu.eip)).toBe(0xb9); // stopped before MOV ECX
    expect(cpu.run(100)).toBe(Stop.EXCEPTION);
    expect(cpu.excVector).toBe(Vec.BP);
  });

  it("traps right after the REP iteration that writes a watched byte, EIP at the REP, the rest to do", () => {
    // SDM vol. 3, 17.3.1.2: a repeated string instruction reports a data breakpoint after the
    // iteration that hit it.
    const { cpu } = runAsm(`
      mov eax, 0x3005
      mov dr1, eax
      mov eax, 0x1 << 20 | 0x8   ; R/W1 = write, LEN1 = 1 byte, G1
      mov dr7, eax
      mov edi, 0x3000
      mov ecx, 16
      mov al, 7
      rep stosb
      int3`);
    expect(cpu.excVector).toBe(Vec.DB);
    expect(cpu.dr[6] & 0xf).toBe(2); // B1
    expect([cpu.r32[Reg.ECX], cpu.r32[Reg.EDI]]).toEqual([10, 0x3006]);
    expect([cpu.mem.read8(0x3005), cpu.mem.read8(0x3006)]).toEqual([7, 0]);
    expect(cpu.mem.read8(cpu.eip)).toBe(0xf3); // at the REP
    expect(cpu.icount).toBe(7 + 6); // seven instructions, six iterations
    expect(cpu.run(100)).toBe(Stop.EXCEPTION);
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.r32[Reg.ECX]).toBe(0);
  });

  it("watches through the page tables too: a read/write watchpoint on a paged address", () => {
    const { cpu } = runAsm(`
      mov eax, cr4
      or eax, 0x10
      mov cr4, eax
      mov eax, 0x10000
      mov cr3, eax
      mov eax, cr0
      or eax, 0x80000000
      mov cr0, eax
      mov eax, 0x400104
      mov dr2, eax
      mov eax, 0xf << 24 | 0x20  ; R/W2 = read/write, LEN2 = 4 bytes, G2
      mov dr7, eax
      mov ebx, [0x400100]   ; the four bytes before the watched ones
      mov ebx, [0x400106]   ; overlaps the last two
      mov ecx, 1
      int3`, (c) => {
      c.mem.write32(0x10000, 0x83); // 0–4 MiB identity (PSE)
      c.mem.write32(0x10004, 0x83); // 4–8 MiB → 0
      c.mem.write32(0x104, 0x56781234);
    });
    expect(cpu.excVector).toBe(Vec.DB);
    expect(cpu.r32[Reg.EBX]).toBe(0x5678); // 0x400106 → phys 0x106
    expect(cpu.r32[Reg.ECX]).toBe(0);
    expect(cpu.dr[6] & 0xf).toBe(4); // B2
  });

  it("raises #DB with DR6.BD on MOV DR under DR7.GD and clears GD; INT1 traps", () => {
    const gd = runAsm(`
      mov eax, 0x2000
      mov dr7, eax
      mov eax, dr0`);
    expect(gd.cpu.excVector).toBe(Vec.DB);
    expect(gd.cpu.dr[6] & 0x2000).toBe(0x2000);
    expect(gd.cpu.dr[7] & 0x2000).toBe(0);
    expect(gd.cpu.eip).toBe(CODE_BASE + 5 + 3); // a fault: at the MOV
    const icebp = runAsm(`db 0xf1\nnop`);
    expect(icebp.cpu.excVector).toBe(Vec.DB);
    expect(icebp.cpu.eip).toBe(CODE_BASE + 1);
  });
});

describe("the host debugger's watchpoints and steps", () => {
  /** Runs until the host debugger stops the CPU; what stopped it and where. */
  function hostRun(cpu: Cpu, h: HostDebug): { hit: HostDebug["hit"]; eip: number } {
    h.hit = null;
    const stop = cpu.run(10_000);
    expect(stop).toBe(Stop.REQUEST);
    return { hit: h.hit, eip: cpu.eip };
  }

  it("reports each of six watchpoints after the instruction that wrote it, and one spanning two pages", () => {
    const { code, labels } = program(`
      a: mov dword [0x3000], 1
      b: mov byte [0x3105], 2
      c: mov word [0x4ffe], 3
      d: mov ebx, [0x5001]
      e: mov dword [0x5800], 4
      f: mov dword [0x6000], 5
      g: mov dword [0x7000], 6
      h: int3`);
    const { cpu } = bareCpu(code);
    const h = new HostDebug(cpu);
    cpu.hostDebug = h;
    const watches = [
      { lin: 0x7000, len: 4, rw: 1 }, { lin: 0x3104, len: 4, rw: 1 }, { lin: 0x3000, len: 1, rw: 1 },
      // Two bytes either side of a page boundary, read and written: the read at d touches the second page only.
      { lin: 0x4fff, len: 3, rw: 3 }, { lin: 0x5802, len: 2, rw: 1 }, { lin: 0x6000, len: 4, rw: 1 },
    ];
    h.setWatches(watches);
    const stops = [];
    for (let k = 0; k < 7; k++) stops.push(hostRun(cpu, h));
    const after = (label: string) => labels[String.fromCharCode(label.charCodeAt(0) + 1)];
    expect(stops.map((s) => s.hit)).toEqual([2, 1, 3, 3, 4, 5, 0].map((index) => ({ kind: "watch", indexes: [index] })));
    expect(stops.map((s) => s.eip)).toEqual(["a", "b", "c", "d", "e", "f", "g"].map(after));
    h.setWatches([]);
    expect(cpu.run(100)).toBe(Stop.EXCEPTION);
  });

  it("reports every watchpoint one instruction touches", () => {
    const { code, labels } = program(`
      a: mov dword [0x3000], 1
      b: int3`);
    const { cpu } = bareCpu(code);
    const h = new HostDebug(cpu);
    cpu.hostDebug = h;
    h.setWatches([{ lin: 0x3003, len: 1, rw: 1 }, { lin: 0x2fff, len: 2, rw: 3 }, { lin: 0x3004, len: 4, rw: 1 }]);
    expect(hostRun(cpu, h)).toEqual({ hit: { kind: "watch", indexes: [0, 1] }, eip: labels.b });
  });

  it("ends a step before the next instruction, and a range step at the first instruction outside the range", () => {
    const { code, labels } = program(`
      start: mov ecx, 3
      loop: dec ecx
      jnz loop
      out: nop
      int3`);
    const { cpu } = bareCpu(code);
    const h = new HostDebug(cpu);
    cpu.hostDebug = h;
    const step = (start: number, end: number) => {
      h.stepIcount = cpu.icount;
      h.stepEip = cpu.eip;
      h.rangeStart = start;
      h.rangeEnd = end;
      h.changed();
      const r = hostRun(cpu, h);
      h.stepIcount = -1;
      h.changed();
      return r;
    };
    expect(step(0, 0)).toEqual({ hit: { kind: "step" }, eip: labels.loop });
    expect(cpu.icount).toBe(1);
    expect(step(labels.loop, labels.out)).toEqual({ hit: { kind: "step" }, eip: labels.out });
    expect(cpu.icount).toBe(7); // three times dec and jnz
    expect(cpu.dbgArmed & Armed.HOST).toBe(0);
  });
});

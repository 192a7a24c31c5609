import { describe, expect, it } from "vitest";
import { Flag } from "../../../x86/eflags.js";
import { Reg, Seg } from "../../../x86/insn.js";
import { identityPaging, PAGING_ON, runAsm } from "../../../../test/support/cpu.js";
import { type Cpu } from "../cpu.js";
import { SegAttr, Stop } from "../arch.js";
import { Vec } from "../../../x86/vectors.js";
import { writeDescriptor } from "../segments.js";

const CODE3 = SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.DB | SegAttr.G | (3 << SegAttr.DPL_SHIFT);
const DATA3 = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.DB | SegAttr.G | (3 << SegAttr.DPL_SHIFT);
const DATA32 = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.DB | SegAttr.G;

/** CPL 3, with a 32-bit TSS at 0x6000 whose I/O bitmap (at +0x68) allows only ports 0x60–0x67. */
function user(c: Cpu): void {
  c.cpl = 3;
  c.setSegCache(Seg.CS, 0x1b, 0, 0xffffffff, CODE3);
  c.setSegCache(Seg.SS, 0x23, 0, 0xffffffff, DATA3);
  c.trBase = 0x6000;
  c.trLimit = 0x68 + 0x2000;
  c.trAttr = 0x8b;
  c.mem.write16(0x6066, 0x68);
  for (let k = 0; k < 0x2000; k++) c.mem.write8(0x6068 + k, 0xff);
  c.mem.write8(0x6068 + (0x60 >> 3), 0);
}

function fault(r: { cpu: Cpu }): [number, number] {
  return [r.cpu.excVector, r.cpu.excCode];
}

describe("port I/O", () => {
  it("reads and writes ports through the I/O bus", () => {
    const { cpu, io } = runAsm(`
      mov al, 0x41
      out 0x80, al
      mov dx, 0x3f8
      mov eax, 0x12345678
      out dx, eax
      in al, 0x61
      mov bl, al
      in ax, dx
      int3`, (c) => { (c.io as unknown as { ins: Map<number, number> }).ins.set(0x61, 0x20); });
    expect(io.outs).toEqual([[0x80, 0x41, 1], [0x3f8, 0x12345678, 4]]);
    expect(cpu.r8[Reg.EBX * 4]).toBe(0x20);
    expect(cpu.r16[0]).toBe(0xffff);
  });

  it("consults the TSS I/O bitmap when CPL > IOPL", () => {
    let r = runAsm(`in al, 0x60\n in eax, 0x64\n int3`, user);
    expect(r.cpu.excVector).toBe(Vec.BP);
    r = runAsm(`in al, 0x70\n int3`, user);
    expect(fault(r)).toEqual([Vec.GP, 0]);
    r = runAsm(`in eax, 0x66`, user); // 0x66..0x69 reaches a denied port
    expect(fault(r)).toEqual([Vec.GP, 0]);
  });

  it("allows all ports when CPL ≤ IOPL", () => {
    const r = runAsm(`in al, 0x70\n int3`, (c) => { user(c); c.flags |= Flag.IOPL; });
    expect(r.cpu.excVector).toBe(Vec.BP);
  });
});

describe("CLI, STI, HLT", () => {
  it("STI sets IF and shadows the next instruction; CLI clears it", () => {
    const { cpu } = runAsm(`sti\n int3`);
    expect(cpu.getEflags() & Flag.IF).toBe(Flag.IF);
    expect(cpu.irqShadowAt).toBe(1);
    expect(runAsm(`sti\n cli\n int3`).cpu.getEflags() & Flag.IF).toBe(0);
  });

  it("CLI and STI at CPL 3 with IOPL 0 raise #GP(0)", () => {
    expect(fault(runAsm(`cli`, user))).toEqual([Vec.GP, 0]);
    expect(fault(runAsm(`sti`, user))).toEqual([Vec.GP, 0]);
  });

  it("HLT stops the CPU halted, and is privileged", () => {
    const { cpu, stop } = runAsm(`hlt\n int3`);
    expect(stop).toBe(Stop.HALT);
    expect(cpu.halted).toBe(true);
    expect(cpu.eip).toBe(0x1001);
    expect(fault(runAsm(`hlt`, user))).toEqual([Vec.GP, 0]);
  });
});

describe("CPUID and RDTSC", () => {
  const text = (...regs: number[]): string =>
    regs.map((v) => String.fromCharCode(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24)).join("");

  it("answers the vendor, the signature and the brand string", () => {
    const { cpu } = runAsm(`
      xor eax, eax
      cpuid
      mov [0x3000], ebx
      mov [0x3004], edx
      mov [0x3008], ecx
      mov [0x300c], eax
      mov eax, 1
      cpuid
      mov [0x3010], eax
      mov [0x3014], edx
      mov eax, 0x80000000
      cpuid
      mov [0x3018], eax
      mov eax, 0x80000002
      cpuid
      int3`);
    const m = cpu.mem;
    expect(text(m.read32(0x3000), m.read32(0x3004), m.read32(0x3008))).toBe(cpu.model.vendor);
    expect(m.read32(0x300c)).toBe(1);
    expect(m.read32(0x3010)).toBe(0x652);
    expect(m.read32(0x3014)).toBe(cpu.model.features);
    expect(m.read32(0x3018) >>> 0).toBe(0x80000004);
    expect(text(cpu.r32[0], cpu.r32[3], cpu.r32[1], cpu.r32[2])).toBe(cpu.model.brand.padEnd(48, "\0").slice(0, 16));
  });

  it("answers unknown leaves with the highest basic leaf, as Intel does", () => {
    const { cpu } = runAsm(`mov eax, 0x1234\n cpuid\n int3`);
    expect(cpu.r32[Reg.EAX]).toBe(0x652);
    expect(cpu.r32[Reg.EDX]).toBe(cpu.model.features);
  });

  it("RDTSC reads the retired-instruction clock", () => {
    const { cpu } = runAsm(`nop\n nop\n rdtsc\n int3`, (c) => { c.tscPerInsn = 3; c.tscOffset = 0x100000000n; });
    expect(cpu.r32[Reg.EAX]).toBe(6);
    expect(cpu.r32[Reg.EDX]).toBe(1);
  });

  it("RDTSC wraps at 64 bits, the same past 2^53 as below it", () => {
    const at = (offset: bigint): bigint => {
      const { cpu } = runAsm(`nop\n nop\n rdtsc\n int3`, (c) => { c.tscPerInsn = 3; c.tscOffset = offset; });
      return (BigInt(cpu.r32[Reg.EDX] >>> 0) << 32n) | BigInt(cpu.r32[Reg.EAX] >>> 0);
    };
    expect(at(2n ** 53n - 7n)).toBe(2n ** 53n - 1n);
    expect(at(2n ** 53n - 6n)).toBe(2n ** 53n);
    expect(at(2n ** 60n + 5n)).toBe(2n ** 60n + 11n);
    expect(at(-6n)).toBe(0n);
    expect(at(-7n)).toBe(2n ** 64n - 1n);
  });

  it("RDTSC at CPL 3 with CR4.TSD raises #GP(0)", () => {
    expect(fault(runAsm(`rdtsc`, (c) => { user(c); c.cr4 |= 4; }))).toEqual([Vec.GP, 0]);
    expect(runAsm(`rdtsc\n int3`, user).cpu.excVector).toBe(Vec.BP);
  });
});

describe("segment register moves and far pointers", () => {
  function gdt(c: Cpu): void {
    c.gdtrBase = 0x500;
    c.gdtrLimit = 0x3f;
    writeDescriptor(c, 0x510, 0, 0xfffff, DATA32);
    writeDescriptor(c, 0x518, 0x20000, 0xff, DATA32 & ~SegAttr.G);
  }

  it("MOV Sreg loads the descriptor; MOV r32, Sreg zero-extends", () => {
    const { cpu } = runAsm(`
      mov eax, -1
      mov ax, 0x18
      mov fs, ax
      mov ebx, -1
      mov ebx, fs
      mov word [0x3000], 0xffff
      mov [0x3000], ds
      int3`, gdt);
    expect(cpu.segBase[Seg.FS]).toBe(0x20000);
    expect(cpu.segLimit[Seg.FS]).toBe(0xff);
    expect(cpu.r32[Reg.EBX]).toBe(0x18);
    expect(cpu.mem.read16(0x3000)).toBe(0x10);
  });

  it("MOV to CS is #UD and MOV SS shadows the next instruction", () => {
    expect(fault(runAsm(`db 0x8e, 0xc8`, gdt))).toEqual([Vec.UD, -1]);
    const { cpu } = runAsm(`mov ax, 0x10\n mov ss, ax\n int3`, gdt);
    expect(cpu.irqShadowAt).toBe(2);
  });

  it("LDS, LES, LFS, LGS and LSS load a far pointer", () => {
    const { cpu } = runAsm(`
      mov dword [0x3000], 0x12345678
      mov word [0x3004], 0x18
      lgs esi, [0x3000]
      lss esp, [0x3000]
      int3`, gdt);
    expect(cpu.r32[Reg.ESI]).toBe(0x12345678);
    expect(cpu.segSel[Seg.GS]).toBe(0x18);
    expect(cpu.segBase[Seg.GS]).toBe(0x20000);
    expect(cpu.segSel[Seg.SS]).toBe(0x18);
    expect(cpu.r32[Reg.ESP]).toBe(0x12345678);
  });

  it("LSS with a register operand is #UD", () => {
    expect(fault(runAsm(`db 0x0f, 0xb2, 0xc0`, gdt))).toEqual([Vec.UD, -1]);
  });

  it("LES in real mode loads the paragraph base", () => {
    const { cpu } = runAsm(`
      mov word [0x3000], 0x10
      mov word [0x3002], 0x2000
      les di, [0x3000]
      int3`, undefined, { mode: "real" });
    expect(cpu.segBase[Seg.ES]).toBe(0x20000);
    expect(cpu.reg16(Reg.EDI)).toBe(0x10);
  });
});

describe("the LOCK prefix and undefined opcodes", () => {
  it("allows LOCK on a read-modify-write instruction with a memory destination", () => {
    const { cpu } = runAsm(`
      mov dword [0x3000], 1
      lock add dword [0x3000], 2
      lock inc dword [0x3000]
      int3`);
    expect(cpu.mem.read32(0x3000)).toBe(4);
  });

  it("raises #UD for LOCK with a register destination or on a non-lockable instruction", () => {
    expect(fault(runAsm(`db 0xf0, 0x01, 0xc0`))).toEqual([Vec.UD, -1]); // lock add eax, eax
    expect(fault(runAsm(`db 0xf0, 0x90`))).toEqual([Vec.UD, -1]); // lock nop
    expect(fault(runAsm(`db 0xf0, 0x39, 0x05\n dd 0x3000`))).toEqual([Vec.UD, -1]); // lock cmp [m], eax
    expect(fault(runAsm(`db 0xf0, 0x8b, 0x05\n dd 0x3000`))).toEqual([Vec.UD, -1]); // lock mov eax, [m]
  });

  it("raises #GP(0), not #UD, for an instruction longer than 15 bytes", () => {
    const r = runAsm(`times 15 db 0x66\n nop`);
    expect(fault(r)).toEqual([Vec.GP, 0]);
    expect(r.cpu.eip).toBe(0x1000);
    expect(fault(runAsm(`times 14 db 0x66\n nop\n int3`))).toEqual([Vec.BP, -1]);
  });

  it("UD2 raises #UD and WAIT does nothing", () => {
    const r = runAsm(`wait\n ud2`);
    expect(fault(r)).toEqual([Vec.UD, -1]);
    expect(r.cpu.eip).toBe(0x1001);
  });
});

describe("RDMSR and WRMSR", () => {
  it("reads microcode revision 0 from IA32_BIOS_SIGN_ID after the write of 0 that precedes it", () => {
    const { cpu } = runAsm(`
      mov ecx, 0x8b
      xor eax, eax
      xor edx, edx
      wrmsr
      mov eax, 1
      cpuid
      mov ecx, 0x8b
      mov edx, -1
      rdmsr
      int3`);
    expect(cpu.r32[Reg.EDX]).toBe(0);
  });

  it("reads platform 0 from IA32_PLATFORM_ID, which is read-only", () => {
    const { cpu } = runAsm(`mov ecx, 0x17\n mov eax, -1\n mov edx, -1\n rdmsr\n int3`);
    expect([cpu.r32[Reg.EAX], cpu.r32[Reg.EDX]]).toEqual([0, 0]);
    const w = runAsm(`mov ecx, 0x17\n xor eax, eax\n xor edx, edx\n wrmsr\n int3`);
    expect(fault(w)).toEqual([Vec.GP, 0]);
  });

  it("raises #GP(0) for a write of IA32_PAT with a reserved memory type in an entry, and keeps a valid one", () => {
    expect(fault(runAsm(`mov ecx, 0x277\n mov eax, 0x00070406\n mov edx, 0x00070306\n wrmsr\n int3`))).toEqual([Vec.GP, 0]);
    expect(fault(runAsm(`mov ecx, 0x277\n mov eax, 0x00080406\n xor edx, edx\n wrmsr\n int3`))).toEqual([Vec.GP, 0]);
    const { cpu } = runAsm(`mov ecx, 0x277\n mov eax, 0x00010506\n mov edx, 0x07040100\n wrmsr\n rdmsr\n int3`);
    expect([cpu.excVector, cpu.r32[Reg.EAX], cpu.r32[Reg.EDX]]).toEqual([Vec.BP, 0x00010506, 0x07040100]);
  });

  it("raises #GP(0) for an MSR the model does not have", () => {
    const r = runAsm(`mov ecx, 0x186\n rdmsr\n int3`);
    expect(fault(r)).toEqual([Vec.GP, 0]);
  });
});

describe("RDPMC", () => {
  it("is #GP(0) outside ring 0 unless CR4.PCE is set, and reads counters 0 and 1 as zero", () => {
    expect(fault(runAsm(`rdpmc\n int3`, user))).toEqual([Vec.GP, 0]);
    const { cpu } = runAsm(`xor ecx, ecx\n mov eax, -1\n mov edx, -1\n rdpmc\n int3`, (c) => { user(c); c.cr4 |= 0x100; });
    expect([cpu.excVector, cpu.r32[Reg.EAX], cpu.r32[Reg.EDX]]).toEqual([Vec.BP, 0, 0]);
  });

  it("is #GP(0) for a counter the P6 does not have", () => {
    expect(fault(runAsm(`mov ecx, 2\n rdpmc\n int3`))).toEqual([Vec.GP, 0]);
  });
});

describe("ARPL", () => {
  const readOnly = (c: Cpu): void => c.setSegCache(Seg.DS, 0x10, 0, 0xffffffff, SegAttr.P | SegAttr.S | SegAttr.ACCESSED | SegAttr.DB | SegAttr.G);

  it("leaves a memory selector on a read-only data segment alone, without a fault, when its RPL is high enough", () => {
    // SDM ARPL: DEST is written only when its RPL is raised; QEMU agrees (it checks no segment types).
    const { cpu } = runAsm(`mov ax, 1\n arpl [0x3000], ax\n int3`, (c) => {
      c.mem.write16(0x3000, 0x13);
      readOnly(c);
    });
    expect(cpu.excVector).toBe(Vec.BP);
    expect(cpu.getEflags() & Flag.ZF).toBe(0);
    expect(cpu.mem.read16(0x3000)).toBe(0x13);
  });

  it("does not write to a read-only page (CR0.WP) when the RPL stays", () => {
    const { cpu } = runAsm(`${PAGING_ON}\n mov ax, 2\n arpl [0x3000], ax\n int3`, (c) => {
      c.mem.write16(0x3000, 0x12);
      identityPaging(c, (p) => (p === 3 ? 5 : 7));
    });
    expect(cpu.excVector).toBe(Vec.BP);
  });

  it("raises #GP(0) when it must raise the RPL of a selector on a read-only segment", () => {
    const { cpu } = runAsm(`mov ax, 3\n arpl [0x3000], ax\n int3`, (c) => {
      c.mem.write16(0x3000, 0x10);
      readOnly(c);
    });
    expect([cpu.excVector, cpu.excCode]).toEqual([Vec.GP, 0]);
    expect(cpu.mem.read16(0x3000)).toBe(0x10);
  });

  it("raises the RPL of a writable memory selector and sets ZF", () => {
    const { cpu } = runAsm(`mov ax, 3\n arpl [0x3000], ax\n int3`, (c) => c.mem.write16(0x3000, 0x10));
    expect(cpu.mem.read16(0x3000)).toBe(0x13);
    expect(cpu.getEflags() & Flag.ZF).toBe(Flag.ZF);
  });
});

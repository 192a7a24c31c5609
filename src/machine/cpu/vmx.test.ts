import { describe, expect, it } from "vitest";
import { Reg } from "../../x86/insn.js";
import { bareCpu, CODE_BASE, nasm } from "../../../test/support/cpu.js";
import {
  CAPS, ExitCtl, ExitReason, Field, IntType, Pin, Proc, VMCS_REVISION_ID, VmInsnError, crQualification, CrAccess,
  decodeIntInfo, decodeIoQualification, intInfo, INT_INFO_VALID, EXIT_REASON_ENTRY_FAILURE, Proc2, makeEptp,
  decodeEptViolation, eptMap, PAGE_4K, insOutsInfo, decodeTaskSwitch, TaskSource,
} from "../../vmx/index.js";
import { type Cpu } from "./cpu.js";
import { Armed, Stop } from "./arch.js";
import { Vmx, VmxResult } from "./vmx.js";

const VMXON = 0x10000, VMCS = 0x11000, VMCS2 = 0x12000, PD = 0x2000, IDT = 0x3000, GDT = 0x4000;
const IO_A = 0x13000, IO_B = 0x14000, MSR_BITMAP = 0x15000;
const CODE32 = 0xc09b, DATA32 = 0xc093, TSS32_BUSY = 0x8b, UNUSABLE = 0x10000;

/**
 * A CPU in VMX operation with a current VMCS for a flat 32-bit guest with identity paging (one
 * 4 MiB page), a GDT and an IDT whose gates 0x20-0x2f and 14 point at `handler:` in the guest.
 */
function vm(source: string, proc = 0, pin = 0): { cpu: Cpu; x: Vmx; out: [number, number, number][] } {
  const code = nasm(source, 32, CODE_BASE);
  const { cpu, io } = bareCpu(code);
  cpu.trapExceptions = false;
  const mem = cpu.mem;
  mem.write32(PD, 0x83); // 4 MiB page at 0, present, writable, supervisor
  // GDT: null, flat code 0x08, flat data 0x10, TSS 0x18.
  mem.write32(GDT + 8, 0x0000ffff); mem.write32(GDT + 12, 0x00cf9b00);
  mem.write32(GDT + 16, 0x0000ffff); mem.write32(GDT + 20, 0x00cf9300);
  const handler = findLabel(source, code);
  for (let v = 0; v < 0x30; v++) {
    mem.write32(IDT + 8 * v, (0x08 << 16) | (handler & 0xffff));
    mem.write32(IDT + 8 * v + 4, (handler & 0xffff0000) | 0x8e00);
  }
  cpu.cr4 |= 0x2000;
  mem.write32(VMXON, VMCS_REVISION_ID);
  mem.write32(VMCS, VMCS_REVISION_ID);
  mem.write32(VMCS2, VMCS_REVISION_ID);
  const x = new Vmx(cpu);
  expect(x.vmxon(VMXON)).toBe(VmxResult.SUCCEED);
  expect(x.vmclear(VMCS)).toBe(VmxResult.SUCCEED);
  expect(x.vmptrld(VMCS)).toBe(VmxResult.SUCCEED);
  const w = (f: number, value: number): void => expect(x.vmwrite(f, value)).toBe(VmxResult.SUCCEED);
  w(Field.PIN_BASED_CTLS, CAPS.truePin.must1 | pin);
  w(Field.PROC_BASED_CTLS, CAPS.trueProc.must1 | proc);
  w(Field.IO_BITMAP_A, IO_A);
  w(Field.IO_BITMAP_B, IO_B);
  w(Field.MSR_BITMAP, MSR_BITMAP);
  w(Field.VM_EXIT_CTLS, CAPS.trueExit.must1);
  w(Field.VM_ENTRY_CTLS, CAPS.trueEntry.must1);
  w(Field.VMCS_LINK_POINTER, 0xffffffff);
  w(Field.VMCS_LINK_POINTER | 1, 0xffffffff);
  w(Field.HOST_CR0, 0x80000031);
  w(Field.HOST_CR3, PD);
  w(Field.HOST_CR4, 0x2010);
  w(Field.HOST_CS_SELECTOR, 0x08);
  for (const f of [Field.HOST_SS_SELECTOR, Field.HOST_DS_SELECTOR, Field.HOST_ES_SELECTOR]) w(f, 0x10);
  w(Field.HOST_TR_SELECTOR, 0x18);
  w(Field.HOST_RIP, 0xdead0000);
  w(Field.GUEST_CR0, 0x80000031);
  w(Field.GUEST_CR3, PD);
  w(Field.GUEST_CR4, 0x2010);
  w(Field.GUEST_DR7, 0x400);
  w(Field.GUEST_RFLAGS, 0x2);
  w(Field.GUEST_RIP, CODE_BASE);
  w(Field.GUEST_RSP, 0x80000);
  w(Field.GUEST_CS_SELECTOR, 0x08);
  w(Field.GUEST_CS_LIMIT, 0xffffffff);
  w(Field.GUEST_CS_AR, CODE32);
  for (const [sel, lim, ar] of [
    [Field.GUEST_SS_SELECTOR, Field.GUEST_SS_LIMIT, Field.GUEST_SS_AR], [Field.GUEST_DS_SELECTOR, Field.GUEST_DS_LIMIT, Field.GUEST_DS_AR],
    [Field.GUEST_ES_SELECTOR, Field.GUEST_ES_LIMIT, Field.GUEST_ES_AR], [Field.GUEST_FS_SELECTOR, Field.GUEST_FS_LIMIT, Field.GUEST_FS_AR],
    [Field.GUEST_GS_SELECTOR, Field.GUEST_GS_LIMIT, Field.GUEST_GS_AR],
  ]) {
    w(sel, 0x10);
    w(lim, 0xffffffff);
    w(ar, DATA32);
  }
  w(Field.GUEST_LDTR_AR, UNUSABLE);
  w(Field.GUEST_TR_SELECTOR, 0x18);
  w(Field.GUEST_TR_LIMIT, 0x67);
  w(Field.GUEST_TR_AR, TSS32_BUSY);
  w(Field.GUEST_GDTR_BASE, GDT);
  w(Field.GUEST_GDTR_LIMIT, 0x1f);
  w(Field.GUEST_IDTR_BASE, IDT);
  w(Field.GUEST_IDTR_LIMIT, 0x17f);
  return { cpu, x, out: io.outs };
}

/** The address of `handler:` in the assembled guest (a `dd handler` at its start is avoided: a marker). */
function findLabel(source: string, code: Uint8Array): number {
  if (!source.includes("handler:")) return 0;
  const probe = nasm(`${source}\nhandler_addr: dd handler`, 32, CODE_BASE);
  const at = probe.length - 4;
  void code;
  return probe[at] | (probe[at + 1] << 8) | (probe[at + 2] << 16) | (probe[at + 3] << 24);
}

function read(x: Vmx, f: number): number {
  return x.vmread(f) as number;
}

describe("VMX operation of the CPU", () => {
  it("a guest OUT causes exit 30 with the port, size and direction in the qualification and the instruction length", () => {
    const { cpu, x, out } = vm("mov dx, 0x3f8\nmov al, 'A'\nout dx, al\nhlt", Proc.UNCOND_IO_EXITING);
    expect(x.launch()).toBe(VmxResult.SUCCEED);
    expect(cpu.nonRoot).toBe(true);
    expect(cpu.run(100)).toBe(Stop.VMEXIT);
    expect(cpu.nonRoot).toBe(false);
    expect(out).toEqual([]);
    expect(read(x, Field.VM_EXIT_REASON)).toBe(ExitReason.IO_INSTRUCTION);
    expect(decodeIoQualification(read(x, Field.EXIT_QUALIFICATION))).toEqual({ port: 0x3f8, size: 1, input: false, string: false, rep: false, immediate: false });
    expect(read(x, Field.VM_EXIT_INSTRUCTION_LEN)).toBe(1);
    expect(read(x, Field.GUEST_RIP)).toBe(CODE_BASE + 6); // mov dx (4) + mov al (2)
    // The host state is loaded.
    expect(cpu.eip >>> 0).toBe(0xdead0000);
    // The host steps the guest over the OUT and resumes: it halts (HLT not exiting).
    x.vmwrite(Field.GUEST_RIP, read(x, Field.GUEST_RIP) + read(x, Field.VM_EXIT_INSTRUCTION_LEN));
    expect(x.resume()).toBe(VmxResult.SUCCEED);
    expect(cpu.run(100)).toBe(Stop.HALT);
  });

  it("an OUT to a port clear in the I/O bitmaps reaches the bus; a set bit exits, with an immediate port flagged", () => {
    const { cpu, x, out } = vm("mov al, 1\nout 0x80, al\nout 0x61, al\nhlt", Proc.USE_IO_BITMAPS);
    cpu.mem.write8(IO_A + (0x61 >>> 3), 1 << (0x61 & 7));
    x.launch();
    expect(cpu.run(100)).toBe(Stop.VMEXIT);
    expect(out).toEqual([[0x80, 1, 1]]);
    expect(decodeIoQualification(read(x, Field.EXIT_QUALIFICATION))).toMatchObject({ port: 0x61, immediate: true });
    expect(read(x, Field.VM_EXIT_INSTRUCTION_LEN)).toBe(2);
  });

  it("REP OUTSW exits with string and REP in the qualification, the address size and segment in the instruction information", () => {
    const { cpu, x, out } = vm("mov esi, 0x5000\nmov ecx, 4\nmov dx, 0x1f0\nrep fs outsw\nhlt", Proc.UNCOND_IO_EXITING);
    x.launch();
    expect(cpu.run(100)).toBe(Stop.VMEXIT);
    expect(out).toEqual([]);
    expect(decodeIoQualification(read(x, Field.EXIT_QUALIFICATION))).toEqual({ port: 0x1f0, size: 2, input: false, string: true, rep: true, immediate: false });
    expect(read(x, Field.VM_EXIT_INSTRUCTION_INFO)).toBe(insOutsInfo(32, 4));
    expect(read(x, Field.VM_EXIT_INSTRUCTION_LEN)).toBe(4);
    expect(read(x, Field.GUEST_LINEAR_ADDRESS)).toBe(0x5000);
    expect(cpu.r32[Reg.ECX]).toBe(4);
  });

  it("CPUID exits unconditionally, before it changes any register", () => {
    const { cpu, x } = vm("mov eax, 0\ncpuid\nhlt");
    x.launch();
    expect(cpu.run(100)).toBe(Stop.VMEXIT);
    expect(read(x, Field.VM_EXIT_REASON)).toBe(ExitReason.CPUID);
    expect(read(x, Field.VM_EXIT_INSTRUCTION_LEN)).toBe(2);
    expect(read(x, Field.GUEST_RIP)).toBe(CODE_BASE + 5);
  });

  it("HLT exits with HLT exiting; without it the guest halts and stays in non-root operation", () => {
    const a = vm("nop\nhlt", Proc.HLT_EXITING);
    a.x.launch();
    expect(a.cpu.run(100)).toBe(Stop.VMEXIT);
    expect(read(a.x, Field.VM_EXIT_REASON)).toBe(ExitReason.HLT);
    expect(read(a.x, Field.GUEST_ACTIVITY_STATE)).toBe(0);
    const b = vm("nop\nhlt");
    b.x.launch();
    expect(b.cpu.run(100)).toBe(Stop.HALT);
    expect(b.cpu.nonRoot).toBe(true);
  });

  describe("a virtual-8086 guest", () => {
    /** `vm()`'s guest turned into a virtual-8086 one at 0100:0000 (CODE_BASE), IOPL 3, user-mode paging. */
    function v86Guest(source: string, proc = 0): { cpu: Cpu; x: Vmx; out: [number, number, number][] } {
      const g = vm(`bits 16\n${source}`, proc);
      g.cpu.mem.write32(PD, 0x87); // the 4 MiB page is a user page: virtual-8086 mode is CPL 3
      const w = (f: number, value: number): void => expect(g.x.vmwrite(f, value)).toBe(VmxResult.SUCCEED);
      w(Field.GUEST_RFLAGS, 0x20000 | 0x3000 | 2);
      w(Field.GUEST_RIP, 0);
      w(Field.GUEST_RSP, 0xfff0);
      for (const [s, sel] of [[0, 0x0500], [1, 0x0100], [2, 0x0700], [3, 0x0500], [4, 0], [5, 0]]) {
        w(Field.GUEST_ES_SELECTOR + 2 * s, sel);
        w(Field.GUEST_ES_BASE + 2 * s, sel << 4);
        w(Field.GUEST_ES_LIMIT + 2 * s, 0xffff);
        w(Field.GUEST_ES_AR + 2 * s, 0xf3);
      }
      return g;
    }

    it("enters with RFLAGS.VM; its OUT exits with the qualification, the segments saved as virtual-8086 mode has them", () => {
      const { cpu, x, out } = v86Guest("mov ax, 0x1234\nmov ds, ax\nmov dx, 0x80\nout dx, al\nmov bx, ds\nhlt", Proc.UNCOND_IO_EXITING);
      expect(x.launch()).toBe(VmxResult.SUCCEED);
      expect(cpu.cpl).toBe(3);
      expect(cpu.run(100)).toBe(Stop.VMEXIT);
      expect(out).toEqual([]);
      expect(read(x, Field.VM_EXIT_REASON)).toBe(ExitReason.IO_INSTRUCTION);
      expect(decodeIoQualification(read(x, Field.EXIT_QUALIFICATION))).toEqual({ port: 0x80, size: 1, input: false, string: false, rep: false, immediate: false });
      expect(read(x, Field.VM_EXIT_INSTRUCTION_LEN)).toBe(1);
      expect(read(x, Field.GUEST_RIP)).toBe(8);
      expect(read(x, Field.GUEST_RFLAGS) & 0x23000).toBe(0x23000);
      expect([Field.GUEST_DS_SELECTOR, Field.GUEST_DS_BASE, Field.GUEST_DS_LIMIT, Field.GUEST_DS_AR].map((f) => read(x, f))).toEqual([0x1234, 0x12340, 0xffff, 0xf3]);
      expect([Field.GUEST_CS_SELECTOR, Field.GUEST_CS_BASE, Field.GUEST_CS_LIMIT, Field.GUEST_CS_AR].map((f) => read(x, f))).toEqual([0x100, 0x1000, 0xffff, 0xf3]);
      // The saved state passes the entry checks for virtual-8086 guests: the host steps over the OUT.
      x.vmwrite(Field.GUEST_RIP, 9);
      expect(x.resume()).toBe(VmxResult.SUCCEED);
      expect(cpu.getEflags() & 0x20000).toBe(0x20000);
      // HLT at CPL 3 is #GP(0) before it could exit (here the exception bitmap makes the #GP exit).
      x.vmwrite(Field.EXCEPTION_BITMAP, 1 << 13);
      expect(x.resume()).toBe(VmxResult.SUCCEED);
      expect(cpu.run(100)).toBe(Stop.VMEXIT);
      expect(read(x, Field.VM_EXIT_REASON)).toBe(ExitReason.EXCEPTION_NMI);
      expect(decodeIntInfo(read(x, Field.VM_EXIT_INTR_INFO))).toMatchObject({ vector: 13, type: IntType.HARDWARE_EXCEPTION, errorCode: true });
      expect(read(x, Field.VM_EXIT_INTR_ERROR_CODE)).toBe(0);
      expect(read(x, Field.GUEST_RIP)).toBe(11);
      expect(cpu.r16[Reg.EBX << 1]).toBe(0x1234);
    });

    it("VM entry refuses virtual-8086 segments that are not selector * 16 with limit 0xFFFF and access rights 0xF3", () => {
      for (const [f, v] of [[Field.GUEST_SS_BASE, 0x7001], [Field.GUEST_FS_LIMIT, 0xfffff], [Field.GUEST_CS_AR, 0xfb]]) {
        const { x } = v86Guest("hlt");
        x.vmwrite(f, v);
        expect(x.launch()).toBe(VmxResult.ENTRY_FAILED);
        expect(read(x, Field.VM_EXIT_REASON)).toBe((EXIT_REASON_ENTRY_FAILURE | ExitReason.INVALID_GUEST_STATE) >>> 0);
      }
    });
  });

  it("RDMSR and WRMSR exit per the MSR bitmaps; MOV to CR3 per CR3-load exiting with its qualification", () => {
    const a = vm("mov ecx, 0x174\nrdmsr\nwrmsr\nhlt", Proc.USE_MSR_BITMAPS);
    a.cpu.mem.write8(MSR_BITMAP + 0x800 + (0x174 >>> 3), 1 << (0x174 & 7)); // write bitmap, low MSRs
    a.x.launch();
    expect(a.cpu.run(100)).toBe(Stop.VMEXIT);
    expect(read(a.x, Field.VM_EXIT_REASON)).toBe(ExitReason.WRMSR);
    expect(read(a.x, Field.GUEST_RIP)).toBe(CODE_BASE + 7);
    const b = vm("mov ebx, 0x2000\nmov cr3, ebx\nhlt", Proc.CR3_LOAD_EXITING);
    b.x.launch();
    expect(b.cpu.run(100)).toBe(Stop.VMEXIT);
    expect(read(b.x, Field.VM_EXIT_REASON)).toBe(ExitReason.CR_ACCESS);
    expect(read(b.x, Field.EXIT_QUALIFICATION)).toBe(crQualification(3, CrAccess.MOV_TO_CR, Reg.EBX));
  });

  it("the guest reads CR0 and CR4 through the read shadows in host-owned bits, and its writes leave those bits alone", () => {
    const { cpu, x } = vm("mov eax, cr0\nsmsw bx\nmov ecx, cr4\nmov edx, 0x80000013\nmov cr0, edx\nclts\nhlt");
    x.vmwrite(Field.CR0_GUEST_HOST_MASK, 0x20 | 0x8); // the host owns NE and TS
    x.vmwrite(Field.CR0_READ_SHADOW, 0x0);
    x.vmwrite(Field.CR4_GUEST_HOST_MASK, 0x2000); // and VMXE
    x.vmwrite(Field.CR4_READ_SHADOW, 0);
    x.vmwrite(Field.GUEST_CR0, 0x80000039); // TS set in the real CR0
    x.launch();
    expect(cpu.run(100)).toBe(Stop.HALT);
    expect(cpu.r32[Reg.EAX] >>> 0).toBe(0x80000011);
    expect(cpu.r16[Reg.EBX << 1]).toBe(0x11);
    expect(cpu.r32[Reg.ECX]).toBe(0x10);
    // MOV to CR0 set MP (guest-owned) and NE = 0 as in the shadow: no exit; the real NE and TS stay.
    // CLTS with TS host-owned and clear in the shadow: no exit, TS unchanged.
    expect(cpu.cr0 >>> 0).toBe(0x8000003b);
  });

  it("CLTS exits when the host owns TS and the shadow has it set; LMSW exits with its source data", () => {
    const a = vm("clts\nhlt");
    a.x.vmwrite(Field.CR0_GUEST_HOST_MASK, 0x8);
    a.x.vmwrite(Field.CR0_READ_SHADOW, 0x8);
    a.x.launch();
    expect(a.cpu.run(100)).toBe(Stop.VMEXIT);
    expect(read(a.x, Field.EXIT_QUALIFICATION)).toBe(crQualification(0, CrAccess.CLTS));
    const b = vm("mov ax, 0x3\nlmsw ax\nhlt");
    b.x.vmwrite(Field.CR0_GUEST_HOST_MASK, 0x2);
    b.x.vmwrite(Field.CR0_READ_SHADOW, 0x0);
    b.x.launch();
    expect(b.cpu.run(100)).toBe(Stop.VMEXIT);
    expect(read(b.x, Field.EXIT_QUALIFICATION)).toBe(crQualification(0, CrAccess.LMSW, 0, false, 3));
  });

  it("RDTSC exits with RDTSC exiting, and reads the host TSC plus the offset with TSC offsetting", () => {
    const a = vm("rdtsc\nhlt", Proc.RDTSC_EXITING);
    a.x.launch();
    expect(a.cpu.run(100)).toBe(Stop.VMEXIT);
    expect(read(a.x, Field.VM_EXIT_REASON)).toBe(ExitReason.RDTSC);
    const b = vm("rdtsc\nhlt", Proc.USE_TSC_OFFSETTING);
    b.x.vmwrite(Field.TSC_OFFSET, 0);
    b.x.vmwrite(Field.TSC_OFFSET | 1, 5);
    b.x.launch();
    expect(b.cpu.run(100)).toBe(Stop.HALT);
    expect(b.cpu.r32[Reg.EDX]).toBe(5);
  });

  it("RDTSC in a compiled block reads what the interpreter's reads, offset or exiting", () => {
    const source = "mov ecx, 20\nagain:\nrdtsc\nadd esi, eax\nadc edi, edx\ndec ecx\njnz again\nhlt";
    // A positive offset (read in place), one that wraps below zero (the handler's BigInts), none,
    // and RDTSC exiting.
    const cases: [number, number, number][] = [[Proc.USE_TSC_OFFSETTING, 5, 0x9000], [Proc.USE_TSC_OFFSETTING, 0xffffffff, 0], [0, 7, 7], [Proc.RDTSC_EXITING, 0, 0]];
    for (const [proc, hi, lo] of cases) {
      const [compiled, interpreted] = [true, false].map((jit) => {
        const { cpu, x } = vm(source, proc);
        cpu.jit = jit;
        cpu.jitThreshold = 1;
        x.vmwrite(Field.TSC_OFFSET, lo);
        x.vmwrite(Field.TSC_OFFSET | 1, hi);
        x.launch();
        const stop = cpu.run(1000);
        if (jit) expect(cpu.jitCompiled).toBeGreaterThan(0);
        return [stop, cpu.icount, cpu.eip, cpu.r32[Reg.ESI], cpu.r32[Reg.EDI], read(x, Field.VM_EXIT_REASON)];
      });
      expect(compiled).toEqual(interpreted);
    }
  });

  it("RDTSC in a compiled block after a restore into the guest reads the restored VMCS's offset", () => {
    // Entry takes the offset from the VMCS; a restore must take it again, not keep the last entry's.
    const source = "nop\nmov ecx, 20\nagain:\nrdtsc\nadd esi, eax\nadc edi, edx\ndec ecx\njnz again\nhlt";
    const highHalves = (jit: boolean): number => {
      const { cpu, x } = vm(source, Proc.USE_TSC_OFFSETTING);
      cpu.jit = jit;
      cpu.jitThreshold = 1;
      x.vmwrite(Field.TSC_OFFSET | 1, 5);
      x.launch();
      cpu.run(1);
      const cpuState = cpu.save(), vmxState = x.save();
      x.suspend();
      x.vmwrite(Field.TSC_OFFSET | 1, 9);
      x.resume();
      cpu.restore(cpuState);
      x.restore(vmxState);
      expect(cpu.run(1000)).toBe(Stop.HALT);
      if (jit) expect(cpu.jitCompiled).toBeGreaterThan(0);
      return cpu.r32[Reg.EDI];
    };
    expect(highHalves(false)).toBe(20 * 5);
    expect(highHalves(true)).toBe(20 * 5);
  });

  it("VMCALL and the other VMX instructions in the guest exit", () => {
    const { cpu, x } = vm("nop\nvmcall\nhlt");
    x.launch();
    expect(cpu.run(100)).toBe(Stop.VMEXIT);
    expect(read(x, Field.VM_EXIT_REASON)).toBe(ExitReason.VMCALL);
    expect(read(x, Field.VM_EXIT_INSTRUCTION_LEN)).toBe(3);
    expect(read(x, Field.GUEST_RIP)).toBe(CODE_BASE + 1);
  });

  it("a #PF in the exception bitmap exits with its error code and the address, CR2 unchanged in the guest", () => {
    const { cpu, x } = vm("mov eax, [0x800000]\nhlt");
    x.vmwrite(Field.EXCEPTION_BITMAP, 1 << 14);
    x.launch();
    expect(cpu.run(100)).toBe(Stop.VMEXIT);
    expect(read(x, Field.VM_EXIT_REASON)).toBe(ExitReason.EXCEPTION_NMI);
    expect(decodeIntInfo(read(x, Field.VM_EXIT_INTR_INFO))).toMatchObject({ vector: 14, type: IntType.HARDWARE_EXCEPTION, errorCode: true, valid: true });
    expect(read(x, Field.VM_EXIT_INTR_ERROR_CODE)).toBe(0); // not present, read, supervisor
    expect(read(x, Field.EXIT_QUALIFICATION)).toBe(0x800000);
    expect(cpu.cr2).toBe(0);
    expect(read(x, Field.GUEST_RIP)).toBe(CODE_BASE);
  });

  it("an exception not in the bitmap goes to the guest's IDT; a triple fault exits", () => {
    const { cpu, x } = vm("mov eax, [0x800000]\nhlt\nhandler: mov ebx, 0x1234\nhlt");
    x.launch();
    expect(cpu.run(100)).toBe(Stop.HALT);
    expect(cpu.r32[Reg.EBX]).toBe(0x1234);
    expect(cpu.cr2).toBe(0x800000);
    const t = vm("mov eax, [0x800000]\nhlt");
    t.x.vmwrite(Field.GUEST_IDTR_LIMIT, 0); // no usable IDT: #PF, #DF, shutdown
    t.x.launch();
    expect(t.cpu.run(100)).toBe(Stop.VMEXIT);
    expect(read(t.x, Field.VM_EXIT_REASON)).toBe(ExitReason.TRIPLE_FAULT);
  });

  it("an injected external interrupt reaches the guest's IDT handler before the first instruction", () => {
    const { cpu, x } = vm("mov eax, 1\nhlt\nhandler: mov ebx, [esp]\nhlt");
    x.vmwrite(Field.VM_ENTRY_INTR_INFO, intInfo(0x20, IntType.EXTERNAL));
    expect(x.launch()).toBe(VmxResult.ENTRY_FAILED); // IF must be 1 to inject an interrupt
    x.vmwrite(Field.GUEST_RFLAGS, 0x202);
    x.vmwrite(Field.VM_ENTRY_INTR_INFO, intInfo(0x20, IntType.EXTERNAL)); // the failed entry cleared it
    expect(x.launch()).toBe(VmxResult.SUCCEED);
    expect(cpu.run(100)).toBe(Stop.HALT);
    expect(cpu.r32[Reg.EBX]).toBe(CODE_BASE); // the return address is the guest's first instruction
    expect(cpu.r32[Reg.EAX]).toBe(0);
    expect(read(x, Field.VM_ENTRY_INTR_INFO) & INT_INFO_VALID).toBe(0);
  });

  it("an injected hardware exception pushes its error code; an injected INT n returns after the instruction length", () => {
    const a = vm("nop\nhlt\nhandler: pop ebx\nhlt");
    a.x.vmwrite(Field.VM_ENTRY_INTR_INFO, intInfo(13, IntType.HARDWARE_EXCEPTION, true));
    a.x.vmwrite(Field.VM_ENTRY_EXCEPTION_ERROR_CODE, 0x18);
    a.x.launch();
    expect(a.cpu.run(100)).toBe(Stop.HALT);
    expect(a.cpu.r32[Reg.EBX]).toBe(0x18);
    const b = vm("int 0x21\nhlt\nhandler: mov ebx, [esp]\nhlt");
    b.x.vmwrite(Field.VM_ENTRY_INTR_INFO, intInfo(0x21, IntType.SOFTWARE_INTERRUPT));
    b.x.vmwrite(Field.VM_ENTRY_INSTRUCTION_LEN, 2);
    b.x.launch();
    expect(b.cpu.run(100)).toBe(Stop.HALT);
    expect(b.cpu.r32[Reg.EBX]).toBe(CODE_BASE + 2);
  });

  it("the interrupt window exits when the guest sets IF, after STI's shadow", () => {
    const { cpu, x } = vm("nop\nsti\nnop\nnop\nhlt", Proc.INTR_WINDOW_EXITING);
    x.launch();
    expect(cpu.run(100)).toBe(Stop.VMEXIT);
    expect(read(x, Field.VM_EXIT_REASON)).toBe(ExitReason.INTERRUPT_WINDOW);
    expect(read(x, Field.GUEST_RIP)).toBe(CODE_BASE + 3); // after STI and the one shadowed NOP
    expect(read(x, Field.GUEST_RFLAGS) & 0x200).toBe(0x200);
    expect(cpu.dbgArmed & Armed.INTR_WINDOW).toBe(0);
  });

  it("a guest that writes DR7 while the window is armed still gets its interrupt-window exit", () => {
    const { cpu, x } = vm("mov eax, 0x400\nmov dr7, eax\nnop\nsti\nnop\nnop\nhlt", Proc.INTR_WINDOW_EXITING);
    x.launch();
    expect(cpu.run(100)).toBe(Stop.VMEXIT);
    expect(read(x, Field.VM_EXIT_REASON)).toBe(ExitReason.INTERRUPT_WINDOW);
    expect(read(x, Field.GUEST_RIP)).toBe(CODE_BASE + 11); // after STI and the one shadowed NOP
  });

  it("an external interrupt exits and stays pending at the controller; with acknowledge-on-exit its vector is in the VMCS", () => {
    const a = vm("sti\nnop\nnop\njmp $", 0, Pin.EXT_INT_EXITING);
    let acks = 0;
    a.cpu.acknowledgeIntr = () => (acks++, 0x30);
    a.x.launch();
    expect(a.cpu.run(5)).toBe(Stop.BUDGET);
    a.cpu.intr = true;
    expect(a.cpu.run(100)).toBe(Stop.VMEXIT);
    expect(read(a.x, Field.VM_EXIT_REASON)).toBe(ExitReason.EXTERNAL_INTERRUPT);
    expect(acks).toBe(0);
    expect(a.cpu.acknowledgeIntr()).toBe(0x30); // the host's INTA again
    const b = vm("sti\nnop\njmp $", 0, Pin.EXT_INT_EXITING);
    b.x.vmwrite(Field.VM_EXIT_CTLS, CAPS.trueExit.must1 | ExitCtl.ACK_INTERRUPT_ON_EXIT);
    b.cpu.acknowledgeIntr = () => 0x31;
    b.cpu.intr = true;
    b.x.launch();
    expect(b.cpu.run(100)).toBe(Stop.VMEXIT);
    expect(decodeIntInfo(read(b.x, Field.VM_EXIT_INTR_INFO))).toMatchObject({ vector: 0x31, type: IntType.EXTERNAL, valid: true });
  });

  it("with external-interrupt exiting an interrupt exits even while the guest has IF clear, or is halted with it clear", () => {
    const a = vm("cli\nnop\nnop\njmp $", 0, Pin.EXT_INT_EXITING);
    a.x.launch();
    expect(a.cpu.run(5)).toBe(Stop.BUDGET);
    a.cpu.intr = true;
    expect(a.cpu.run(100)).toBe(Stop.VMEXIT);
    expect(read(a.x, Field.VM_EXIT_REASON)).toBe(ExitReason.EXTERNAL_INTERRUPT);
    expect(read(a.x, Field.GUEST_RFLAGS) & 0x200).toBe(0);
    const b = vm("cli\nhlt", 0, Pin.EXT_INT_EXITING);
    b.x.launch();
    expect(b.cpu.run(100)).toBe(Stop.HALT);
    b.cpu.intr = true;
    expect(b.cpu.run(100)).toBe(Stop.VMEXIT);
    expect(read(b.x, Field.VM_EXIT_REASON)).toBe(ExitReason.EXTERNAL_INTERRUPT);
    expect(read(b.x, Field.GUEST_RIP)).toBe(CODE_BASE + 2);
    expect(read(b.x, Field.GUEST_ACTIVITY_STATE)).toBe(1); // HLT: the host resumes it halted
    // Without the control a guest with IF clear is not interrupted.
    const c = vm("cli\nnop\njmp $");
    c.x.launch();
    c.cpu.intr = true;
    expect(c.cpu.run(50)).toBe(Stop.BUDGET);
  });

  it("VMX instructions fail as the SDM says: VMRESUME of a clear VMCS, VMLAUNCH of a launched one, bad guest state", () => {
    const { cpu, x } = vm("hlt");
    expect(x.resume()).toBe(VmInsnError.VMRESUME_NONLAUNCHED_VMCS);
    expect(read(x, Field.VM_INSTRUCTION_ERROR)).toBe(VmInsnError.VMRESUME_NONLAUNCHED_VMCS);
    expect(x.vmwrite(Field.VM_EXIT_REASON, 1)).toBe(VmInsnError.VMWRITE_READ_ONLY);
    expect(x.vmread(0x7777)).toBeUndefined();
    expect(x.launch()).toBe(VmxResult.SUCCEED);
    cpu.run(10);
    expect(x.launch()).toBe(VmInsnError.VMLAUNCH_NONCLEAR_VMCS);
    // Switch VMCS: the first is written back to its region and reloads with its state.
    expect(x.vmptrld(VMCS2)).toBe(VmxResult.SUCCEED);
    expect(x.vmread(Field.GUEST_RIP)).toBe(0);
    expect(x.resume()).toBe(VmInsnError.VMRESUME_NONLAUNCHED_VMCS);
    expect(x.vmptrld(VMCS)).toBe(VmxResult.SUCCEED);
    expect(x.vmread(Field.GUEST_CR3)).toBe(PD);
    x.vmwrite(Field.GUEST_CR0, 0x31); // paging off without unrestricted guest
    x.vmclear(VMCS);
    expect(x.vmptrld(VMCS)).toBe(VmxResult.SUCCEED);
    expect(x.launch()).toBe(VmxResult.ENTRY_FAILED);
    expect(read(x, Field.VM_EXIT_REASON)).toBe((EXIT_REASON_ENTRY_FAILURE | ExitReason.INVALID_GUEST_STATE) >>> 0);
    expect(x.vmclear(VMXON)).toBe(VmInsnError.VMCLEAR_VMXON_POINTER);
  });

  it("a snapshot taken in non-root operation restores into a new CPU that exits the same way", () => {
    const src = "mov ecx, 3\nl: inc eax\nloop l\nmov dx, 0x3f8\nout dx, al\nhlt";
    const a = vm(src, Proc.UNCOND_IO_EXITING);
    a.x.launch();
    expect(a.cpu.run(3)).toBe(Stop.BUDGET);
    const cpuState = a.cpu.save(), vmxState = a.x.save(), ram = a.cpu.mem.u8.slice();
    expect(a.cpu.run(100)).toBe(Stop.VMEXIT);
    const b = vm(src);
    b.cpu.mem.u8.set(ram);
    b.cpu.restore(cpuState);
    b.x.restore(vmxState);
    expect(b.cpu.run(100)).toBe(Stop.VMEXIT);
    expect(b.cpu.icount).toBe(a.cpu.icount);
    expect(b.x.save()).toEqual(a.x.save());
    expect(b.cpu.save()).toEqual(a.cpu.save());
  });

  it("every task switch exits, after the checks on its TSS descriptor, with the selector and source in the qualification", () => {
    // GDT 0x20: an available 32-bit TSS; 0x28: a TSS whose limit is too small.
    const tss = (c: Cpu, at: number, limit: number): void => {
      c.mem.write32(GDT + at, (limit & 0xffff) | (0x6000 << 16));
      c.mem.write32(GDT + at + 4, 0x00008900);
    };
    const a = vm("call 0x20:0\nhlt");
    tss(a.cpu, 0x20, 0x67);
    a.x.vmwrite(Field.GUEST_GDTR_LIMIT, 0x2f);
    a.x.launch();
    expect(a.cpu.run(100)).toBe(Stop.VMEXIT);
    expect(read(a.x, Field.VM_EXIT_REASON)).toBe(ExitReason.TASK_SWITCH);
    expect(decodeTaskSwitch(read(a.x, Field.EXIT_QUALIFICATION))).toEqual({ selector: 0x20, source: TaskSource.CALL });
    expect(read(a.x, Field.VM_EXIT_INSTRUCTION_LEN)).toBe(7);
    expect(read(a.x, Field.GUEST_RIP)).toBe(CODE_BASE);
    expect(read(a.x, Field.GUEST_TR_SELECTOR)).toBe(0x18); // nothing of the switch done
    expect(a.cpu.mem.read8(GDT + 0x25)).toBe(0x89);
    // A TSS limit below 0x67 is #TS before any exit (here to the guest's IDT handler).
    const b = vm("call 0x28:0\nhlt\nhandler: pop ebx\nhlt");
    tss(b.cpu, 0x28, 0x60);
    b.x.vmwrite(Field.GUEST_GDTR_LIMIT, 0x2f);
    b.x.launch();
    expect(b.cpu.run(100)).toBe(Stop.HALT);
    expect(b.cpu.r32[Reg.EBX]).toBe(0x28);
    // Through a task gate in the IDT: the event is in the IDT-vectoring information.
    const g = vm("int 0x21\nhlt");
    tss(g.cpu, 0x20, 0x67);
    g.x.vmwrite(Field.GUEST_GDTR_LIMIT, 0x2f);
    g.cpu.mem.write32(IDT + 0x21 * 8, 0x20 << 16);
    g.cpu.mem.write32(IDT + 0x21 * 8 + 4, 0x8500);
    g.x.launch();
    expect(g.cpu.run(100)).toBe(Stop.VMEXIT);
    expect(decodeTaskSwitch(read(g.x, Field.EXIT_QUALIFICATION))).toEqual({ selector: 0x20, source: TaskSource.TASK_GATE });
    expect(decodeIntInfo(read(g.x, Field.IDT_VECTORING_INFO))).toMatchObject({ valid: true, vector: 0x21, type: IntType.SOFTWARE_INTERRUPT });
    expect(read(g.x, Field.VM_EXIT_INSTRUCTION_LEN)).toBe(2);
    expect(read(g.x, Field.GUEST_RIP)).toBe(CODE_BASE);
  });

  describe("with EPT", () => {
    const PML4 = 0x20000;
    /** Turns on EPT with guest-physical pages `pages` mapped (to themselves unless given). */
    function withEpt(cpu: Cpu, x: Vmx, pages: [gpa: number, hpa?: number][]): (gpa: number, hpa?: number) => void {
      let next = PML4 + PAGE_4K;
      const frames = { alloc: () => (next += PAGE_4K) - PAGE_4K };
      for (let k = 0; k < 4; k++) cpu.mem.write32(PML4 + 4 * k, 0);
      const map = (gpa: number, hpa = gpa): void => eptMap(cpu.mem, PML4, gpa, hpa, 7, PAGE_4K, frames);
      for (const [gpa, hpa] of pages) map(gpa, hpa);
      x.vmwrite(Field.PROC_BASED_CTLS, read(x, Field.PROC_BASED_CTLS) | Proc.ACTIVATE_SECONDARY);
      x.vmwrite(Field.PROC_BASED_CTLS2, Proc2.ENABLE_EPT);
      x.vmwrite(Field.EPT_POINTER, makeEptp(PML4));
      return map;
    }

    it("the guest's own page walk and its data accesses exit with EPT violations on first touch, then run once mapped", () => {
      const { cpu, x } = vm("mov dword [0x50000], 0x11223344\nhlt");
      const map = withEpt(cpu, x, [[CODE_BASE]]);
      expect(x.launch()).toBe(VmxResult.SUCCEED);
      // The fetch walks the guest's page directory at guest-physical 0x2000: not mapped.
      expect(cpu.run(100)).toBe(Stop.VMEXIT);
      expect(read(x, Field.VM_EXIT_REASON)).toBe(ExitReason.EPT_VIOLATION);
      expect(read(x, Field.GUEST_PHYSICAL_ADDRESS)).toBe(PD);
      expect(decodeEptViolation(read(x, Field.EXIT_QUALIFICATION))).toMatchObject({ read: true, write: false, readable: false, linearValid: true, translation: false });
      expect(read(x, Field.GUEST_LINEAR_ADDRESS)).toBe(CODE_BASE);
      map(PD);
      expect(x.resume()).toBe(VmxResult.SUCCEED);
      // The store's final access: guest-physical 0x50000, which the host backs with 0x60000.
      expect(cpu.run(100)).toBe(Stop.VMEXIT);
      expect(read(x, Field.VM_EXIT_REASON)).toBe(ExitReason.EPT_VIOLATION);
      expect(read(x, Field.GUEST_PHYSICAL_ADDRESS)).toBe(0x50000);
      expect(decodeEptViolation(read(x, Field.EXIT_QUALIFICATION))).toMatchObject({ write: true, translation: true });
      expect(read(x, Field.GUEST_RIP)).toBe(CODE_BASE);
      map(0x50000, 0x60000);
      expect(x.resume()).toBe(VmxResult.SUCCEED);
      expect(cpu.run(100)).toBe(Stop.HALT);
      expect(cpu.mem.read32(0x60000)).toBe(0x11223344);
      expect(cpu.mem.read32(0x50000)).toBe(0);
    });

    it("an EPT violation while delivering an injected interrupt exits at entry with the event in the IDT-vectoring information", () => {
      const { cpu, x } = vm("nop\nhlt\nhandler: hlt");
      const map = withEpt(cpu, x, [[CODE_BASE], [PD], [GDT], [0x7f000]]);
      x.vmwrite(Field.GUEST_RFLAGS, 0x202);
      x.vmwrite(Field.VM_ENTRY_INTR_INFO, intInfo(0x20, IntType.EXTERNAL));
      expect(x.launch()).toBe(VmxResult.EXITED);
      expect(cpu.nonRoot).toBe(false);
      expect(read(x, Field.VM_EXIT_REASON)).toBe(ExitReason.EPT_VIOLATION);
      expect(read(x, Field.GUEST_PHYSICAL_ADDRESS)).toBe(IDT + 8 * 0x20);
      expect(read(x, Field.IDT_VECTORING_INFO)).toBe(intInfo(0x20, IntType.EXTERNAL) >>> 0);
      expect(read(x, Field.GUEST_RIP)).toBe(CODE_BASE);
      // The host maps the IDT and injects the event again from the vectoring information.
      map(IDT);
      x.vmwrite(Field.VM_ENTRY_INTR_INFO, read(x, Field.IDT_VECTORING_INFO));
      expect(x.resume()).toBe(VmxResult.SUCCEED);
      expect(cpu.r32[Reg.ESP]).toBe(0x80000 - 12);
    });

    it("a read-only EPT page lets reads through the TLB and exits on the first write", () => {
      const { cpu, x } = vm("mov eax, [0x50000]\nmov [0x50000], eax\nhlt");
      let next = 0x40000;
      const frames = { alloc: () => (next += PAGE_4K) - PAGE_4K };
      withEpt(cpu, x, [[CODE_BASE], [PD]]);
      eptMap(cpu.mem, PML4, 0x50000, 0x50000, 1, PAGE_4K, frames);
      cpu.mem.write32(0x50000, 7);
      x.launch();
      expect(cpu.run(100)).toBe(Stop.VMEXIT);
      expect(cpu.r32[Reg.EAX]).toBe(7);
      expect(read(x, Field.GUEST_RIP)).toBe(CODE_BASE + 5);
      expect(decodeEptViolation(read(x, Field.EXIT_QUALIFICATION))).toMatchObject({ write: true, readable: true, writable: false });
    });

    it("an unrestricted guest runs in real mode with paging off, its memory through EPT", () => {
      const { cpu, x } = vm("");
      const code = nasm("mov dx, 0x3f8\nmov al, 'B'\nout dx, al\nhlt", 16);
      cpu.mem.load(0x30000, code); // guest-physical page 0x7000 is host 0x30000
      withEpt(cpu, x, [[0x7000, 0x30000]]);
      x.vmwrite(Field.PROC_BASED_CTLS2, Proc2.ENABLE_EPT | Proc2.UNRESTRICTED_GUEST);
      x.vmwrite(Field.PROC_BASED_CTLS, read(x, Field.PROC_BASED_CTLS) | Proc.UNCOND_IO_EXITING);
      x.vmwrite(Field.GUEST_CR0, 0x30);
      x.vmwrite(Field.GUEST_CR4, 0x2000);
      for (const [sel, base, lim, ar] of [
        [Field.GUEST_CS_SELECTOR, Field.GUEST_CS_BASE, Field.GUEST_CS_LIMIT, Field.GUEST_CS_AR], [Field.GUEST_SS_SELECTOR, Field.GUEST_SS_BASE, Field.GUEST_SS_LIMIT, Field.GUEST_SS_AR],
        [Field.GUEST_DS_SELECTOR, Field.GUEST_DS_BASE, Field.GUEST_DS_LIMIT, Field.GUEST_DS_AR], [Field.GUEST_ES_SELECTOR, Field.GUEST_ES_BASE, Field.GUEST_ES_LIMIT, Field.GUEST_ES_AR],
        [Field.GUEST_FS_SELECTOR, Field.GUEST_FS_BASE, Field.GUEST_FS_LIMIT, Field.GUEST_FS_AR], [Field.GUEST_GS_SELECTOR, Field.GUEST_GS_BASE, Field.GUEST_GS_LIMIT, Field.GUEST_GS_AR],
      ]) {
        x.vmwrite(sel, 0);
        x.vmwrite(base, 0);
        x.vmwrite(lim, 0xffff);
        x.vmwrite(ar, 0x93);
      }
      x.vmwrite(Field.GUEST_RIP, 0x7000);
      expect(x.launch()).toBe(VmxResult.SUCCEED);
      expect(cpu.run(100)).toBe(Stop.VMEXIT);
      expect(read(x, Field.VM_EXIT_REASON)).toBe(ExitReason.IO_INSTRUCTION);
      expect(read(x, Field.GUEST_RIP)).toBe(0x7005);
      expect(cpu.r8[0]).toBe(0x42);
    });
  });
});

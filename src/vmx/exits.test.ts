import { describe, expect, it } from "vitest";
import {
  CrAccess, EXIT_REASONS, ExitReason, GuestLinear, IntType, TaskSource, crQualification, decodeCrQualification,
  decodeDrQualification, decodeEptViolation, decodeIntInfo, decodeIoQualification, decodeTaskSwitch, drQualification,
  entryFailureReason, eptViolationQualification, exceptionType, exitReasonName, insOutsInfo,
  intInfo, ioQualification, isVmxInstructionExit, recordExit, recordExitEvent, recordIdtVectoring,
  recordsInstructionLength, taskSwitchQualification, vmxInsnInfo,
} from "./exits.js";
import { hasErrorCode } from "../x86/vectors.js";
import { Field } from "./fields.js";
import { Vmcs } from "./vmcs.js";

describe("exit reasons", () => {
  it("are numbered as Appendix C numbers them", () => {
    expect(ExitReason.EXCEPTION_NMI).toBe(0);
    expect(ExitReason.EXTERNAL_INTERRUPT).toBe(1);
    expect(ExitReason.TRIPLE_FAULT).toBe(2);
    expect(ExitReason.INTERRUPT_WINDOW).toBe(7);
    expect(ExitReason.CPUID).toBe(10);
    expect(ExitReason.HLT).toBe(12);
    expect(ExitReason.INVLPG).toBe(14);
    expect(ExitReason.RDTSC).toBe(16);
    expect(ExitReason.VMCALL).toBe(18);
    expect(ExitReason.CR_ACCESS).toBe(28);
    expect(ExitReason.IO_INSTRUCTION).toBe(30);
    expect(ExitReason.RDMSR).toBe(31);
    expect(ExitReason.WRMSR).toBe(32);
    expect(ExitReason.INVALID_GUEST_STATE).toBe(33);
    expect(ExitReason.EPT_VIOLATION).toBe(48);
    expect(ExitReason.EPT_MISCONFIG).toBe(49);
    expect(ExitReason.WBINVD).toBe(54);
    expect(ExitReason.WRMSRLIST).toBe(79);
  });

  it("each have one name, listed in ascending order without the unassigned numbers", () => {
    const nums = EXIT_REASONS.map(([r]) => r);
    expect(nums).toEqual([...nums].sort((a, b) => a - b));
    expect(new Set(nums).size).toBe(nums.length);
    expect(new Set(EXIT_REASONS.map(([, n]) => n)).size).toBe(nums.length);
    for (const unassigned of [35, 38, 42, 71]) expect(nums).not.toContain(unassigned);
    expect(exitReasonName(30)).toBe("IO_INSTRUCTION");
    expect(exitReasonName(entryFailureReason(ExitReason.INVALID_GUEST_STATE))).toBe("INVALID_GUEST_STATE");
    expect(exitReasonName(35)).toBe("REASON_35");
  });

  it("mark a failed VM entry with bit 31", () => {
    expect(entryFailureReason(ExitReason.INVALID_GUEST_STATE)).toBe(0x80000021);
    expect(entryFailureReason(ExitReason.MSR_LOADING)).toBe(0x80000022);
  });

  it("say which exits come from an instruction and record its length", () => {
    for (const r of [ExitReason.CPUID, ExitReason.HLT, ExitReason.IO_INSTRUCTION, ExitReason.RDMSR, ExitReason.CR_ACCESS, ExitReason.VMCALL, ExitReason.INVLPG]) {
      expect(recordsInstructionLength(r), exitReasonName(r)).toBe(true);
    }
    for (const r of [ExitReason.EXTERNAL_INTERRUPT, ExitReason.EPT_VIOLATION, ExitReason.TRIPLE_FAULT, ExitReason.INTERRUPT_WINDOW]) {
      expect(recordsInstructionLength(r), exitReasonName(r)).toBe(false);
    }
    expect(recordsInstructionLength(ExitReason.EXCEPTION_NMI)).toBe(false);
    expect(recordsInstructionLength(ExitReason.EXCEPTION_NMI, true)).toBe(true); // INT3
    expect(isVmxInstructionExit(ExitReason.VMREAD)).toBe(true);
    expect(isVmxInstructionExit(ExitReason.INVEPT)).toBe(true);
    expect(isVmxInstructionExit(ExitReason.CR_ACCESS)).toBe(false);
  });
});

describe("exit qualifications", () => {
  it("encode I/O instructions as table 27-5: size, direction, string, REP, immediate, port", () => {
    expect(ioQualification(0x3f8, 1, false)).toBe(0x03f80000); // out dx, al
    expect(ioQualification(0x60, 1, true, false, false, true)).toBe(0x00600048); // in al, 0x60
    expect(ioQualification(0x1f0, 2, true, true, true)).toBe(0x01f00039); // rep insw
    expect(ioQualification(0xcfc, 4, false)).toBe(0x0cfc0003); // out dx, eax
    expect(decodeIoQualification(0x01f00039)).toEqual({ port: 0x1f0, size: 2, input: true, string: true, rep: true, immediate: false });
    expect(decodeIoQualification(ioQualification(0xffff, 4, false, true, false, false))).toMatchObject({ port: 0xffff, size: 4, string: true });
  });

  it("encode control-register accesses as table 27-3: CR, access type, register, LMSW operand", () => {
    expect(crQualification(0, CrAccess.MOV_TO_CR, 3)).toBe(0x300); // mov cr0, ebx
    expect(crQualification(3, CrAccess.MOV_FROM_CR, 0)).toBe(0x13); // mov eax, cr3
    expect(crQualification(0, CrAccess.CLTS)).toBe(0x20);
    expect(crQualification(0, CrAccess.LMSW, 0, true, 0x0001)).toBe(0x10070);
    expect(crQualification(4, CrAccess.MOV_TO_CR, 7)).toBe(0x704);
    expect(decodeCrQualification(0x10070)).toEqual({ cr: 0, access: CrAccess.LMSW, lmswMemory: true, gpr: 0, lmswSource: 1 });
  });

  it("encode MOV DR as table 27-4 and task switches as table 27-2", () => {
    expect(drQualification(7, false, 1)).toBe(0x107); // mov dr7, ecx
    expect(drQualification(6, true, 2)).toBe(0x216); // mov edx, dr6
    expect(decodeDrQualification(0x216)).toEqual({ dr: 6, fromDr: true, gpr: 2 });
    expect(taskSwitchQualification(0x28, TaskSource.TASK_GATE)).toBe(0xc0000028);
    expect(decodeTaskSwitch(0x40000030)).toEqual({ selector: 0x30, source: TaskSource.IRET });
  });

  it("encode EPT violations as table 27-7: access, EPT rights, guest-linear kind", () => {
    // A read of a guest-physical page with no mapping, the final access of a linear translation.
    expect(eptViolationQualification(1, 0, GuestLinear.TRANSLATION)).toBe(0x181);
    // A write to a read/execute page.
    expect(eptViolationQualification(2, 5, GuestLinear.TRANSLATION)).toBe(0x1aa);
    // A guest page-walk read of a paging-structure entry.
    expect(eptViolationQualification(1, 0, GuestLinear.PAGING_STRUCTURE)).toBe(0x81);
    // PDPTE loading: no linear address.
    expect(eptViolationQualification(1, 0, GuestLinear.NONE)).toBe(0x1);
    expect(eptViolationQualification(4, 3, GuestLinear.TRANSLATION, true)).toBe(0x119c);
    expect(decodeEptViolation(0x1aa)).toEqual({
      read: false, write: true, fetch: false, readable: true, writable: false, executable: true,
      linearValid: true, translation: true, nmiUnblocking: false,
    });
    expect(decodeEptViolation(0x81).translation).toBe(false);
  });
});

describe("interruption information", () => {
  it("encodes vector, type, error-code flag and valid bit as tables 24-13 and 24-15", () => {
    expect(intInfo(13, IntType.HARDWARE_EXCEPTION, true)).toBe(0x80000b0d); // #GP
    expect(intInfo(0x20, IntType.EXTERNAL)).toBe(0x80000020);
    expect(intInfo(2, IntType.NMI)).toBe(0x80000202);
    expect(intInfo(3, IntType.SOFTWARE_EXCEPTION)).toBe(0x80000603); // INT3
    expect(intInfo(0x80, IntType.SOFTWARE_INTERRUPT)).toBe(0x80000480);
    expect(intInfo(0, IntType.OTHER_EVENT)).toBe(0x80000700);
    expect(decodeIntInfo(0x80000b0e)).toEqual({ valid: true, vector: 14, type: IntType.HARDWARE_EXCEPTION, errorCode: true, nmiUnblocking: false });
    expect(decodeIntInfo(0x00000020).valid).toBe(false);
    expect(decodeIntInfo(0x80000b0e | 0).valid).toBe(true);
  });

  it("knows which exceptions push an error code and how each event reports its type", () => {
    expect([0, 1, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 16, 17, 18].filter(hasErrorCode)).toEqual([8, 10, 11, 12, 13, 14, 17]);
    expect(exceptionType(14)).toBe(IntType.HARDWARE_EXCEPTION);
    expect(exceptionType(2)).toBe(IntType.NMI);
    expect(exceptionType(3, true)).toBe(IntType.SOFTWARE_EXCEPTION);
    expect(exceptionType(1, false, true)).toBe(IntType.PRIVILEGED_SOFTWARE_EXCEPTION);
  });
});

describe("VM-exit instruction information", () => {
  it("gives INS/OUTS their address size and segment (table 27-8)", () => {
    expect(insOutsInfo(32, 3)).toBe(0x18080); // outsb with DS, 32-bit addressing
    expect(insOutsInfo(16, 0)).toBe(0);
  });

  it("describes a VMX instruction's memory or register operand (tables 27-9, 27-13)", () => {
    // vmptrld [ebx + esi*4 + 8]: scale 2, 32-bit, memory, DS, index ESI, base EBX
    expect(vmxInsnInfo({ scale: 2, seg: 3, index: 6, base: 3 })).toBe(2 | (1 << 7) | (3 << 15) | (6 << 18) | (3 << 23));
    // vmread eax, ecx: register operand reg1 = EAX, reg2 = ECX; no index or base
    expect(vmxInsnInfo({ register: true, reg1: 0, reg2: 1 })).toBe(((1 << 7) | (1 << 10) | (1 << 22) | (1 << 27) | (1 << 28)) >>> 0);
  });
});

describe("recording an exit", () => {
  it("writes the exit fields and invalidates the entry's injected event", () => {
    const v = new Vmcs();
    v.write(Field.VM_ENTRY_INTR_INFO, intInfo(0x20, IntType.EXTERNAL));
    v.write(Field.VM_EXIT_INTR_INFO, 0xffffffff);
    recordExit(v, ExitReason.IO_INSTRUCTION, ioQualification(0x3f8, 1, false), 1);
    expect(v.read(Field.VM_EXIT_REASON)).toBe(30);
    expect(v.read(Field.EXIT_QUALIFICATION)).toBe(0x03f80000);
    expect(v.read(Field.VM_EXIT_INSTRUCTION_LEN)).toBe(1);
    expect(v.read(Field.VM_EXIT_INTR_INFO)).toBe(0);
    expect(v.read(Field.VM_ENTRY_INTR_INFO)).toBe(0x20);
  });

  it("records the event behind an exit and the event whose delivery it interrupted", () => {
    const v = new Vmcs();
    recordExit(v, ExitReason.EPT_VIOLATION, eptViolationQualification(2, 5, GuestLinear.PAGING_STRUCTURE), 0, 0, 0xc0001000, 0x5000);
    recordIdtVectoring(v, intInfo(14, IntType.HARDWARE_EXCEPTION, true) | (1 << 12), 2);
    expect(v.read64(Field.GUEST_PHYSICAL_ADDRESS)).toBe(0x5000n);
    expect(v.read(Field.GUEST_LINEAR_ADDRESS)).toBe(0xc0001000);
    expect(v.read(Field.IDT_VECTORING_INFO)).toBe(0x80000b0e);
    expect(v.read(Field.IDT_VECTORING_ERROR_CODE)).toBe(2);
    recordExit(v, ExitReason.EXCEPTION_NMI, 0xc0001000);
    recordExitEvent(v, intInfo(14, IntType.HARDWARE_EXCEPTION, true), 6);
    expect(v.read(Field.VM_EXIT_INTR_INFO)).toBe(0x80000b0e);
    expect(v.read(Field.VM_EXIT_INTR_ERROR_CODE)).toBe(6);
    expect(v.read(Field.IDT_VECTORING_INFO)).toBe(0);
  });
});

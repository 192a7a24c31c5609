import { describe, expect, it } from "vitest";
import {
  FIELDS, Field, FieldType, HIGHEST_FIELD_INDEX, Width, fieldByName, fieldIndex, fieldName, fieldType, fieldWidth,
  guestArField, guestBaseField, guestLimitField, guestSelectorField, high, hostSelectorField, slotOf,
} from "./fields.js";

// Appendix B of the SDM (vol. 3D), transcribed for a 32-bit processor with EPT and unrestricted
// guest: the oracle the Field enum and the FIELDS name table are checked against.
const APPENDIX_B = `
0800 GUEST_ES_SELECTOR  0802 GUEST_CS_SELECTOR  0804 GUEST_SS_SELECTOR  0806 GUEST_DS_SELECTOR
0808 GUEST_FS_SELECTOR  080a GUEST_GS_SELECTOR  080c GUEST_LDTR_SELECTOR 080e GUEST_TR_SELECTOR
0c00 HOST_ES_SELECTOR   0c02 HOST_CS_SELECTOR   0c04 HOST_SS_SELECTOR   0c06 HOST_DS_SELECTOR
0c08 HOST_FS_SELECTOR   0c0a HOST_GS_SELECTOR   0c0c HOST_TR_SELECTOR
2000 IO_BITMAP_A  2002 IO_BITMAP_B  2004 MSR_BITMAP  2006 VM_EXIT_MSR_STORE_ADDR  2008 VM_EXIT_MSR_LOAD_ADDR
200a VM_ENTRY_MSR_LOAD_ADDR  200c EXECUTIVE_VMCS_POINTER  2010 TSC_OFFSET  201a EPT_POINTER
2400 GUEST_PHYSICAL_ADDRESS
2800 VMCS_LINK_POINTER  2802 GUEST_IA32_DEBUGCTL  2804 GUEST_IA32_PAT  2806 GUEST_IA32_EFER
280a GUEST_PDPTE0  280c GUEST_PDPTE1  280e GUEST_PDPTE2  2810 GUEST_PDPTE3
2c00 HOST_IA32_PAT  2c02 HOST_IA32_EFER
4000 PIN_BASED_CTLS  4002 PROC_BASED_CTLS  4004 EXCEPTION_BITMAP  4006 PF_ERROR_CODE_MASK  4008 PF_ERROR_CODE_MATCH
400a CR3_TARGET_COUNT  400c VM_EXIT_CTLS  400e VM_EXIT_MSR_STORE_COUNT  4010 VM_EXIT_MSR_LOAD_COUNT
4012 VM_ENTRY_CTLS  4014 VM_ENTRY_MSR_LOAD_COUNT  4016 VM_ENTRY_INTR_INFO  4018 VM_ENTRY_EXCEPTION_ERROR_CODE
401a VM_ENTRY_INSTRUCTION_LEN  401e PROC_BASED_CTLS2
4400 VM_INSTRUCTION_ERROR  4402 VM_EXIT_REASON  4404 VM_EXIT_INTR_INFO  4406 VM_EXIT_INTR_ERROR_CODE
4408 IDT_VECTORING_INFO  440a IDT_VECTORING_ERROR_CODE  440c VM_EXIT_INSTRUCTION_LEN  440e VM_EXIT_INSTRUCTION_INFO
4800 GUEST_ES_LIMIT  4802 GUEST_CS_LIMIT  4804 GUEST_SS_LIMIT  4806 GUEST_DS_LIMIT  4808 GUEST_FS_LIMIT
480a GUEST_GS_LIMIT  480c GUEST_LDTR_LIMIT  480e GUEST_TR_LIMIT  4810 GUEST_GDTR_LIMIT  4812 GUEST_IDTR_LIMIT
4814 GUEST_ES_AR  4816 GUEST_CS_AR  4818 GUEST_SS_AR  481a GUEST_DS_AR  481c GUEST_FS_AR  481e GUEST_GS_AR
4820 GUEST_LDTR_AR  4822 GUEST_TR_AR  4824 GUEST_INTERRUPTIBILITY  4826 GUEST_ACTIVITY_STATE  4828 GUEST_SMBASE
482a GUEST_IA32_SYSENTER_CS
4c00 HOST_IA32_SYSENTER_CS
6000 CR0_GUEST_HOST_MASK  6002 CR4_GUEST_HOST_MASK  6004 CR0_READ_SHADOW  6006 CR4_READ_SHADOW
6008 CR3_TARGET_VALUE0  600a CR3_TARGET_VALUE1  600c CR3_TARGET_VALUE2  600e CR3_TARGET_VALUE3
6400 EXIT_QUALIFICATION  6402 IO_RCX  6404 IO_RSI  6406 IO_RDI  6408 IO_RIP  640a GUEST_LINEAR_ADDRESS
6800 GUEST_CR0  6802 GUEST_CR3  6804 GUEST_CR4  6806 GUEST_ES_BASE  6808 GUEST_CS_BASE  680a GUEST_SS_BASE
680c GUEST_DS_BASE  680e GUEST_FS_BASE  6810 GUEST_GS_BASE  6812 GUEST_LDTR_BASE  6814 GUEST_TR_BASE
6816 GUEST_GDTR_BASE  6818 GUEST_IDTR_BASE  681a GUEST_DR7  681c GUEST_RSP  681e GUEST_RIP  6820 GUEST_RFLAGS
6822 GUEST_PENDING_DBG_EXCEPTIONS  6824 GUEST_IA32_SYSENTER_ESP  6826 GUEST_IA32_SYSENTER_EIP
6c00 HOST_CR0  6c02 HOST_CR3  6c04 HOST_CR4  6c06 HOST_FS_BASE  6c08 HOST_GS_BASE  6c0a HOST_TR_BASE
6c0c HOST_GDTR_BASE  6c0e HOST_IDTR_BASE  6c10 HOST_IA32_SYSENTER_ESP  6c12 HOST_IA32_SYSENTER_EIP
6c14 HOST_RSP  6c16 HOST_RIP`;

const expected = [...APPENDIX_B.matchAll(/([0-9a-f]{4}) (\w+)/g)].map((m) => [parseInt(m[1], 16), m[2]] as const);

describe("VMCS field encodings", () => {
  it("gives the encodings every VMM uses", () => {
    expect(Field.GUEST_CR0).toBe(0x6800);
    expect(Field.VM_EXIT_REASON).toBe(0x4402);
    expect(Field.EXIT_QUALIFICATION).toBe(0x6400);
    expect(Field.EPT_POINTER).toBe(0x201a);
    expect(Field.IO_BITMAP_A).toBe(0x2000);
    expect(Field.GUEST_RIP).toBe(0x681e);
    expect(Field.PROC_BASED_CTLS).toBe(0x4002);
  });

  it("lists exactly the Appendix B fields of a 32-bit VMX with EPT, by the same names", () => {
    expect(FIELDS.map(([enc, name]) => [enc, name])).toEqual(expected.map(([enc, name]) => [enc, name]));
    expect(FIELDS).toHaveLength(127);
  });

  it("keeps each field's width, type and index where the encoding's bit fields say", () => {
    const count = new Map<string, number>();
    for (const [enc] of FIELDS) {
      expect(enc & 1, `0x${enc.toString(16)}`).toBe(0);
      expect(enc & 0xffff9000).toBe(0);
      const key = `${fieldWidth(enc)}/${fieldType(enc)}`;
      count.set(key, (count.get(key) ?? 0) + 1);
    }
    // (width / type): counts per group of Appendix B for this processor
    expect(Object.fromEntries(count)).toEqual({
      [`${Width.W16}/${FieldType.GUEST}`]: 8, [`${Width.W16}/${FieldType.HOST}`]: 7,
      [`${Width.W64}/${FieldType.CONTROL}`]: 9, [`${Width.W64}/${FieldType.EXIT_INFO}`]: 1,
      [`${Width.W64}/${FieldType.GUEST}`]: 8, [`${Width.W64}/${FieldType.HOST}`]: 2,
      [`${Width.W32}/${FieldType.CONTROL}`]: 15, [`${Width.W32}/${FieldType.EXIT_INFO}`]: 8,
      [`${Width.W32}/${FieldType.GUEST}`]: 22, [`${Width.W32}/${FieldType.HOST}`]: 1,
      [`${Width.NATURAL}/${FieldType.CONTROL}`]: 8, [`${Width.NATURAL}/${FieldType.EXIT_INFO}`]: 6,
      [`${Width.NATURAL}/${FieldType.GUEST}`]: 20, [`${Width.NATURAL}/${FieldType.HOST}`]: 12,
    });
    expect(fieldIndex(Field.GUEST_RIP)).toBe(0xf);
  });

  it("accepts the high access type only on 64-bit fields", () => {
    expect(slotOf(high(Field.IO_BITMAP_A))).toBe(slotOf(Field.IO_BITMAP_A));
    expect(slotOf(Field.TSC_OFFSET | 1)).toBeGreaterThanOrEqual(0);
    expect(slotOf(Field.GUEST_CR0 | 1)).toBe(-1);
    expect(slotOf(Field.PROC_BASED_CTLS | 1)).toBe(-1);
    expect(slotOf(Field.GUEST_CS_SELECTOR | 1)).toBe(-1);
  });

  it("knows no field for components this CPU lacks or encodings with reserved bits", () => {
    expect(slotOf(0x0000)).toBe(-1); // virtual-processor identifier (no VPID)
    expect(slotOf(0x2012)).toBe(-1); // virtual-APIC address (no TPR shadow)
    expect(slotOf(0x200e)).toBe(-1); // PML address
    expect(slotOf(0x482e)).toBe(-1); // VMX-preemption timer value
    expect(slotOf(0x2808)).toBe(-1); // guest IA32_PERF_GLOBAL_CTRL
    expect(slotOf(0x401c)).toBe(-1); // TPR threshold
    expect(slotOf(Field.GUEST_CR0 | 0x1000)).toBe(-1); // bit 12 reserved
    expect(slotOf(Field.GUEST_CR0 | 0x10000)).toBe(-1); // bits 31:15 reserved
    expect(slotOf(-1)).toBe(-1);
  });

  it("reports the highest field index for IA32_VMX_VMCS_ENUM", () => {
    expect(HIGHEST_FIELD_INDEX).toBe(fieldIndex(Field.GUEST_IA32_SYSENTER_CS));
    expect(HIGHEST_FIELD_INDEX).toBe(21);
  });

  it("names encodings for debuggers, high halves included", () => {
    expect(fieldName(Field.GUEST_CR0)).toBe("GUEST_CR0");
    expect(fieldName(0x2001)).toBe("IO_BITMAP_A_HIGH");
    expect(fieldName(0x482e)).toBe("0x482e");
    expect(fieldByName("EPT_POINTER")).toBe(Field.EPT_POINTER);
    expect(fieldByName("NO_SUCH_FIELD")).toBeUndefined();
  });

  it("finds a segment register's guest fields by the CPU's segment number (ES CS SS DS FS GS)", () => {
    expect(guestSelectorField(1)).toBe(Field.GUEST_CS_SELECTOR);
    expect(guestBaseField(2)).toBe(Field.GUEST_SS_BASE);
    expect(guestLimitField(5)).toBe(Field.GUEST_GS_LIMIT);
    expect(guestArField(3)).toBe(Field.GUEST_DS_AR);
    expect(hostSelectorField(4)).toBe(Field.HOST_FS_SELECTOR);
  });
});

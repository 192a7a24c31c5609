import { describe, expect, it, vi } from "vitest";
import { CAPS, EntryCtl, ExitCtl, Interruptibility, Pin, Proc, Proc2 } from "./controls.js";
import { makeEptp } from "./ept.js";
import { ENTRY_CHECKS, arFromAttr, attrFromAr, checkVmEntry, type EntryFailure } from "./entry.js";
import { EntryFailureQual, IntType, intInfo } from "./exits.js";
import { Field, FieldType, fieldName, fieldType } from "./fields.js";
import { VMCS_REVISION_ID, Vmcs, type PhysWords } from "./vmcs.js";

function ram(): PhysWords {
  const i32 = new Int32Array(0x20000 / 4);
  return { read32: (a) => i32[a >>> 2], write32: (a, v) => void (i32[a >>> 2] = v) };
}

const CODE32 = 0xc09b, DATA32 = 0xc093, TSS32_BUSY = 0x8b, UNUSABLE = 0x10000;

/** A flat 32-bit ring-0 guest with paging, EPT, I/O and MSR bitmaps: what a VMM sets up. */
function valid(): Vmcs {
  const v = new Vmcs();
  v.write(Field.PIN_BASED_CTLS, CAPS.truePin.must1 | Pin.EXT_INT_EXITING);
  v.write(Field.PROC_BASED_CTLS, CAPS.trueProc.must1 | Proc.HLT_EXITING | Proc.USE_IO_BITMAPS | Proc.USE_MSR_BITMAPS | Proc.ACTIVATE_SECONDARY);
  v.write(Field.PROC_BASED_CTLS2, Proc2.ENABLE_EPT);
  v.write(Field.EPT_POINTER, makeEptp(0x10000));
  v.write(Field.IO_BITMAP_A, 0x11000);
  v.write(Field.IO_BITMAP_B, 0x12000);
  v.write(Field.MSR_BITMAP, 0x13000);
  v.write(Field.VM_EXIT_CTLS, CAPS.trueExit.must1 | ExitCtl.ACK_INTERRUPT_ON_EXIT);
  v.write(Field.VM_ENTRY_CTLS, CAPS.trueEntry.must1);
  v.write64(Field.VMCS_LINK_POINTER, 0xffffffff, 0xffffffff);
  // Host: protected mode with paging, flat segments.
  v.write(Field.HOST_CR0, 0x80000031);
  v.write(Field.HOST_CR4, 0x2010);
  v.write(Field.HOST_CS_SELECTOR, 0x08);
  for (const f of [Field.HOST_SS_SELECTOR, Field.HOST_DS_SELECTOR, Field.HOST_ES_SELECTOR, Field.HOST_FS_SELECTOR, Field.HOST_GS_SELECTOR]) v.write(f, 0x10);
  v.write(Field.HOST_TR_SELECTOR, 0x18);
  // Guest: the same.
  v.write(Field.GUEST_CR0, 0x80000031);
  v.write(Field.GUEST_CR4, 0x2000);
  v.write(Field.GUEST_DR7, 0x400);
  v.write(Field.GUEST_RFLAGS, 0x2);
  v.write(Field.GUEST_CS_SELECTOR, 0x08);
  v.write(Field.GUEST_CS_LIMIT, 0xffffffff);
  v.write(Field.GUEST_CS_AR, CODE32);
  for (const seg of ["SS", "DS", "ES", "FS", "GS"]) {
    v.write(guest(seg, "SELECTOR"), 0x10);
    v.write(guest(seg, "LIMIT"), 0xffffffff);
    v.write(guest(seg, "AR"), DATA32);
  }
  v.write(Field.GUEST_LDTR_AR, UNUSABLE);
  v.write(Field.GUEST_TR_SELECTOR, 0x18);
  v.write(Field.GUEST_TR_LIMIT, 0x67);
  v.write(Field.GUEST_TR_AR, TSS32_BUSY);
  v.write(Field.GUEST_GDTR_LIMIT, 0x1f);
  v.write(Field.GUEST_IDTR_LIMIT, 0x7ff);
  return v;
}

const SEG_FIELDS: Record<string, Record<string, Field>> = {
  ES: { SELECTOR: Field.GUEST_ES_SELECTOR, BASE: Field.GUEST_ES_BASE, LIMIT: Field.GUEST_ES_LIMIT, AR: Field.GUEST_ES_AR },
  CS: { SELECTOR: Field.GUEST_CS_SELECTOR, BASE: Field.GUEST_CS_BASE, LIMIT: Field.GUEST_CS_LIMIT, AR: Field.GUEST_CS_AR },
  SS: { SELECTOR: Field.GUEST_SS_SELECTOR, BASE: Field.GUEST_SS_BASE, LIMIT: Field.GUEST_SS_LIMIT, AR: Field.GUEST_SS_AR },
  DS: { SELECTOR: Field.GUEST_DS_SELECTOR, BASE: Field.GUEST_DS_BASE, LIMIT: Field.GUEST_DS_LIMIT, AR: Field.GUEST_DS_AR },
  FS: { SELECTOR: Field.GUEST_FS_SELECTOR, BASE: Field.GUEST_FS_BASE, LIMIT: Field.GUEST_FS_LIMIT, AR: Field.GUEST_FS_AR },
  GS: { SELECTOR: Field.GUEST_GS_SELECTOR, BASE: Field.GUEST_GS_BASE, LIMIT: Field.GUEST_GS_LIMIT, AR: Field.GUEST_GS_AR },
};
function guest(seg: string, part: string): Field {
  return SEG_FIELDS[seg][part];
}

/** Turns a valid VMCS into a real-mode guest under unrestricted guest. */
function realMode(v: Vmcs): void {
  v.write(Field.PROC_BASED_CTLS2, Proc2.ENABLE_EPT | Proc2.UNRESTRICTED_GUEST);
  v.write(Field.GUEST_CR0, 0x00000030);
  for (const seg of ["CS", "SS", "DS", "ES", "FS", "GS"]) {
    v.write(guest(seg, "SELECTOR"), seg === "CS" ? 0xf000 : 0);
    v.write(guest(seg, "BASE"), seg === "CS" ? 0xf0000 : 0);
    v.write(guest(seg, "LIMIT"), 0xffff);
    v.write(guest(seg, "AR"), 0x93);
  }
}

/** Turns a valid VMCS into a virtual-8086 guest (segments as VM86 mode loads them). */
function v86(v: Vmcs): void {
  v.write(Field.GUEST_RFLAGS, 0x20202);
  for (const seg of ["CS", "SS", "DS", "ES", "FS", "GS"]) {
    const sel = seg === "CS" ? 0x1234 : 0x2000;
    v.write(guest(seg, "SELECTOR"), sel);
    v.write(guest(seg, "BASE"), sel << 4);
    v.write(guest(seg, "LIMIT"), 0xffff);
    v.write(guest(seg, "AR"), 0xf3);
  }
}

/** A ring-3 protected-mode guest. */
function ring3(v: Vmcs): void {
  v.write(Field.GUEST_CS_SELECTOR, 0x1b);
  v.write(Field.GUEST_CS_AR, CODE32 | 0x60);
  for (const seg of ["SS", "DS", "ES", "FS", "GS"]) {
    v.write(guest(seg, "SELECTOR"), 0x23);
    v.write(guest(seg, "AR"), DATA32 | 0x60);
  }
}

function inject(v: Vmcs, vector: number, type: IntType, errorCode = false, code = 0, len = 0): void {
  v.write(Field.VM_ENTRY_INTR_INFO, intInfo(vector, type, errorCode));
  v.write(Field.VM_ENTRY_EXCEPTION_ERROR_CODE, code);
  v.write(Field.VM_ENTRY_INSTRUCTION_LEN, len);
}

function check(mutate: (v: Vmcs, mem: PhysWords) => void): EntryFailure | null {
  const v = valid();
  const mem = ram();
  mutate(v, mem);
  return checkVmEntry(v, mem, 0x1000);
}

describe("VM-entry checks", () => {
  it("accept a VMCS set up as the capability MSRs allow", () => {
    expect(check(() => {})).toBeNull();
  });

  it("accept a real-mode guest under unrestricted guest", () => {
    expect(check(realMode)).toBeNull();
  });

  it("accept a virtual-8086 guest and a ring-3 guest", () => {
    expect(check(v86)).toBeNull();
    expect(check(ring3)).toBeNull();
  });

  it("accept each event injection a VMM makes", () => {
    expect(check((v) => { v.write(Field.GUEST_RFLAGS, 0x202); inject(v, 0x20, IntType.EXTERNAL); })).toBeNull();
    expect(check((v) => inject(v, 13, IntType.HARDWARE_EXCEPTION, true, 0x18))).toBeNull();
    expect(check((v) => inject(v, 6, IntType.HARDWARE_EXCEPTION))).toBeNull();
    expect(check((v) => inject(v, 2, IntType.NMI))).toBeNull();
    expect(check((v) => inject(v, 0x80, IntType.SOFTWARE_INTERRUPT, false, 0, 2))).toBeNull();
    expect(check((v) => inject(v, 3, IntType.SOFTWARE_EXCEPTION, false, 0, 1))).toBeNull();
    // In real mode under unrestricted guest, exceptions push no error code.
    expect(check((v) => { realMode(v); inject(v, 13, IntType.HARDWARE_EXCEPTION); })).toBeNull();
    // A halted guest takes an external interrupt.
    expect(check((v) => { v.write(Field.GUEST_RFLAGS, 0x202); v.write(Field.GUEST_ACTIVITY_STATE, 1); inject(v, 0x20, IntType.EXTERNAL); })).toBeNull();
  });

  it("accept a VMCS link pointer that names a region of our revision, and valid PAE PDPTEs", () => {
    expect(check((v, mem) => { v.write64(Field.VMCS_LINK_POINTER, 0x5000, 0); mem.write32(0x5000, VMCS_REVISION_ID); })).toBeNull();
    expect(check((v) => { v.write(Field.GUEST_CR4, 0x2020); v.write64(Field.GUEST_PDPTE0, 0x7001, 0); })).toBeNull();
  });

  it("name every check once", () => {
    const all = [...ENTRY_CHECKS.control, ...ENTRY_CHECKS.host, ...ENTRY_CHECKS.guest];
    expect(new Set(all).size).toBe(all.length);
    expect(all.length).toBeGreaterThan(70);
  });

  // [what is wrong, how, area, a word of the failing check, VMfailValid error, exit qualification]
  const failures: [string, (v: Vmcs, mem: PhysWords) => void, EntryFailure["area"], string, number, number][] = [
    ["pin-based default1 bits clear", (v) => v.write(Field.PIN_BASED_CTLS, 0), "control", "pin-based", 7, 0],
    ["TPR shadow, which this CPU lacks", (v) => v.write(Field.PROC_BASED_CTLS, v.read(Field.PROC_BASED_CTLS) | Proc.USE_TPR_SHADOW), "control", "primary", 7, 0],
    ["VPID, which this CPU lacks", (v) => v.write(Field.PROC_BASED_CTLS2, Proc2.ENABLE_EPT | Proc2.ENABLE_VPID), "control", "secondary", 7, 0],
    ["five CR3 targets", (v) => v.write(Field.CR3_TARGET_COUNT, 5), "control", "CR3-target count", 7, 0],
    ["a misaligned I/O bitmap", (v) => v.write(Field.IO_BITMAP_B, 0x12004), "control", "I/O bitmaps", 7, 0],
    ["an MSR bitmap above 4 GiB", (v) => v.write(Field.MSR_BITMAP | 1, 1), "control", "MSR bitmap", 7, 0],
    ["virtual NMIs without NMI exiting", (v) => v.write(Field.PIN_BASED_CTLS, CAPS.truePin.must1 | Pin.VIRTUAL_NMIS), "control", "virtual NMIs require", 7, 0],
    ["NMI-window exiting without virtual NMIs", (v) => v.write(Field.PROC_BASED_CTLS, v.read(Field.PROC_BASED_CTLS) | Proc.NMI_WINDOW_EXITING), "control", "NMI-window", 7, 0],
    ["an EPTP with walk length 3", (v) => v.write(Field.EPT_POINTER, 0x10016), "control", "EPT pointer", 7, 0],
    ["unrestricted guest without EPT", (v) => v.write(Field.PROC_BASED_CTLS2, Proc2.UNRESTRICTED_GUEST), "control", "requires EPT", 7, 0],
    ["a 64-bit host", (v) => v.write(Field.VM_EXIT_CTLS, v.read(Field.VM_EXIT_CTLS) | ExitCtl.HOST_ADDRESS_SPACE_SIZE), "control", "VM-exit controls", 7, 0],
    ["a misaligned VM-exit MSR-store area", (v) => { v.write(Field.VM_EXIT_MSR_STORE_COUNT, 1); v.write(Field.VM_EXIT_MSR_STORE_ADDR, 0x8); }, "control", "MSR-store", 7, 0],
    ["a VM-exit MSR-load area running past 4 GiB", (v) => { v.write(Field.VM_EXIT_MSR_LOAD_COUNT, 2); v.write(Field.VM_EXIT_MSR_LOAD_ADDR, 0xfffffff0); }, "control", "MSR-load", 7, 0],
    ["an IA-32e mode guest", (v) => v.write(Field.VM_ENTRY_CTLS, v.read(Field.VM_ENTRY_CTLS) | EntryCtl.IA32E_MODE_GUEST), "control", "VM-entry controls", 7, 0],
    ["injection type 1", (v) => v.write(Field.VM_ENTRY_INTR_INFO, 0x80000100), "control", "reserved (1)", 7, 0],
    ["an NMI with vector 3", (v) => inject(v, 3, IntType.NMI), "control", "NMI has vector 2", 7, 0],
    ["a hardware exception with vector 32", (v) => inject(v, 32, IntType.HARDWARE_EXCEPTION), "control", "at most 31", 7, 0],
    ["an other event with vector 1", (v) => inject(v, 1, IntType.OTHER_EVENT), "control", "other event", 7, 0],
    ["#GP without its error code", (v) => inject(v, 13, IntType.HARDWARE_EXCEPTION), "control", "deliver-error-code", 7, 0],
    ["#UD with an error code", (v) => inject(v, 6, IntType.HARDWARE_EXCEPTION, true), "control", "deliver-error-code", 7, 0],
    ["an external interrupt with an error code", (v) => inject(v, 0x20, IntType.EXTERNAL, true), "control", "deliver-error-code", 7, 0],
    ["#GP with an error code in real mode", (v) => { realMode(v); inject(v, 13, IntType.HARDWARE_EXCEPTION, true); }, "control", "deliver-error-code", 7, 0],
    ["bit 12 in the injected event", (v) => v.write(Field.VM_ENTRY_INTR_INFO, intInfo(0x20, IntType.EXTERNAL) | 0x1000), "control", "30:12", 7, 0],
    ["an error code above 16 bits", (v) => inject(v, 13, IntType.HARDWARE_EXCEPTION, true, 0x10000), "control", "31:16", 7, 0],
    ["INT n with instruction length 0", (v) => inject(v, 0x80, IntType.SOFTWARE_INTERRUPT), "control", "instruction length", 7, 0],
    ["INT3 with instruction length 16", (v) => inject(v, 3, IntType.SOFTWARE_EXCEPTION, false, 0, 16), "control", "instruction length", 7, 0],
    ["a misaligned VM-entry MSR-load area", (v) => { v.write(Field.VM_ENTRY_MSR_LOAD_COUNT, 1); v.write(Field.VM_ENTRY_MSR_LOAD_ADDR, 0x1004); }, "control", "VM-entry MSR-load", 7, 0],

    ["a host without paging", (v) => v.write(Field.HOST_CR0, 0x31), "host", "host CR0", 8, 0],
    ["a host without CR4.VMXE", (v) => v.write(Field.HOST_CR4, 0x10), "host", "host CR4", 8, 0],
    ["a loaded host PAT with type 2", (v) => { v.write(Field.VM_EXIT_CTLS, v.read(Field.VM_EXIT_CTLS) | ExitCtl.LOAD_IA32_PAT); v.write(Field.HOST_IA32_PAT, 2); }, "host", "host IA32_PAT", 8, 0],
    ["a loaded host EFER with LME", (v) => { v.write(Field.VM_EXIT_CTLS, v.read(Field.VM_EXIT_CTLS) | ExitCtl.LOAD_IA32_EFER); v.write(Field.HOST_IA32_EFER, 0x100); }, "host", "host IA32_EFER", 8, 0],
    ["a host DS with RPL 3", (v) => v.write(Field.HOST_DS_SELECTOR, 0x13), "host", "RPL 0 and TI 0", 8, 0],
    ["a host TR in the LDT", (v) => v.write(Field.HOST_TR_SELECTOR, 0x1c), "host", "RPL 0 and TI 0", 8, 0],
    ["a null host CS", (v) => v.write(Field.HOST_CS_SELECTOR, 0), "host", "CS selector is not null", 8, 0],
    ["a null host TR", (v) => v.write(Field.HOST_TR_SELECTOR, 0), "host", "TR selector is not null", 8, 0],
    ["a null host SS", (v) => v.write(Field.HOST_SS_SELECTOR, 0), "host", "SS selector is not null", 8, 0],

    ["a guest without PE and no unrestricted guest", (v) => v.write(Field.GUEST_CR0, 0x80000030), "guest", "guest CR0 has the bits", 0, 0],
    ["PG without PE under unrestricted guest", (v) => { realMode(v); v.write(Field.GUEST_CR0, 0x80000030); }, "guest", "PG requires", 0, 0],
    ["a guest without CR4.VMXE", (v) => v.write(Field.GUEST_CR4, 0), "guest", "guest CR4", 0, 0],
    ["DEBUGCTL bit 6", (v) => v.write(Field.GUEST_IA32_DEBUGCTL, 0x40), "guest", "DEBUGCTL", 0, 0],
    ["a loaded guest PAT with type 3", (v) => { v.write(Field.VM_ENTRY_CTLS, v.read(Field.VM_ENTRY_CTLS) | EntryCtl.LOAD_IA32_PAT); v.write(Field.GUEST_IA32_PAT | 1, 0x03000000); }, "guest", "guest IA32_PAT", 0, 0],
    ["a loaded guest EFER with SCE", (v) => { v.write(Field.VM_ENTRY_CTLS, v.read(Field.VM_ENTRY_CTLS) | EntryCtl.LOAD_IA32_EFER); v.write(Field.GUEST_IA32_EFER, 1); }, "guest", "guest IA32_EFER", 0, 0],
    ["a TR selector in the LDT", (v) => v.write(Field.GUEST_TR_SELECTOR, 0x1c), "guest", "TR selector has TI 0", 0, 0],
    ["a usable LDTR selector in the LDT", (v) => { v.write(Field.GUEST_LDTR_AR, 0x82); v.write(Field.GUEST_LDTR_SELECTOR, 0x24); }, "guest", "LDTR selector has TI 0", 0, 0],
    ["SS.RPL unlike CS.RPL", (v) => v.write(Field.GUEST_SS_SELECTOR, 0x13), "guest", "SS.RPL equals CS.RPL", 0, 0],
    ["a virtual-8086 base unlike selector * 16", (v) => { v86(v); v.write(Field.GUEST_DS_BASE, 0); }, "guest", "bases are selector * 16", 0, 0],
    ["a virtual-8086 limit of 4 GiB", (v) => { v86(v); v.write(Field.GUEST_ES_LIMIT, 0xffffffff); }, "guest", "limits are 0xFFFF", 0, 0],
    ["virtual-8086 access rights of a 32-bit segment", (v) => { v86(v); v.write(Field.GUEST_FS_AR, 0xc0f3); }, "guest", "access rights are 0xF3", 0, 0],
    ["a data-segment CS without unrestricted guest", (v) => v.write(Field.GUEST_CS_AR, DATA32), "guest", "guest CS is an accessed code", 0, 0],
    ["a code-segment SS", (v) => v.write(Field.GUEST_SS_AR, CODE32), "guest", "usable guest SS", 0, 0],
    ["a DS not yet accessed", (v) => v.write(Field.GUEST_DS_AR, DATA32 & ~1), "guest", "are accessed", 0, 0],
    ["an execute-only GS", (v) => v.write(Field.GUEST_GS_AR, 0xc099), "guest", "readable if code", 0, 0],
    ["a system-segment ES", (v) => v.write(Field.GUEST_ES_AR, DATA32 & ~0x10), "guest", "S = 1", 0, 0],
    ["a ring-3 non-conforming CS over a ring-0 SS", (v) => v.write(Field.GUEST_CS_AR, CODE32 | 0x60), "guest", "guest CS.DPL", 0, 0],
    ["SS.DPL unlike SS.RPL", (v) => { v.write(Field.GUEST_CS_AR, 0xc09f); v.write(Field.GUEST_SS_AR, DATA32 | 0x60); }, "guest", "SS.DPL equals SS.RPL", 0, 0],
    ["SS.DPL 3 in real mode", (v) => { realMode(v); v.write(Field.GUEST_SS_AR, 0xf3); }, "guest", "SS.DPL is 0", 0, 0],
    ["a DS with DPL below its RPL", (v) => v.write(Field.GUEST_DS_SELECTOR, 0x13), "guest", "DPL at least RPL", 0, 0],
    ["a usable FS that is not present", (v) => v.write(Field.GUEST_FS_AR, DATA32 & ~0x80), "guest", "present", 0, 0],
    ["a reserved access-rights bit in DS", (v) => v.write(Field.GUEST_DS_AR, DATA32 | 0x100), "guest", "11:8", 0, 0],
    ["a 64-bit CS", (v) => v.write(Field.GUEST_CS_AR, CODE32 | 0x2000), "guest", "L bit", 0, 0],
    ["a 4 GiB DS with byte granularity", (v) => v.write(Field.GUEST_DS_AR, DATA32 & ~0x8000), "guest", "granularity", 0, 0],
    ["a TR that is an available TSS", (v) => v.write(Field.GUEST_TR_AR, 0x89), "guest", "guest TR", 0, 0],
    ["an unusable TR", (v) => v.write(Field.GUEST_TR_AR, TSS32_BUSY | UNUSABLE), "guest", "guest TR", 0, 0],
    ["a usable LDTR that is a data segment", (v) => v.write(Field.GUEST_LDTR_AR, DATA32), "guest", "LDTR is a present LDT", 0, 0],
    ["a 17-bit GDTR limit", (v) => v.write(Field.GUEST_GDTR_LIMIT, 0x10000), "guest", "GDTR and IDTR", 0, 0],
    ["RFLAGS bit 1 clear", (v) => v.write(Field.GUEST_RFLAGS, 0), "guest", "RFLAGS has bits", 0, 0],
    ["RFLAGS bit 15 set", (v) => v.write(Field.GUEST_RFLAGS, 0x8002), "guest", "RFLAGS has bits", 0, 0],
    ["virtual-8086 mode with CR0.PE clear", (v) => { realMode(v); v86(v); }, "guest", "RFLAGS.VM is 0", 0, 0],
    ["an external interrupt injected with IF clear", (v) => inject(v, 0x20, IntType.EXTERNAL), "guest", "RFLAGS.IF is 1", 0, 0],
    ["the shutdown activity state", (v) => v.write(Field.GUEST_ACTIVITY_STATE, 2), "guest", "active or HLT", 0, 0],
    ["HLT at ring 3", (v) => { ring3(v); v.write(Field.GUEST_ACTIVITY_STATE, 1); }, "guest", "halted guest has SS.DPL 0", 0, 0],
    ["HLT under STI blocking", (v) => { v.write(Field.GUEST_RFLAGS, 0x202); v.write(Field.GUEST_ACTIVITY_STATE, 1); v.write(Field.GUEST_INTERRUPTIBILITY, 1); }, "guest", "active when blocked", 0, 0],
    ["#GP injected into a halted guest", (v) => { v.write(Field.GUEST_ACTIVITY_STATE, 1); inject(v, 13, IntType.HARDWARE_EXCEPTION, true); }, "guest", "injected into a halted guest", 0, 0],
    ["interruptibility bit 4", (v) => v.write(Field.GUEST_INTERRUPTIBILITY, 0x10), "guest", "31:4", 0, 0],
    ["blocking by STI and MOV SS at once", (v) => { v.write(Field.GUEST_RFLAGS, 0x202); v.write(Field.GUEST_INTERRUPTIBILITY, 3); }, "guest", "both STI and MOV SS", 0, 0],
    ["blocking by STI with IF clear", (v) => v.write(Field.GUEST_INTERRUPTIBILITY, Interruptibility.BLOCKING_BY_STI), "guest", "requires RFLAGS.IF", 0, 0],
    ["an external interrupt injected under MOV-SS blocking", (v) => { v.write(Field.GUEST_RFLAGS, 0x202); v.write(Field.GUEST_INTERRUPTIBILITY, 2); inject(v, 0x20, IntType.EXTERNAL); }, "guest", "external interrupt is injected only", 0, 0],
    ["an NMI injected under MOV-SS blocking", (v) => { v.write(Field.GUEST_INTERRUPTIBILITY, 2); inject(v, 2, IntType.NMI); }, "guest", "blocking by MOV SS", 0, 0],
    ["blocking by SMI", (v) => v.write(Field.GUEST_INTERRUPTIBILITY, Interruptibility.BLOCKING_BY_SMI), "guest", "SMI", 0, 0],
    ["an NMI injected under virtual-NMI blocking", (v) => {
      v.write(Field.PIN_BASED_CTLS, CAPS.truePin.must1 | Pin.NMI_EXITING | Pin.VIRTUAL_NMIS);
      v.write(Field.GUEST_INTERRUPTIBILITY, Interruptibility.BLOCKING_BY_NMI);
      inject(v, 2, IntType.NMI);
    }, "guest", "virtual-NMI blocking", 0, 0],
    ["a reserved pending debug exception bit", (v) => v.write(Field.GUEST_PENDING_DBG_EXCEPTIONS, 0x20), "guest", "pending debug exceptions", 0, 0],
    ["a single-step trap lost under STI blocking", (v) => { v.write(Field.GUEST_RFLAGS, 0x302); v.write(Field.GUEST_INTERRUPTIBILITY, 1); }, "guest", "pending BS", 0, 0],
    ["an NMI injected under STI blocking", (v) => { v.write(Field.GUEST_RFLAGS, 0x202); v.write(Field.GUEST_INTERRUPTIBILITY, 1); inject(v, 2, IntType.NMI); },
      "guest", "blocking by STI", 0, EntryFailureQual.NMI_INJECTION_BLOCKED_BY_STI],
    ["a VMCS link pointer to a region of another revision", (v) => v.write64(Field.VMCS_LINK_POINTER, 0x5000, 0), "guest", "link pointer", 0, EntryFailureQual.INVALID_VMCS_LINK_POINTER],
    ["a VMCS link pointer to the current VMCS", (v, mem) => { v.write64(Field.VMCS_LINK_POINTER, 0x1000, 0); mem.write32(0x1000, VMCS_REVISION_ID); },
      "guest", "link pointer", 0, EntryFailureQual.INVALID_VMCS_LINK_POINTER],
    ["a PDPTE field with reserved bits under EPT", (v) => { v.write(Field.GUEST_CR4, 0x2020); v.write64(Field.GUEST_PDPTE2, 0x7007, 0); },
      "guest", "PDPTEs", 0, EntryFailureQual.PDPTE_LOADING],
    ["a PDPTE in memory above 4 GiB without EPT", (v, mem) => {
      v.write(Field.PROC_BASED_CTLS2, 0);
      v.write(Field.GUEST_CR4, 0x2020);
      v.write(Field.GUEST_CR3, 0x6000);
      mem.write32(0x6008, 0x7001);
      mem.write32(0x600c, 1);
    }, "guest", "PDPTEs", 0, EntryFailureQual.PDPTE_LOADING],
  ];

  it("have a case here that breaks each of them", () => {
    const hit = new Set(failures.map(([, mutate]) => check(mutate)?.check));
    const all = [...ENTRY_CHECKS.control, ...ENTRY_CHECKS.host, ...ENTRY_CHECKS.guest];
    expect(all.filter((name) => !hit.has(name))).toEqual([]);
  });

  it.each(failures)("fail on %s", (_what, mutate, area, word, error, qualification) => {
    const f = check(mutate);
    expect(f).not.toBeNull();
    expect(f).toMatchObject({ area, error, qualification });
    expect(f?.check).toContain(word);
  });

  // checkVmEntry remembers the last VMCS that passed; an entry after a change must see it.
  it.each(failures)("fail on %s after the same VMCS passed", (_what, mutate) => {
    const v = valid();
    const mem = ram();
    expect(checkVmEntry(v, mem, 0x1000)).toBeNull();
    mutate(v, mem);
    expect(checkVmEntry(v, mem, 0x1000)).toEqual(check(mutate));
  });

  it("fail on memory that changed since the same VMCS passed: PDPTEs without EPT, the link pointer's region", () => {
    const v = valid();
    const mem = ram();
    v.write(Field.PROC_BASED_CTLS2, 0);
    v.write(Field.GUEST_CR4, 0x2020);
    v.write(Field.GUEST_CR3, 0x6000);
    mem.write32(0x6008, 0x7001);
    expect(checkVmEntry(v, mem, 0x1000)).toBeNull();
    mem.write32(0x600c, 1);
    expect(checkVmEntry(v, mem, 0x1000)).toMatchObject({ qualification: EntryFailureQual.PDPTE_LOADING });

    const w = valid();
    w.write64(Field.VMCS_LINK_POINTER, 0x5000, 0);
    mem.write32(0x5000, VMCS_REVISION_ID);
    expect(checkVmEntry(w, mem, 0x1000)).toBeNull();
    mem.write32(0x5000, 0);
    expect(checkVmEntry(w, mem, 0x1000)).toMatchObject({ qualification: EntryFailureQual.INVALID_VMCS_LINK_POINTER });
  });

  it("read no exit-information field, nor guest RIP or RSP, and of RFLAGS not the flags a passed entry ignores", () => {
    const read = vi.spyOn(Vmcs.prototype, "read");
    const cases: ((v: Vmcs, mem: PhysWords) => void)[] = [() => {}, realMode, v86, ring3, ...failures.map(([, mutate]) => mutate)];
    for (const mutate of cases) {
      const plain = check(mutate);
      // CF PF AF ZF SF DF OF, IOPL, NT, RF, AC, VIF, VIP, ID: no check looks at them.
      expect(check((v, mem) => { mutate(v, mem); v.write(Field.GUEST_RFLAGS, v.read(Field.GUEST_RFLAGS) ^ 0x3d7cd5); })).toEqual(plain);
    }
    const fields = new Set(read.mock.calls.map(([enc]) => enc & ~1));
    read.mockRestore();
    expect([...fields].filter((enc) => fieldType(enc) === FieldType.EXIT_INFO || enc === Field.GUEST_RIP || enc === Field.GUEST_RSP).map(fieldName)).toEqual([]);
  });
});

describe("access rights", () => {
  it("carry the CPU's descriptor attribute word, without limit bits, plus the unusable bit", () => {
    expect(arFromAttr(0xcf9b, false)).toBe(0xc09b);
    expect(arFromAttr(0, true)).toBe(0x10000);
    expect(attrFromAr(0x1c093)).toBe(0xc093);
  });
});

import { describe, expect, it } from "vitest";
import {
  CAPS, CR0_FIXED0, EPT_CAP_LO, EntryCtl, ExitCtl, Pin, Proc, Proc2, VmxMsr, controlsAllowed,
  cr0Allowed, cr4Allowed, readVmxMsr,
} from "./controls.js";
import { patValid } from "../x86/msr.js";
import { VMCS_REVISION_ID } from "./vmcs.js";
import { Cr4 } from "../x86/paging.js";

/** An MSR as a 64-bit bigint. */
function msr(n: number): bigint {
  const v = readVmxMsr(n);
  if (v === undefined) throw new Error(`no MSR 0x${n.toString(16)}`);
  return (BigInt(v[1] >>> 0) << 32n) | BigInt(v[0] >>> 0);
}

const bit = (v: bigint, n: number): boolean => ((v >> BigInt(n)) & 1n) === 1n;
const allowed1 = (n: number): number => Number(msr(n) >> 32n);
const allowed0 = (n: number): number => Number(msr(n) & 0xffffffffn);

describe("the VMX capability MSRs", () => {
  it("report the VMCS revision, a 4 KiB region, 32-bit VMX addresses, WB, INS/OUTS information and TRUE controls in IA32_VMX_BASIC", () => {
    const basic = msr(VmxMsr.BASIC);
    expect(Number(basic & 0x7fffffffn)).toBe(VMCS_REVISION_ID);
    expect(bit(basic, 31)).toBe(false);
    expect(Number((basic >> 32n) & 0x1fffn)).toBe(4096);
    expect(bit(basic, 48)).toBe(true); // no Intel 64: VMX structures below 4 GiB
    expect(Number((basic >> 50n) & 0xfn)).toBe(6); // write-back
    expect(bit(basic, 54)).toBe(true);
    expect(bit(basic, 55)).toBe(true);
    expect(basic >> 56n).toBe(0n);
  });

  it("require the default1 controls in the plain MSRs, as the SDM's default classes say", () => {
    expect(allowed0(VmxMsr.PINBASED_CTLS)).toBe(0x16);
    expect(allowed0(VmxMsr.PROCBASED_CTLS)).toBe(0x0401e172);
    expect(allowed0(VmxMsr.EXIT_CTLS)).toBe(0x36dff);
    expect(allowed0(VmxMsr.ENTRY_CTLS)).toBe(0x11ff);
  });

  it("let the TRUE MSRs clear only CR3-load and CR3-store exiting among the default1 controls", () => {
    expect(allowed0(VmxMsr.TRUE_PROCBASED_CTLS)).toBe(0x0401e172 & ~(Proc.CR3_LOAD_EXITING | Proc.CR3_STORE_EXITING));
    expect(msr(VmxMsr.TRUE_PINBASED_CTLS)).toBe(msr(VmxMsr.PINBASED_CTLS));
    expect(msr(VmxMsr.TRUE_EXIT_CTLS)).toBe(msr(VmxMsr.EXIT_CTLS));
    expect(msr(VmxMsr.TRUE_ENTRY_CTLS)).toBe(msr(VmxMsr.ENTRY_CTLS));
  });

  it("offer the controls this CPU implements, and none of the Intel 64, APIC, VPID or timer ones", () => {
    const pin = allowed1(VmxMsr.PINBASED_CTLS);
    expect(pin & (Pin.EXT_INT_EXITING | Pin.NMI_EXITING | Pin.VIRTUAL_NMIS)).toBe(Pin.EXT_INT_EXITING | Pin.NMI_EXITING | Pin.VIRTUAL_NMIS);
    expect(pin & (Pin.PREEMPTION_TIMER | Pin.POSTED_INTERRUPTS)).toBe(0);
    const proc = allowed1(VmxMsr.PROCBASED_CTLS);
    for (const c of [Proc.INTR_WINDOW_EXITING, Proc.USE_TSC_OFFSETTING, Proc.HLT_EXITING, Proc.INVLPG_EXITING, Proc.MWAIT_EXITING,
      Proc.RDPMC_EXITING, Proc.RDTSC_EXITING, Proc.CR3_LOAD_EXITING, Proc.CR3_STORE_EXITING, Proc.NMI_WINDOW_EXITING,
      Proc.MOV_DR_EXITING, Proc.UNCOND_IO_EXITING, Proc.USE_IO_BITMAPS, Proc.MONITOR_TRAP_FLAG, Proc.USE_MSR_BITMAPS,
      Proc.MONITOR_EXITING, Proc.PAUSE_EXITING, Proc.ACTIVATE_SECONDARY]) expect(proc & c, `control ${c >>> 0}`).not.toBe(0);
    expect(proc & (Proc.CR8_LOAD_EXITING | Proc.CR8_STORE_EXITING | Proc.USE_TPR_SHADOW | Proc.ACTIVATE_TERTIARY)).toBe(0);
    const proc2 = allowed1(VmxMsr.PROCBASED_CTLS2);
    expect(proc2).toBe(Proc2.ENABLE_EPT | Proc2.UNRESTRICTED_GUEST | Proc2.WBINVD_EXITING);
    expect(allowed0(VmxMsr.PROCBASED_CTLS2)).toBe(0);
    const exit = allowed1(VmxMsr.EXIT_CTLS);
    for (const c of [ExitCtl.ACK_INTERRUPT_ON_EXIT, ExitCtl.SAVE_IA32_PAT, ExitCtl.LOAD_IA32_PAT, ExitCtl.SAVE_IA32_EFER, ExitCtl.LOAD_IA32_EFER]) {
      expect(exit & c).not.toBe(0);
    }
    expect(exit & (ExitCtl.HOST_ADDRESS_SPACE_SIZE | ExitCtl.LOAD_PERF_GLOBAL_CTRL | ExitCtl.SAVE_PREEMPTION_TIMER)).toBe(0);
    const entry = allowed1(VmxMsr.ENTRY_CTLS);
    expect(entry & (EntryCtl.LOAD_IA32_PAT | EntryCtl.LOAD_IA32_EFER)).toBe(EntryCtl.LOAD_IA32_PAT | EntryCtl.LOAD_IA32_EFER);
    expect(entry & (EntryCtl.IA32E_MODE_GUEST | EntryCtl.ENTRY_TO_SMM | EntryCtl.DEACTIVATE_DUAL_MONITOR | EntryCtl.LOAD_PERF_GLOBAL_CTRL)).toBe(0);
  });

  it("agree with the allowed-settings objects the entry checks use", () => {
    expect(controlsAllowed(CAPS.proc.must1 | Proc.HLT_EXITING, CAPS.proc)).toBe(true);
    expect(controlsAllowed(CAPS.proc.must1 | Proc.USE_TPR_SHADOW, CAPS.proc)).toBe(false);
    expect(controlsAllowed(CAPS.proc.must1 & ~0x2, CAPS.proc)).toBe(false);
    expect(controlsAllowed(CAPS.trueProc.must1, CAPS.trueProc)).toBe(true);
    expect(controlsAllowed(CAPS.trueProc.must1, CAPS.proc)).toBe(false);
  });

  it("fix CR0.PE, NE and PG and CR4.VMXE, and let unrestricted guests clear PE and PG", () => {
    expect(allowed0(VmxMsr.CR0_FIXED0)).toBe(CR0_FIXED0);
    expect(CR0_FIXED0).toBe(0x80000021);
    expect(allowed0(VmxMsr.CR4_FIXED0)).toBe(Cr4.VMXE);
    expect(cr0Allowed(0x80000031)).toBe(true);
    expect(cr0Allowed(0x00000031)).toBe(false);
    expect(cr0Allowed(0x00000030, true)).toBe(true); // real mode, NE and ET
    expect(cr0Allowed(0x00000010, true)).toBe(false); // NE stays fixed
    expect(cr0Allowed(0x80000031 | 0x100)).toBe(false); // bit 8 does not exist
    expect(cr4Allowed(0x2000)).toBe(true);
    expect(cr4Allowed(0x20b0)).toBe(true);
    expect(cr4Allowed(0x00b0)).toBe(false);
    expect(cr4Allowed(0x2001)).toBe(false); // VME is not on this CPU
  });

  it("report HLT as the only extra activity state, four CR3 targets and 512-entry MSR lists in IA32_VMX_MISC", () => {
    const misc = msr(VmxMsr.MISC);
    expect(bit(misc, 5)).toBe(true);
    expect(Number((misc >> 6n) & 7n)).toBe(1);
    expect(Number((misc >> 16n) & 0x1ffn)).toBe(4);
    expect(Number((misc >> 25n) & 7n)).toBe(0);
    expect(bit(misc, 29)).toBe(false);
    expect(bit(misc, 30)).toBe(false);
  });

  it("report 4-level EPT with UC or WB tables, 2 MiB pages, execute-only pages and INVEPT, without A/D bits or INVVPID", () => {
    const cap = msr(VmxMsr.EPT_VPID_CAP);
    expect(Number(cap & 0xffffffffn)).toBe(EPT_CAP_LO);
    for (const b of [0, 6, 8, 14, 16, 20, 25, 26]) expect(bit(cap, b), `bit ${b}`).toBe(true);
    for (const b of [7, 17, 21, 22, 32]) expect(bit(cap, b), `bit ${b}`).toBe(false);
  });

  it("report the highest VMCS field index in IA32_VMX_VMCS_ENUM and a locked IA32_FEATURE_CONTROL with VMX on", () => {
    expect(msr(VmxMsr.VMCS_ENUM)).toBe(21n << 1n);
    expect(msr(VmxMsr.FEATURE_CONTROL)).toBe(5n);
  });

  it("do not include IA32_VMX_VMFUNC or any other MSR", () => {
    expect(readVmxMsr(0x491)).toBeUndefined();
    expect(readVmxMsr(0x10)).toBeUndefined();
  });
});

describe("IA32_PAT values", () => {
  it("are valid when every byte is UC, WC, WT, WP, WB or UC-", () => {
    expect(patValid(0x00070406, 0x00070406)).toBe(true);
    expect(patValid(0x07050401, 0x00000006)).toBe(true);
    expect(patValid(0x00000002, 0)).toBe(false);
    expect(patValid(0, 0x03000000)).toBe(false);
    expect(patValid(0x08, 0)).toBe(false);
  });
});

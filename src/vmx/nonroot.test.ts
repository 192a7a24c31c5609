import { describe, expect, it } from "vitest";
import { CAPS, Interruptibility, Pin, Proc, Proc2, ExitCtl } from "./controls.js";
import { Field } from "./fields.js";
import {
  ackInterruptOnExit, cltsExits, cltsValue, cr0ReadValue, cr0WriteValue, cr3TargetHit, cr4ReadValue, cr4WriteValue,
  eptEnabled, exceptionExits, extIntExits, guestCr0Allowed, guestCr4Allowed, guestTsc, interruptWindowExits, ioExits,
  lmswExits, lmswValue, movFromCrExits, movToCrExits, msrExits, mtfExits, nmiExits, nmiWindowExits, procExits,
  secondaryControls, unrestrictedGuest,
} from "./nonroot.js";
import { Vmcs } from "./vmcs.js";

const IO_A = 0x10000, IO_B = 0x11000, MSRS = 0x12000;

/** Physical memory for bitmaps. */
function ram(): { u8: Uint8Array; read8(a: number): number } {
  const u8 = new Uint8Array(0x20000);
  return { u8, read8: (a) => u8[a] };
}

function setBit(mem: { u8: Uint8Array }, base: number, n: number): void {
  mem.u8[base + (n >>> 3)] |= 1 << (n & 7);
}

function vmcs(proc = 0, proc2 = 0): Vmcs {
  const v = new Vmcs();
  v.write(Field.PIN_BASED_CTLS, CAPS.pin.must1);
  v.write(Field.PROC_BASED_CTLS, CAPS.trueProc.must1 | proc | (proc2 !== 0 ? Proc.ACTIVATE_SECONDARY : 0));
  v.write(Field.PROC_BASED_CTLS2, proc2);
  v.write(Field.IO_BITMAP_A, IO_A);
  v.write(Field.IO_BITMAP_B, IO_B);
  v.write(Field.MSR_BITMAP, MSRS);
  return v;
}

describe("I/O instructions in VMX non-root operation", () => {
  it("exit on every port under unconditional I/O exiting, and on none without it", () => {
    const mem = ram();
    expect(ioExits(vmcs(Proc.UNCOND_IO_EXITING), 0x3f8, 1, mem)).toBe(true);
    expect(ioExits(vmcs(), 0x3f8, 1, mem)).toBe(false);
  });

  it("follow bitmap A below 0x8000 and bitmap B above, ignoring unconditional I/O exiting", () => {
    const mem = ram();
    setBit(mem, IO_A, 0x3f8);
    setBit(mem, IO_B, 0xc080 - 0x8000); // an I/O BAR high in the port space
    const v = vmcs(Proc.USE_IO_BITMAPS | Proc.UNCOND_IO_EXITING);
    expect(ioExits(v, 0x3f8, 1, mem)).toBe(true);
    expect(ioExits(v, 0x3f9, 1, mem)).toBe(false);
    expect(ioExits(v, 0x3f6, 2, mem)).toBe(false);
    expect(ioExits(v, 0x3f6, 4, mem)).toBe(true); // 3f6-3f9 includes 3f8
    expect(ioExits(v, 0xc080, 4, mem)).toBe(true);
    expect(ioExits(v, 0xc084, 4, mem)).toBe(false);
    expect(ioExits(v, 0x4080, 1, mem)).toBe(false); // the same bit in bitmap A is clear
  });

  it("check both bitmaps for an access that spans 0x7fff and 0x8000", () => {
    const mem = ram();
    const v = vmcs(Proc.USE_IO_BITMAPS);
    expect(ioExits(v, 0x7fff, 2, mem)).toBe(false);
    setBit(mem, IO_B, 0);
    expect(ioExits(v, 0x7fff, 2, mem)).toBe(true);
    expect(ioExits(v, 0x7fff, 1, mem)).toBe(false);
  });

  it("exit when an access wraps from port 0xffff to 0", () => {
    const mem = ram();
    const v = vmcs(Proc.USE_IO_BITMAPS);
    expect(ioExits(v, 0xffff, 1, mem)).toBe(false);
    expect(ioExits(v, 0xffff, 2, mem)).toBe(true);
    expect(ioExits(v, 0xfffe, 4, mem)).toBe(true);
  });
});

describe("RDMSR and WRMSR in VMX non-root operation", () => {
  it("always exit without MSR bitmaps", () => {
    expect(msrExits(vmcs(), 0x10, false, ram())).toBe(true);
    expect(msrExits(vmcs(), 0x10, true, ram())).toBe(true);
  });

  it("look up reads and writes of low and high MSRs in the four quarters of the bitmap", () => {
    const mem = ram();
    const v = vmcs(Proc.USE_MSR_BITMAPS);
    setBit(mem, MSRS, 0x174); // read SYSENTER_CS
    setBit(mem, MSRS + 2048, 0x10); // write TSC
    setBit(mem, MSRS + 1024, 0x80); // read EFER (C0000080)
    setBit(mem, MSRS + 3072, 0x80); // write EFER
    expect(msrExits(v, 0x174, false, mem)).toBe(true);
    expect(msrExits(v, 0x174, true, mem)).toBe(false);
    expect(msrExits(v, 0x10, false, mem)).toBe(false);
    expect(msrExits(v, 0x10, true, mem)).toBe(true);
    expect(msrExits(v, 0xc0000080, false, mem)).toBe(true);
    expect(msrExits(v, 0xc0000080 | 0, true, mem)).toBe(true);
    expect(msrExits(v, 0xc0000081, false, mem)).toBe(false);
  });

  it("exit for MSRs outside both ranges", () => {
    const v = vmcs(Proc.USE_MSR_BITMAPS);
    expect(msrExits(v, 0x2000, false, ram())).toBe(true);
    expect(msrExits(v, 0x40000000, true, ram())).toBe(true);
    expect(msrExits(v, 0xc0002000, false, ram())).toBe(true);
  });
});

describe("control-register accesses in VMX non-root operation", () => {
  // The VMM owns PG, NE, PE and CD; the guest believes PG and PE are clear (it is "in real mode").
  const MASK = 0xc0000021, SHADOW = 0x00000010;
  function crVmcs(proc = 0): Vmcs {
    const v = vmcs(proc);
    v.write(Field.CR0_GUEST_HOST_MASK, MASK);
    v.write(Field.CR0_READ_SHADOW, SHADOW);
    v.write(Field.CR4_GUEST_HOST_MASK, 0x2000);
    v.write(Field.CR4_READ_SHADOW, 0);
    return v;
  }

  it("exit on MOV to CR0 exactly when a host-owned bit would differ from the read shadow", () => {
    const v = crVmcs();
    expect(movToCrExits(v, 0, 0x00000010)).toBe(false);
    expect(movToCrExits(v, 0, 0x0000001a)).toBe(false); // MP, TS: guest-owned
    expect(movToCrExits(v, 0, 0x00000011)).toBe(true); // sets PE
    expect(movToCrExits(v, 0, 0x80000011)).toBe(true);
    expect(movToCrExits(v, 0, 0x40000010)).toBe(true); // sets CD
  });

  it("let MOV from CR0 and CR4 read the shadow in host-owned bits", () => {
    const v = crVmcs();
    expect(cr0ReadValue(v, 0x80000031)).toBe(0x00000010 | 0x10);
    expect(cr0ReadValue(v, 0x8000003b | 0)).toBe(0x1a);
    expect(cr4ReadValue(v, 0x20a0)).toBe(0xa0);
  });

  it("keep host-owned bits on a MOV to CR0 or CR4 that does not exit", () => {
    const v = crVmcs();
    expect(cr0WriteValue(v, 0x80000031, 0x0000001a)).toBe(0x8000003b);
    expect(cr4WriteValue(v, 0x2000, 0x0020)).toBe(0x2020);
    expect(movToCrExits(v, 4, 0x0020)).toBe(false);
    expect(movToCrExits(v, 4, 0x2020)).toBe(true);
  });

  it("allow a guest CR0 without PE and PG only under unrestricted guest", () => {
    expect(guestCr0Allowed(vmcs(), 0x00000030)).toBe(false);
    expect(guestCr0Allowed(vmcs(0, Proc2.ENABLE_EPT | Proc2.UNRESTRICTED_GUEST), 0x00000030)).toBe(true);
    expect(guestCr0Allowed(vmcs(0, Proc2.ENABLE_EPT | Proc2.UNRESTRICTED_GUEST), 0x00000010)).toBe(false); // NE
    expect(guestCr4Allowed(0x2000)).toBe(true);
    expect(guestCr4Allowed(0)).toBe(false);
  });

  it("exit on MOV to CR3 under CR3-load exiting unless the value is a CR3 target", () => {
    const v = crVmcs(Proc.CR3_LOAD_EXITING);
    expect(movToCrExits(v, 3, 0x5000)).toBe(true);
    v.write(Field.CR3_TARGET_VALUE1, 0x5000);
    expect(movToCrExits(v, 3, 0x5000)).toBe(true); // count 0: every value exits
    v.write(Field.CR3_TARGET_COUNT, 2);
    expect(cr3TargetHit(v, 0x5000)).toBe(true);
    expect(movToCrExits(v, 3, 0x5000)).toBe(false);
    expect(movToCrExits(v, 3, 0x6000)).toBe(true);
    expect(movToCrExits(crVmcs(), 3, 0x6000)).toBe(false);
  });

  it("exit on MOV from CR3 only under CR3-store exiting, and never on MOV from CR0 or CR4", () => {
    expect(movFromCrExits(crVmcs(Proc.CR3_STORE_EXITING), 3)).toBe(true);
    expect(movFromCrExits(crVmcs(), 3)).toBe(false);
    expect(movFromCrExits(crVmcs(Proc.CR3_STORE_EXITING), 0)).toBe(false);
  });

  it("exit on CLTS only when TS is host-owned and set in the shadow, and leave a host-owned TS alone", () => {
    const v = crVmcs();
    expect(cltsExits(v)).toBe(false);
    expect(cltsValue(v, 0x8000003b)).toBe(0x80000033);
    v.write(Field.CR0_GUEST_HOST_MASK, MASK | 8);
    expect(cltsExits(v)).toBe(false);
    expect(cltsValue(v, 0x8000003b)).toBe(0x8000003b);
    v.write(Field.CR0_READ_SHADOW, SHADOW | 8);
    expect(cltsExits(v)).toBe(true);
  });

  it("exit on LMSW that sets a host-owned PE clear in the shadow or changes a host-owned MP, EM or TS", () => {
    const v = crVmcs();
    expect(lmswExits(v, 0x0001)).toBe(true);
    expect(lmswExits(v, 0x000e)).toBe(false); // MP EM TS are guest-owned
    v.write(Field.CR0_READ_SHADOW, SHADOW | 1);
    expect(lmswExits(v, 0x0001)).toBe(false);
    expect(lmswExits(v, 0x0000)).toBe(false); // LMSW cannot clear PE
    v.write(Field.CR0_GUEST_HOST_MASK, MASK | 4);
    expect(lmswExits(v, 0x0005)).toBe(true); // EM differs from the shadow
  });

  it("load only guest-owned bits from LMSW and never clear PE", () => {
    const v = crVmcs();
    v.write(Field.CR0_GUEST_HOST_MASK, 0);
    expect(lmswValue(v, 0x80000031, 0x000e)).toBe(0x8000003f);
    expect(lmswValue(v, 0x00000010, 0x0001)).toBe(0x00000011);
    v.write(Field.CR0_GUEST_HOST_MASK, 8);
    expect(lmswValue(v, 0x80000031, 0x000e)).toBe(0x80000037);
  });
});

describe("exceptions and events in VMX non-root operation", () => {
  it("exit for exceptions whose exception-bitmap bit is set", () => {
    const v = vmcs();
    v.write(Field.EXCEPTION_BITMAP, (1 << 6) | (1 << 13));
    expect(exceptionExits(v, 6)).toBe(true);
    expect(exceptionExits(v, 13, 0)).toBe(true);
    expect(exceptionExits(v, 3)).toBe(false);
    expect(exceptionExits(v, 0x80)).toBe(false);
  });

  it("decide #PF with the error-code mask and match: the bitmap bit when they match, its inverse otherwise", () => {
    const v = vmcs();
    // Exit only on #PF with P = 0 (not-present): bit 14 set, mask P, match 0.
    v.write(Field.EXCEPTION_BITMAP, 1 << 14);
    v.write(Field.PF_ERROR_CODE_MASK, 1);
    v.write(Field.PF_ERROR_CODE_MATCH, 0);
    expect(exceptionExits(v, 14, 0x2)).toBe(true);
    expect(exceptionExits(v, 14, 0x3)).toBe(false);
    // Bit 14 clear with the same mask/match: exit on every #PF except the not-present ones.
    v.write(Field.EXCEPTION_BITMAP, 0);
    expect(exceptionExits(v, 14, 0x2)).toBe(false);
    expect(exceptionExits(v, 14, 0x3)).toBe(true);
    // mask = match = 0 is the usual setting: the bit alone decides.
    v.write(Field.PF_ERROR_CODE_MASK, 0);
    expect(exceptionExits(v, 14, 0x7)).toBe(false);
  });

  it("exit for NMIs and external interrupts by the pin-based controls, and acknowledge on exit by the exit control", () => {
    const v = vmcs();
    expect(nmiExits(v) || extIntExits(v)).toBe(false);
    v.write(Field.PIN_BASED_CTLS, CAPS.pin.must1 | Pin.EXT_INT_EXITING | Pin.NMI_EXITING);
    expect(nmiExits(v)).toBe(true);
    expect(extIntExits(v)).toBe(true);
    expect(ackInterruptOnExit(v)).toBe(false);
    v.write(Field.VM_EXIT_CTLS, CAPS.exit.must1 | ExitCtl.ACK_INTERRUPT_ON_EXIT);
    expect(ackInterruptOnExit(v)).toBe(true);
  });

  it("open the interrupt window when IF is set and nothing blocks by STI or MOV SS", () => {
    const v = vmcs(Proc.INTR_WINDOW_EXITING);
    expect(interruptWindowExits(v, 0x202, 0)).toBe(true);
    expect(interruptWindowExits(v, 0x002, 0)).toBe(false);
    expect(interruptWindowExits(v, 0x202, Interruptibility.BLOCKING_BY_STI)).toBe(false);
    expect(interruptWindowExits(v, 0x202, Interruptibility.BLOCKING_BY_MOV_SS)).toBe(false);
    expect(interruptWindowExits(v, 0x202, Interruptibility.BLOCKING_BY_NMI)).toBe(true);
    expect(interruptWindowExits(vmcs(), 0x202, 0)).toBe(false);
  });

  it("open the NMI window without virtual-NMI, STI or MOV-SS blocking", () => {
    const v = vmcs(Proc.NMI_WINDOW_EXITING);
    expect(nmiWindowExits(v, 0)).toBe(true);
    expect(nmiWindowExits(v, Interruptibility.BLOCKING_BY_NMI)).toBe(false);
    expect(nmiWindowExits(v, Interruptibility.BLOCKING_BY_MOV_SS)).toBe(false);
    expect(nmiWindowExits(vmcs(), 0)).toBe(false);
  });

  it("name the instruction exits and the secondary modes by their controls", () => {
    expect(procExits(vmcs(Proc.HLT_EXITING), Proc.HLT_EXITING)).toBe(true);
    expect(procExits(vmcs(), Proc.HLT_EXITING)).toBe(false);
    expect(mtfExits(vmcs(Proc.MONITOR_TRAP_FLAG))).toBe(true);
    const v = vmcs(0, Proc2.ENABLE_EPT | Proc2.UNRESTRICTED_GUEST);
    expect(eptEnabled(v) && unrestrictedGuest(v)).toBe(true);
    // Secondary controls count only when activated.
    v.write(Field.PROC_BASED_CTLS, CAPS.trueProc.must1);
    expect(secondaryControls(v)).toBe(0);
    expect(eptEnabled(v)).toBe(false);
  });
});

describe("the time-stamp counter in VMX non-root operation", () => {
  it("adds the TSC offset modulo 2^64 under TSC offsetting", () => {
    const v = vmcs(Proc.USE_TSC_OFFSETTING);
    v.write64n(Field.TSC_OFFSET, 1000n);
    expect(guestTsc(v, 5n)).toBe(1005n);
    v.write64n(Field.TSC_OFFSET, -10n);
    expect(guestTsc(v, 5n)).toBe(2n ** 64n - 5n);
    expect(guestTsc(vmcs(), 5n)).toBe(5n);
  });
});

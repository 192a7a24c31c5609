import { describe, expect, it } from "vitest";
import {
  CAPS, EptAccess, EptOutcome, EptWalk, ExitReason, Field, GuestLinear, PAGE_4K, Proc, Proc2, Pin, Vmcs,
  checkVmEntry, decodeEptViolation, decodeIoQualification, entryFailureReason, eptMap, eptTranslate,
  eptViolationQualification, exitReasonName, ioExits, ioQualification, launchError, makeEptp, recordExit,
  recordsInstructionLength, ExitCtl, type PhysWords,
} from "./index.js";

/** 1 MiB of host RAM that serves words and bytes, like src/machine's PhysMem. */
function ram(): PhysWords & { read8(a: number): number; u8: Uint8Array } {
  const buf = new ArrayBuffer(0x100000);
  const i32 = new Int32Array(buf), u8 = new Uint8Array(buf);
  return { u8, read8: (a) => u8[a], read32: (a) => i32[a >>> 2], write32: (a, v) => void (i32[a >>> 2] = v) };
}

const PML4 = 0x10000, IO_A = 0x20000, IO_B = 0x21000, GUEST_RAM = 0x80000;

/** What the L4 kernel does to start a VM: EPT for guest RAM, I/O bitmaps for the UART, the VMCS. */
function startVm(mem: ReturnType<typeof ram>): Vmcs {
  let next = 0x11000;
  const frames = { alloc: () => (next += PAGE_4K) - PAGE_4K };
  eptMap(mem, PML4, 0x0, GUEST_RAM, 7, PAGE_4K, frames);
  for (let p = 0x3f8; p < 0x400; p++) mem.u8[IO_A + (p >>> 3)] |= 1 << (p & 7);
  const v = new Vmcs();
  v.write(Field.PIN_BASED_CTLS, CAPS.truePin.must1 | Pin.EXT_INT_EXITING);
  v.write(Field.PROC_BASED_CTLS, CAPS.trueProc.must1 | Proc.HLT_EXITING | Proc.USE_IO_BITMAPS | Proc.ACTIVATE_SECONDARY);
  v.write(Field.PROC_BASED_CTLS2, Proc2.ENABLE_EPT | Proc2.UNRESTRICTED_GUEST);
  v.write(Field.EPT_POINTER, makeEptp(PML4));
  v.write(Field.IO_BITMAP_A, IO_A);
  v.write(Field.IO_BITMAP_B, IO_B);
  v.write(Field.VM_EXIT_CTLS, CAPS.trueExit.must1 | ExitCtl.ACK_INTERRUPT_ON_EXIT);
  v.write(Field.VM_ENTRY_CTLS, CAPS.trueEntry.must1);
  v.write64(Field.VMCS_LINK_POINTER, 0xffffffff, 0xffffffff);
  v.write(Field.HOST_CR0, 0x80000031);
  v.write(Field.HOST_CR4, 0x2000);
  v.write(Field.HOST_CS_SELECTOR, 0x08);
  v.write(Field.HOST_SS_SELECTOR, 0x10);
  v.write(Field.HOST_TR_SELECTOR, 0x18);
  // The guest starts in real mode at 0000:7C00, as a loader would leave it.
  v.write(Field.GUEST_CR0, 0x30);
  v.write(Field.GUEST_CR4, 0x2000);
  v.write(Field.GUEST_RFLAGS, 0x2);
  v.write(Field.GUEST_RIP, 0x7c00);
  for (const f of [Field.GUEST_CS_AR, Field.GUEST_SS_AR, Field.GUEST_DS_AR, Field.GUEST_ES_AR, Field.GUEST_FS_AR, Field.GUEST_GS_AR]) v.write(f, 0x93);
  for (const f of [Field.GUEST_CS_LIMIT, Field.GUEST_SS_LIMIT, Field.GUEST_DS_LIMIT, Field.GUEST_ES_LIMIT, Field.GUEST_FS_LIMIT, Field.GUEST_GS_LIMIT]) v.write(f, 0xffff);
  v.write(Field.GUEST_LDTR_AR, 0x10000);
  v.write(Field.GUEST_TR_AR, 0x8b);
  v.write(Field.GUEST_TR_LIMIT, 0xffff);
  v.write(Field.GUEST_GDTR_LIMIT, 0xffff);
  v.write(Field.GUEST_IDTR_LIMIT, 0x3ff);
  return v;
}

describe("the VT-x module, as the CPU and the kernel use it", () => {
  it("carries one VM exit end to end: entry checks, OUT to COM1, the exit record, the kernel's decoding", () => {
    const mem = ram();
    const v = startVm(mem);
    // VMLAUNCH: launch state, then the entry checks.
    expect(launchError(v, false, false)).toBe(0);
    expect(checkVmEntry(v, mem, 0x30000)).toBeNull();
    v.launched = true;
    // The guest executes `out dx, al` with DX = 0x3f8: the CPU asks the I/O bitmaps.
    expect(ioExits(v, 0x3f8, 1, mem)).toBe(true);
    expect(ioExits(v, 0x80, 1, mem)).toBe(false); // POST port: the guest may touch it
    recordExit(v, ExitReason.IO_INSTRUCTION, ioQualification(0x3f8, 1, false), recordsInstructionLength(ExitReason.IO_INSTRUCTION) ? 1 : 0);
    // The kernel reads the exit and builds the virtualization-fault message from it.
    expect(exitReasonName(v.read(Field.VM_EXIT_REASON))).toBe("IO_INSTRUCTION");
    expect(decodeIoQualification(v.read(Field.EXIT_QUALIFICATION))).toEqual({ port: 0x3f8, size: 1, input: false, string: false, rep: false, immediate: false });
    expect(v.read(Field.VM_EXIT_INSTRUCTION_LEN)).toBe(1);
    // VMRESUME after the reply.
    v.write(Field.GUEST_RIP, v.read(Field.GUEST_RIP) + v.read(Field.VM_EXIT_INSTRUCTION_LEN));
    expect(launchError(v, true, false)).toBe(0);
    expect(checkVmEntry(v, mem, 0x30000)).toBeNull();
  });

  it("turns a guest-physical access outside the mapped RAM into an EPT violation the pager can answer", () => {
    const mem = ram();
    const v = startVm(mem);
    const w = new EptWalk();
    const eptp = v.read(Field.EPT_POINTER);
    expect(eptTranslate(mem, eptp, 0x0abc, EptAccess.FETCH, w)).toBe(EptOutcome.OK);
    expect(w.hpa).toBe(GUEST_RAM + 0xabc);
    expect(eptTranslate(mem, eptp, 0x1000, EptAccess.WRITE, w)).toBe(EptOutcome.VIOLATION);
    recordExit(v, ExitReason.EPT_VIOLATION, eptViolationQualification(EptAccess.WRITE, w.perms, GuestLinear.TRANSLATION), 0, 0, 0x1000, 0x1000);
    expect(v.read64(Field.GUEST_PHYSICAL_ADDRESS)).toBe(0x1000n);
    expect(decodeEptViolation(v.read(Field.EXIT_QUALIFICATION))).toMatchObject({ write: true, readable: false, translation: true });
    // The pager replies with a mapping; the kernel enters it and the access goes through.
    let next = 0x40000;
    eptMap(mem, PML4, 0x1000, GUEST_RAM + 0x1000, 7, PAGE_4K, { alloc: () => (next += PAGE_4K) - PAGE_4K });
    expect(eptTranslate(mem, eptp, 0x1000, EptAccess.WRITE, w)).toBe(EptOutcome.OK);
  });

  it("reports a guest the VMM set up wrong as a VM-entry failure with reason 33", () => {
    const mem = ram();
    const v = startVm(mem);
    v.write(Field.GUEST_CR0, 0x10); // NE clear
    const f = checkVmEntry(v, mem);
    expect(f?.area).toBe("guest");
    expect(entryFailureReason(ExitReason.INVALID_GUEST_STATE)).toBe(0x80000021);
  });
});

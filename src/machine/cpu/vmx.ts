// VMX operation of the CPU (Intel SDM vol. 3, chapters 24-31), with src/vmx's data and rules.
//
// The host side of VT-x is the L4 kernel, written in TypeScript: no host x86 code runs, so the
// host does not execute VMXON, VMPTRLD or VMLAUNCH; it calls this unit's methods, which have
// those instructions' semantics (VMsucceed, VMfailInvalid, VMfailValid with the VM-instruction
// error in the current VMCS). `launch()`/`resume()` check the entry with src/vmx's
// checkVmEntry, load the guest state into the CPU, inject the pending event and put the CPU in
// VMX non-root operation; `cpu.run(budget)` then runs the guest and returns `Stop.VMEXIT` when a
// VM exit happened, with the exit recorded in the current VMCS, the guest state saved into it,
// and the host state loaded.
//
// How exits leave the run loop without costing root operation anything: an exiting instruction's
// handler asks `cpu.nonRoot` (false outside a guest) and calls `instructionExit`, which records
// the exit and raises the pseudo-vector EXIT_VECTOR like a fault; the loop's catch rewinds EIP to
// the instruction and hands the "fault" to `cpu.interrupts.deliver`, which in non-root operation
// is this unit's deliverer: it finishes the exit (saves the guest state, loads the host's) and
// returns false with `Stop.VMEXIT`. The common exits (I/O, HLT, CPUID, RDTSC, MSRs) take a
// shorter way that throws nothing (`exitInstead`): their handlers finish the exit themselves and
// return, and the run loop stops after them. Exceptions and external interrupts reach the same deliverer,
// which decides with the exception bitmap and the pin-based controls. The interrupt window is
// checked before each instruction through the debug hook (`Armed.INTR_WINDOW` in `dbgArmed`) only while the
// control asks for it.
//
// With EPT the MMU translates every guest-physical address through the EPT (./mmu.ts's GuestPhys,
// EptPort below); violations and misconfigurations exit like instructions do.
//
// Not modelled yet: the MSR-load/-store lists, the PDPTEs from the VMCS under PAE with EPT,
// exits during event delivery other than injection (no IDT-vectoring information for them), NMI injection and NMI windows, the monitor
// trap flag, MOV DR exiting.

import { Reg, Seg } from "../../x86/insn.js";
import {
  Activity, CrAccess, EntryCtl, ExitCtl, ExitReason, Field, INT_INFO_ERROR_CODE, INT_INFO_VALID, IntType, Interruptibility, Proc, VmInsnError, Vmcs, type VmcsState, VMCS_REVISION_ID, arFromAttr, attrFromAr, checkVmEntry, crQualification, decodeIntInfo, eptEnabled, entryFailureReason, exceptionExits, exceptionType, extIntExits, guestBaseField, guestLimitField, guestArField, guestSelectorField, intInfo, interruptWindowExits, ioExits, ioQualification, launchError, movFromCrExits, movToCrExits, msrExits, procExits, recordExit, recordExitEvent, recordIdtVectoring, insOutsInfo, cr0WriteValue, cr4WriteValue, guestCr0Allowed, guestCr4Allowed, cr0ReadValue, cr4ReadValue, cltsExits, cltsValue, lmswExits, lmswValue, taskSwitchQualification, type TaskSource, guestTsc, EptAccess, EptOutcome, EptWalk, GuestLinear, eptTranslate, eptViolationQualification, vmclearError, vmclearRegion, vmptrldError, vmxPointerValid, hostSelectorField,
} from "../../vmx/index.js";
import { type Cpu } from "./cpu.js";
import { Armed, Stop } from "./arch.js";
import { hasErrorCode, Vec } from "../../x86/vectors.js";
import type { Access, GuestPhys, WalkMem } from "./mmu.js";
import { INTERRUPTS } from "./interrupts.js";
import { Cr4 } from "../../x86/paging.js";

/** The pseudo-vector an exiting instruction raises (see the file comment). */
export const EXIT_VECTOR = -2;

/** What the VMX methods report: VMsucceed, VMfailInvalid, or VMfailValid with its error number. */
export const enum VmxResult {
  SUCCEED = 0,
  FAIL_INVALID = -1,
  /** VMLAUNCH/VMRESUME failed on guest state: a VM exit (reason 33 with bit 31) is in the VMCS. */
  ENTRY_FAILED = -2,
  /** The entry succeeded but delivering the injected event exited at once (the exit is in the VMCS). */
  EXITED = -3,
}

/** A Vmx as plain data (save/restore). */
export interface VmxState {
  on: boolean;
  vmxonPtr: number;
  currentPtr: number;
  nonRoot: boolean;
  vmcs: VmcsState;
}

const SEGS = [Seg.ES, Seg.CS, Seg.SS, Seg.DS, Seg.FS, Seg.GS];

/** The VMX unit of a CPU; `new Vmx(cpu)` makes `cpu.vmx` this unit. */
export class Vmx {
  readonly cpu: Cpu;
  /** In VMX operation (after VMXON). */
  on = false;
  vmxonPtr = -1;
  /** Physical address of the current VMCS, or -1. */
  currentPtr = -1;
  /** The current VMCS: the processor's copy of the region at currentPtr. */
  readonly vmcs = new Vmcs();
  private readonly deliverer = {
    deliver: (cpu: Cpu, vector: number, code: number, software: boolean): boolean => this.deliver(cpu, vector, code, software),
  };
  /** The INTA cycle in non-root operation (see acknowledgeGuest). */
  private readonly acknowledge = (): number => this.acknowledgeGuest();
  private savedAck: () => number = () => 0xff;
  /** RDTSC exiting, and the TSC offset (0 without offsetting), as of the last VM entry. */
  private rdtscExits = false;
  private tscOffset = 0;

  /** The guest-physical view the MMU translates through while EPT is enabled. */
  private readonly ept: EptPort;

  constructor(cpu: Cpu) {
    this.cpu = cpu;
    this.ept = new EptPort(this);
    // A double from the start (offsets pass 2^31), so its first wide value changes no map.
    this.tscOffset = 2 ** 32;
    this.tscOffset = 0;
    cpu.vmx = this;
  }

  /** The VMX state as plain data (the CPU's own state is Cpu.save's). */
  save(): VmxState {
    return { on: this.on, vmxonPtr: this.vmxonPtr, currentPtr: this.currentPtr, nonRoot: this.cpu.nonRoot, vmcs: this.vmcs.save() };
  }

  /**
   * Restores `save()`'s state, after Cpu.restore: in non-root operation the hooks are installed
   * again (the CPU's INTA at this point is taken as the host's).
   */
  restore(s: VmxState): void {
    const cpu = this.cpu;
    this.on = s.on;
    this.vmxonPtr = s.vmxonPtr;
    this.currentPtr = s.currentPtr;
    this.vmcs.restore(s.vmcs);
    this.isExternal = false;
    if (cpu.nonRoot) {
      cpu.interrupts = INTERRUPTS;
      cpu.acknowledgeIntr = this.savedAck;
    }
    cpu.nonRoot = s.nonRoot;
    cpu.dbgArmed &= ~Armed.INTR_WINDOW;
    cpu.extIntExiting = false;
    if (!s.nonRoot) {
      cpu.paging.setEpt(null);
      return;
    }
    const v = this.vmcs;
    this.savedAck = cpu.acknowledgeIntr;
    cpu.interrupts = this.deliverer;
    cpu.acknowledgeIntr = this.acknowledge;
    cpu.extIntExiting = extIntExits(v);
    if (procExits(v, Proc.INTR_WINDOW_EXITING)) cpu.dbgArmed |= Armed.INTR_WINDOW;
    this.takeTscControls();
    this.ept.eptp = v.read(Field.EPT_POINTER);
    cpu.paging.setEpt(eptEnabled(v) ? this.ept : null);
  }

  /** INVEPT (single-context or all): drops cached translations. The TLB is flushed by every entry anyway. */
  invept(): void {
    this.cpu.paging.flushAll();
  }

  // ----------------------------------------------------------------------------------------------
  // The VMX instructions, as the host calls them

  /** VMXON with the VMXON region at `ptr`: needs CR4.VMXE. */
  vmxon(ptr: number): VmxResult | VmInsnError {
    const cpu = this.cpu;
    if ((cpu.cr4 & Cr4.VMXE) === 0) throw new Error("VMXON with CR4.VMXE clear (#UD)");
    if (this.on) return this.fail(VmInsnError.VMXON_IN_ROOT);
    if (!vmxPointerValid(ptr, 0) || cpu.mem.read32(ptr) >>> 0 !== VMCS_REVISION_ID) return VmxResult.FAIL_INVALID;
    this.on = true;
    this.vmxonPtr = ptr >>> 0;
    this.currentPtr = -1;
    return VmxResult.SUCCEED;
  }

  vmxoff(): VmxResult {
    this.requireOn();
    this.on = false;
    this.vmxonPtr = -1;
    return VmxResult.SUCCEED;
  }

  vmclear(ptr: number): VmxResult | VmInsnError {
    this.requireOn();
    const err = vmclearError(ptr, 0, this.vmxonPtr);
    if (err !== 0) return this.fail(err);
    if (ptr >>> 0 === this.currentPtr) {
      this.vmcs.launched = false;
      this.vmcs.storeTo(this.cpu.mem, ptr);
      this.currentPtr = -1;
    } else {
      vmclearRegion(this.cpu.mem, ptr);
    }
    return VmxResult.SUCCEED;
  }

  vmptrld(ptr: number): VmxResult | VmInsnError {
    this.requireOn();
    const mem = this.cpu.mem;
    const err = vmptrldError(ptr, 0, this.vmxonPtr, mem.read32(ptr));
    if (err !== 0) return this.fail(err);
    if (this.currentPtr >= 0 && this.currentPtr !== ptr >>> 0) this.vmcs.storeTo(mem, this.currentPtr);
    if (this.currentPtr !== ptr >>> 0) this.vmcs.loadFrom(mem, ptr);
    this.currentPtr = ptr >>> 0;
    return VmxResult.SUCCEED;
  }

  /** VMPTRST: the current-VMCS pointer (-1 when none, as all ones). */
  vmptrst(): number {
    return this.currentPtr;
  }

  /** VMREAD: the field's value, or undefined after VMfailInvalid / VMfailValid(12). */
  vmread(enc: number): number | undefined {
    this.requireOn();
    if (this.currentPtr < 0) return undefined;
    const v = this.vmcs.vmread(enc);
    if (v === -1) {
      this.fail(VmInsnError.UNSUPPORTED_COMPONENT);
      return undefined;
    }
    return v >>> 0;
  }

  vmwrite(enc: number, value: number): VmxResult | VmInsnError {
    this.requireOn();
    if (this.currentPtr < 0) return VmxResult.FAIL_INVALID;
    const err = this.vmcs.vmwrite(enc, value);
    return err !== 0 ? this.fail(err) : VmxResult.SUCCEED;
  }

  /** VMLAUNCH. */
  launch(): VmxResult | VmInsnError {
    return this.enter(false);
  }

  /** VMRESUME. */
  resume(): VmxResult | VmInsnError {
    return this.enter(true);
  }

  /** VMfailValid(err) with a current VMCS, else VMfailInvalid. */
  private fail(err: VmInsnError): VmxResult | VmInsnError {
    if (this.currentPtr < 0) return VmxResult.FAIL_INVALID;
    this.vmcs.write(Field.VM_INSTRUCTION_ERROR, err);
    return err;
  }

  private requireOn(): void {
    if (!this.on) throw new Error("VMX instruction outside VMX operation (#UD)");
  }

  // ----------------------------------------------------------------------------------------------
  // VM entry (SDM chapter 26)

  private enter(resume: boolean): VmxResult | VmInsnError {
    this.requireOn();
    if (this.currentPtr < 0) return VmxResult.FAIL_INVALID;
    const v = this.vmcs, cpu = this.cpu;
    const err = launchError(v, resume, false);
    if (err !== 0) return this.fail(err);
    const failure = checkVmEntry(v, cpu.mem, this.currentPtr);
    if (failure !== null) {
      if (failure.area !== "guest") return this.fail(failure.error as VmInsnError);
      recordExit(v, entryFailureReason(ExitReason.INVALID_GUEST_STATE), failure.qualification);
      return VmxResult.ENTRY_FAILED;
    }
    if (!resume) v.launched = true;
    v.write(Field.VM_INSTRUCTION_ERROR, 0);
    cpu.paging.setEpt(eptEnabled(v) ? this.ept : null);
    this.ept.eptp = v.read(Field.EPT_POINTER);
    this.loadGuest();
    cpu.nonRoot = true;
    this.savedAck = cpu.acknowledgeIntr;
    cpu.interrupts = this.deliverer;
    cpu.acknowledgeIntr = this.acknowledge;
    cpu.extIntExiting = extIntExits(v);
    if (procExits(v, Proc.INTR_WINDOW_EXITING)) cpu.dbgArmed |= Armed.INTR_WINDOW;
    this.takeTscControls();
    return this.inject() ? VmxResult.SUCCEED : VmxResult.EXITED;
  }

  /** Loads the guest-state area into the CPU (26.3.2). */
  private loadGuest(): void {
    const v = this.vmcs, cpu = this.cpu;
    cpu.cr0 = v.read(Field.GUEST_CR0) | 0;
    cpu.cr3 = v.read(Field.GUEST_CR3) | 0;
    cpu.cr4 = v.read(Field.GUEST_CR4) | 0;
    cpu.dr[7] = v.read(Field.GUEST_DR7) | 0;
    if ((v.read(Field.VM_ENTRY_CTLS) & EntryCtl.LOAD_IA32_EFER) !== 0) cpu.efer = v.read(Field.GUEST_IA32_EFER);
    if ((v.read(Field.VM_ENTRY_CTLS) & EntryCtl.LOAD_IA32_PAT) !== 0) {
      cpu.patLo = v.read(Field.GUEST_IA32_PAT) | 0;
      cpu.patHi = v.read(Field.GUEST_IA32_PAT | 1) | 0;
    }
    cpu.sysenterCs = v.read(Field.GUEST_IA32_SYSENTER_CS) | 0;
    cpu.sysenterEsp = v.read(Field.GUEST_IA32_SYSENTER_ESP) | 0;
    cpu.sysenterEip = v.read(Field.GUEST_IA32_SYSENTER_EIP) | 0;
    const ssAr = v.read(Field.GUEST_SS_AR);
    cpu.cpl = (ssAr >>> 5) & 3;
    for (const s of SEGS) {
      const ar = v.read(guestArField(s));
      const attr = (ar & 0x10000) !== 0 ? 0 : attrFromAr(ar);
      cpu.setSegCache(s, v.read(guestSelectorField(s)), v.read(guestBaseField(s)) | 0, v.read(guestLimitField(s)), attr);
    }
    cpu.gdtrBase = v.read(Field.GUEST_GDTR_BASE) | 0;
    cpu.gdtrLimit = v.read(Field.GUEST_GDTR_LIMIT);
    cpu.idtrBase = v.read(Field.GUEST_IDTR_BASE) | 0;
    cpu.idtrLimit = v.read(Field.GUEST_IDTR_LIMIT);
    cpu.ldtrSel = v.read(Field.GUEST_LDTR_SELECTOR);
    cpu.ldtrBase = v.read(Field.GUEST_LDTR_BASE) | 0;
    cpu.ldtrLimit = v.read(Field.GUEST_LDTR_LIMIT) | 0;
    cpu.trSel = v.read(Field.GUEST_TR_SELECTOR);
    cpu.trBase = v.read(Field.GUEST_TR_BASE) | 0;
    cpu.trLimit = v.read(Field.GUEST_TR_LIMIT) | 0;
    cpu.trAttr = attrFromAr(v.read(Field.GUEST_TR_AR));
    cpu.r32[Reg.ESP] = v.read(Field.GUEST_RSP) | 0;
    cpu.eip = v.read(Field.GUEST_RIP) | 0;
    cpu.flags = v.read(Field.GUEST_RFLAGS) | 0;
    cpu.lzMask = 0;
    const blocking = v.read(Field.GUEST_INTERRUPTIBILITY);
    cpu.irqShadowAt = (blocking & (Interruptibility.BLOCKING_BY_STI | Interruptibility.BLOCKING_BY_MOV_SS)) !== 0 ? cpu.icount : -1;
    cpu.halted = v.read(Field.GUEST_ACTIVITY_STATE) === Activity.HLT;
    // The TLB and fetch path hold host translations: flush them (no VPID).
    cpu.paging.changed();
    cpu.tlbFlushed();
  }

  /**
   * VM-entry event injection (26.6): delivered through the guest's IDT before its first
   * instruction. False when the delivery ended in a VM exit (recorded in the VMCS).
   */
  private inject(): boolean {
    const v = this.vmcs, cpu = this.cpu;
    const info = v.read(Field.VM_ENTRY_INTR_INFO);
    if ((info & INT_INFO_VALID) === 0) return true;
    const e = decodeIntInfo(info);
    cpu.halted = false;
    const software = e.type === IntType.SOFTWARE_INTERRUPT || e.type === IntType.SOFTWARE_EXCEPTION || e.type === IntType.PRIVILEGED_SOFTWARE_EXCEPTION;
    if (software) cpu.eip = (cpu.eip + v.read(Field.VM_ENTRY_INSTRUCTION_LEN)) | 0;
    cpu.insnEip = cpu.eip;
    const code = (info & INT_INFO_ERROR_CODE) !== 0 ? v.read(Field.VM_ENTRY_EXCEPTION_ERROR_CODE) | 0 : -1;
    // The entry completed: the event is no longer pending (an exit while delivering it reports it
    // in the IDT-vectoring information).
    v.write(Field.VM_ENTRY_INTR_INFO, info & ~INT_INFO_VALID);
    this.delivering = info;
    this.deliveringCode = code;
    const ok = INTERRUPTS.deliver(cpu, e.vector, code, e.type === IntType.SOFTWARE_INTERRUPT);
    this.delivering = 0;
    if (ok) return true;
    // The delivery ended in a VM exit (faultInDelivery) or a triple fault: launch/resume say EXITED.
    if (cpu.nonRoot && cpu.stopReason === Stop.SHUTDOWN) {
      recordExit(v, ExitReason.TRIPLE_FAULT);
      this.exit();
    }
    return cpu.nonRoot;

  }

  /** The event being delivered (interruption-information format), for IDT-vectoring information. */
  private delivering = 0;
  private deliveringCode = -1;

  // ----------------------------------------------------------------------------------------------
  // VM exits (SDM chapter 27)

  /**
   * An instruction that exits: records the exit and raises EXIT_VECTOR; the run loop rewinds
   * EIP to the instruction and the deliverer finishes the exit. Never returns.
   */
  instructionExit(reason: ExitReason, qualification = 0, info = 0, linear = 0): never {
    const cpu = this.cpu;
    recordExit(this.vmcs, reason, qualification, (cpu.eip - cpu.insnEip) & cpu.ipMask, info, linear);
    return cpu.raise(EXIT_VECTOR);
  }

  /**
   * What RDTSC reads in VMX non-root operation when the host's TSC is `host` (exact in a double),
   * the TSC offset added as guestTsc does, for Cpu.rdtscInPlace; -1 when RDTSC exits or the sum
   * is not exact in a double.
   */
  guestTscNumber(host: number): number {
    if (this.rdtscExits) return -1;
    const t = host + this.tscOffset;
    return t >= 0 && t <= Number.MAX_SAFE_INTEGER ? t : -1;
  }

  /**
   * Takes what RDTSC reads from the VMCS, which does not change in non-root operation, at VM
   * entry: Linux's delay loops run RDTSC millions of times in a boot, and reading three fields for
   * each cost a third of a second.
   */
  private takeTscControls(): void {
    const v = this.vmcs, ctls = v.read(Field.PROC_BASED_CTLS);
    this.rdtscExits = (ctls & Proc.RDTSC_EXITING) !== 0;
    this.tscOffset = (ctls & Proc.USE_TSC_OFFSETTING) === 0 ? 0 : (v.read(Field.TSC_OFFSET | 1) | 0) * 4294967296 + v.read(Field.TSC_OFFSET);
  }

  /**
   * An instruction that exits, from a handler that returns as soon as this does (the common
   * exits: I/O, HLT, CPUID, RDTSC, RDMSR/WRMSR, INVLPG, INVD): the exit happens here, as the run
   * loop's catch would make it, without throwing through the run loop or a compiled block's
   * catch (a throw costs more than the exit's own work on an exit-heavy guest). The instruction
   * does not retire: its count is taken back here, since the run loop (or the block) counts it
   * when the handler returns, and the run ends after it with Stop.VMEXIT. A harness that traps
   * exceptions sees the exit as it always did, as the pseudo-vector.
   */
  exitInstead(reason: ExitReason, qualification = 0, info = 0, linear = 0): true {
    const cpu = this.cpu;
    if (cpu.trapExceptions) this.instructionExit(reason, qualification, info, linear);
    recordExit(this.vmcs, reason, qualification, (cpu.eip - cpu.insnEip) & cpu.ipMask, info, linear);
    cpu.excVector = EXIT_VECTOR;
    cpu.excCode = -1;
    cpu.dbgPending = 0;
    cpu.eip = cpu.insnEip;
    this.exit();
    cpu.icount--;
    cpu.requestStop(Stop.VMEXIT);
    return true;
  }

  /**
   * A task switch, after the checks on the gate, the selector and the new TSS's descriptor: in
   * VMX non-root operation it always exits (SDM vol. 3, 25.4.2), with the TSS selector and what
   * started it in the qualification; a switch through a task gate in the IDT has the event in the
   * IDT-vectoring information (it exits during the event's delivery).
   */
  taskSwitch(selector: number, source: TaskSource): never {
    return this.instructionExit(ExitReason.TASK_SWITCH, taskSwitchQualification(selector, source));
  }

  /** An EPT violation or misconfiguration (from EptPort): records it and ends the instruction. */
  eptExit(reason: ExitReason, qualification: number, linear: number, gpa: number): never {
    recordExit(this.vmcs, reason, qualification, 0, 0, linear, gpa);
    return this.cpu.raise(EXIT_VECTOR);
  }

  /** Before an instruction while interrupt-window exiting is on (called from Cpu.debugBefore). */
  boundary(): void {
    const cpu = this.cpu;
    if (!cpu.nonRoot) return;
    const blocking = cpu.icount === cpu.irqShadowAt ? Interruptibility.BLOCKING_BY_STI : 0;
    if (interruptWindowExits(this.vmcs, cpu.materialize(), blocking)) {
      recordExit(this.vmcs, ExitReason.INTERRUPT_WINDOW);
      cpu.raise(EXIT_VECTOR);
    }
  }

  /** Event delivery in non-root operation: exits per the controls, else the guest's IDT. */
  private deliver(cpu: Cpu, vector: number, code: number, software: boolean): boolean {
    const v = this.vmcs;
    if (vector === EXIT_VECTOR) return this.exit();
    if (vector === -1) {
      // An external interrupt with external-interrupt exiting: it stays pending at the PIC.
      recordExit(v, ExitReason.EXTERNAL_INTERRUPT);
      cpu.halted = this.ackHalted;
      return this.exit();
    }
    if (this.isExternal) {
      // Acknowledged (ack-on-exit, or no exiting): with exiting, the vector goes to the VMCS.
      this.isExternal = false;
      if (extIntExits(v)) {
        recordExit(v, ExitReason.EXTERNAL_INTERRUPT);
        recordExitEvent(v, intInfo(vector, IntType.EXTERNAL));
        cpu.halted = this.ackHalted;
        return this.exit();
      }
      return this.deliverToGuest(intInfo(vector, IntType.EXTERNAL), vector, code, software);
    }
    if (vector === Vec.UD && this.vmxInstruction()) return this.exit();
    if (!software || vector === Vec.BP || vector === Vec.OF) {
      const errorCode = code < 0 ? 0 : code;
      if (exceptionExits(v, vector, errorCode)) {
        const type = exceptionType(vector, software);
        const len = software ? (cpu.eip - cpu.insnEip) & cpu.ipMask : 0;
        recordExit(v, ExitReason.EXCEPTION_NMI, vector === Vec.PF ? cpu.cr2 : 0, len);
        recordExitEvent(v, intInfo(vector, type, code >= 0 && hasErrorCode(vector)), errorCode);
        if (this.delivering !== 0) recordIdtVectoring(v, this.delivering, this.deliveringCode < 0 ? 0 : this.deliveringCode);
        if (vector === Vec.PF) cpu.cr2 = this.cr2BeforeFault;
        if (software) cpu.eip = cpu.insnEip;
        return this.exit();
      }
    }
    if (vector === Vec.PF) this.cr2BeforeFault = cpu.cr2;
    const info = intInfo(vector, software ? IntType.SOFTWARE_INTERRUPT : exceptionType(vector), code >= 0 && hasErrorCode(vector));
    return this.deliverToGuest(info, vector, code, software);
  }

  /** Delivers an event through the guest's IDT; a fault on the way may exit (faultInDelivery). */
  private deliverToGuest(info: number, vector: number, code: number, software: boolean): boolean {
    const cpu = this.cpu;
    this.delivering = info;
    this.deliveringCode = code;
    const ok = INTERRUPTS.deliver(cpu, vector, code, software);
    this.delivering = 0;
    if (!ok && cpu.nonRoot && cpu.stopReason === Stop.SHUTDOWN) {
      recordExit(this.vmcs, ExitReason.TRIPLE_FAULT);
      return this.exit();
    }
    return ok;
  }

  /**
   * A fault (or a VM exit: an EPT violation) while delivering an event in non-root operation,
   * called by ./interrupts.ts with EIP at the restart point: true when it ended in a VM exit,
   * with the event in the IDT-vectoring information.
   */
  faultInDelivery(second: number, secondCode: number): boolean {
    const v = this.vmcs, cpu = this.cpu;
    const info = this.delivering, code = this.deliveringCode < 0 ? 0 : this.deliveringCode;
    if (second === EXIT_VECTOR) {
      if (info !== 0) recordIdtVectoring(v, info, code);
      this.exit();
      return true;
    }
    const errorCode = secondCode < 0 ? 0 : secondCode;
    if (second < 0 || !exceptionExits(v, second, errorCode)) return false;
    recordExit(v, ExitReason.EXCEPTION_NMI, second === Vec.PF ? cpu.cr2 : 0);
    recordExitEvent(v, intInfo(second, exceptionType(second), secondCode >= 0 && hasErrorCode(second)), errorCode);
    if (info !== 0) recordIdtVectoring(v, info, code);
    this.exit();
    return true;
  }

  /**
   * Delivery goes on with another exception in place of the event (the fault it raised, or a
   * double fault): the IDT-vectoring information of an exit during it names that one.
   */
  nowDelivering(vector: number, code: number): void {
    this.delivering = intInfo(vector, exceptionType(vector), code >= 0 && hasErrorCode(vector));
    this.deliveringCode = code;
  }

  /** CR2 as the guest had it before the page fault being examined (an exiting #PF leaves CR2). */
  private cr2BeforeFault = 0;
  /** The guest was in the HLT state when the interrupt came (an exit saves activity state HLT). */
  private ackHalted = false;
  /** Set by the acknowledge hook: the next delivery is an external interrupt. */
  private isExternal = false;

  /** A #UD from VMCALL or another VMX instruction in the guest: their exits (reason 18-27). */
  private vmxInstruction(): boolean {
    const cpu = this.cpu;
    const lin = (cpu.segBase[Seg.CS] + cpu.insnEip) | 0;
    const b0 = cpu.byte(lin), b1 = cpu.byte(lin + 1), b2 = cpu.byte(lin + 2);
    if (b0 !== 0x0f) return false;
    let reason = -1, len = 3;
    if (b1 === 0x01 && b2 >= 0xc1 && b2 <= 0xc4) reason = [ExitReason.VMCALL, ExitReason.VMLAUNCH, ExitReason.VMRESUME, ExitReason.VMXOFF][b2 - 0xc1];
    else if (b1 === 0x78) { reason = ExitReason.VMREAD; len = 0; }
    else if (b1 === 0x79) { reason = ExitReason.VMWRITE; len = 0; }
    else if (b1 === 0xc7 && ((b2 >>> 3) & 7) >= 6) { reason = ((b2 >>> 3) & 7) === 6 ? ExitReason.VMPTRLD : ExitReason.VMPTRST; len = 0; }
    if (reason < 0) return false;
    recordExit(this.vmcs, reason, 0, len);
    return true;
  }

  /** Finishes a VM exit: guest state to the VMCS, host state to the CPU, back to root. */
  private exit(): false {
    this.leave();
    this.cpu.stopReason = Stop.VMEXIT;
    return false;
  }

  /**
   * Takes the CPU out of the guest between two instructions without a VM exit: the guest state
   * goes to the VMCS and the host state is loaded, the exit-information fields untouched. For a
   * host that stopped a guest run by its own deadline and leaves the guest "running" until it
   * needs the VMCS or the CPU (on hardware a host interrupt would have exited at the deadline;
   * deciding lazily keeps where the host cut its runs invisible in the machine's state).
   */
  suspend(): void {
    if (this.cpu.nonRoot) this.leave();
  }

  private leave(): void {
    const cpu = this.cpu;
    this.saveGuest();
    cpu.nonRoot = false;
    cpu.interrupts = INTERRUPTS;
    cpu.acknowledgeIntr = this.savedAck;
    cpu.dbgArmed &= ~Armed.INTR_WINDOW;
    cpu.extIntExiting = false;
    cpu.paging.setEpt(null);
    this.loadHost();
  }

  /**
   * A copy of the current VMCS as a VM exit now would leave its guest-state area (in non-root
   * operation the guest's registers are the CPU's; the VMCS has them as of the last entry). For
   * debuggers: nothing changes.
   */
  peekVmcs(): Vmcs {
    const copy = new Vmcs();
    copy.restore(this.vmcs.save());
    if (this.cpu.nonRoot) this.saveGuest(copy);
    return copy;
  }

  /** Saves the guest state (27.3) into `v`: EIP is the instruction to restart at (or return to). */
  private saveGuest(v = this.vmcs): void {
    const cpu = this.cpu;
    v.write(Field.GUEST_CR0, cpu.cr0);
    v.write(Field.GUEST_CR3, cpu.cr3);
    v.write(Field.GUEST_CR4, cpu.cr4);
    v.write(Field.GUEST_DR7, cpu.dr[7]);
    v.write(Field.GUEST_RSP, cpu.r32[Reg.ESP]);
    v.write(Field.GUEST_RIP, cpu.eip);
    v.write(Field.GUEST_RFLAGS, cpu.materialize());
    for (const s of SEGS) {
      const attr = cpu.segAttr[s];
      const unusable = (attr & 0x80) === 0 && cpu.protectedMode();
      v.write(guestSelectorField(s), cpu.segSel[s]);
      v.write(guestBaseField(s), cpu.segBase[s]);
      v.write(guestLimitField(s), cpu.segLimit[s]);
      v.write(guestArField(s), arFromAttr(attr, unusable));
    }
    v.write(Field.GUEST_GDTR_BASE, cpu.gdtrBase);
    v.write(Field.GUEST_GDTR_LIMIT, cpu.gdtrLimit);
    v.write(Field.GUEST_IDTR_BASE, cpu.idtrBase);
    v.write(Field.GUEST_IDTR_LIMIT, cpu.idtrLimit);
    v.write(Field.GUEST_LDTR_SELECTOR, cpu.ldtrSel);
    v.write(Field.GUEST_LDTR_BASE, cpu.ldtrBase);
    v.write(Field.GUEST_LDTR_LIMIT, cpu.ldtrLimit);
    v.write(Field.GUEST_TR_SELECTOR, cpu.trSel);
    v.write(Field.GUEST_TR_BASE, cpu.trBase);
    v.write(Field.GUEST_TR_LIMIT, cpu.trLimit);
    v.write(Field.GUEST_IA32_SYSENTER_CS, cpu.sysenterCs);
    v.write(Field.GUEST_IA32_SYSENTER_ESP, cpu.sysenterEsp);
    v.write(Field.GUEST_IA32_SYSENTER_EIP, cpu.sysenterEip);
    if ((v.read(Field.VM_EXIT_CTLS) & ExitCtl.SAVE_IA32_EFER) !== 0) v.write64(Field.GUEST_IA32_EFER, cpu.efer, 0);
    if ((v.read(Field.VM_EXIT_CTLS) & ExitCtl.SAVE_IA32_PAT) !== 0) v.write64(Field.GUEST_IA32_PAT, cpu.patLo, cpu.patHi);
    v.write(Field.GUEST_INTERRUPTIBILITY, cpu.irqShadowAt === cpu.icount ? Interruptibility.BLOCKING_BY_STI : 0);
    v.write(Field.GUEST_ACTIVITY_STATE, cpu.halted ? Activity.HLT : Activity.ACTIVE);
  }

  /**
   * Loads the host-state area (27.5): control registers, flat segments with the host selectors,
   * ESP, EIP, EFLAGS = 2. The host is the TypeScript kernel, so this state is what a debugger
   * shows between guest runs; it runs no code.
   */
  private loadHost(): void {
    const v = this.vmcs, cpu = this.cpu;
    cpu.cr0 = v.read(Field.HOST_CR0) | 0;
    cpu.cr3 = v.read(Field.HOST_CR3) | 0;
    cpu.cr4 = v.read(Field.HOST_CR4) | 0;
    cpu.dr[7] = 0x400;
    cpu.cpl = 0;
    for (const s of SEGS) {
      const sel = v.read(hostSelectorField(s));
      const base = s === Seg.FS ? v.read(Field.HOST_FS_BASE) : s === Seg.GS ? v.read(Field.HOST_GS_BASE) : 0;
      const attr = s === Seg.CS ? 0xc09b : sel === 0 && s !== Seg.SS ? 0 : 0xc093;
      cpu.setSegCache(s, sel, base | 0, 0xffffffff, attr);
    }
    cpu.trSel = v.read(Field.HOST_TR_SELECTOR);
    cpu.trBase = v.read(Field.HOST_TR_BASE) | 0;
    cpu.trLimit = 0x67;
    cpu.trAttr = 0x8b;
    cpu.ldtrSel = 0;
    cpu.gdtrBase = v.read(Field.HOST_GDTR_BASE) | 0;
    cpu.gdtrLimit = 0xffff;
    cpu.idtrBase = v.read(Field.HOST_IDTR_BASE) | 0;
    cpu.idtrLimit = 0xffff;
    cpu.r32[Reg.ESP] = v.read(Field.HOST_RSP) | 0;
    cpu.eip = v.read(Field.HOST_RIP) | 0;
    cpu.flags = 0x2;
    cpu.lzMask = 0;
    cpu.halted = false;
    cpu.irqShadowAt = -1;
    cpu.paging.changed();
    cpu.tlbFlushed();
  }

  /**
   * An external interrupt is taken in non-root operation: with external-interrupt exiting and no
   * acknowledge-on-exit it is not acknowledged (-1: it stays pending at the PIC for the host);
   * otherwise the controller answers its vector and the deliverer knows it is external.
   */
  private acknowledgeGuest(): number {
    const v = this.vmcs;
    this.ackHalted = this.cpu.halted;
    if (extIntExits(v) && (v.read(Field.VM_EXIT_CTLS) & ExitCtl.ACK_INTERRUPT_ON_EXIT) === 0) return -1;
    this.isExternal = true;
    return this.savedAck();
  }
}

// ------------------------------------------------------------------------------------------------
// Hooks the instruction handlers call when cpu.nonRoot is true

/** IN/OUT (not string): exits per unconditional I/O exiting or the I/O bitmaps; true when it exited (Vmx.exitInstead: the handler returns). */
export function vmxIo(cpu: Cpu, port: number, size: 1 | 2 | 4, input: boolean, immediate: boolean): boolean {
  const x = cpu.vmx as Vmx;
  return ioExits(x.vmcs, port, size, cpu.mem) && x.exitInstead(ExitReason.IO_INSTRUCTION, ioQualification(port, size, input, false, false, immediate));
}

/** INS/OUTS (with REP): the I/O decision, string and REP in the qualification, address size and segment in the instruction information, the first element's linear address. */
export function vmxStringIo(cpu: Cpu, port: number, size: 1 | 2 | 4, input: boolean, rep: boolean, a32: boolean, seg: number, offset: number): void {
  const x = cpu.vmx as Vmx;
  if (!ioExits(x.vmcs, port, size, cpu.mem)) return;
  x.instructionExit(ExitReason.IO_INSTRUCTION, ioQualification(port, size, input, true, rep, false), insOutsInfo(a32 ? 32 : 16, seg), (cpu.segBase[seg] + offset) | 0);
}

/** Instructions that exit unconditionally (CPUID, INVD, GETSEC): true (Vmx.exitInstead: the handler returns). */
export function vmxAlways(cpu: Cpu, reason: ExitReason): boolean {
  return (cpu.vmx as Vmx).exitInstead(reason);
}

/** Instructions a primary processor-based control makes exit (HLT, RDTSC, RDPMC, MWAIT...). */
export function vmxProc(cpu: Cpu, control: Proc, reason: ExitReason, qualification = 0): boolean {
  const x = cpu.vmx as Vmx;
  return procExits(x.vmcs, control) && x.exitInstead(reason, qualification);
}

/** RDMSR/WRMSR per the MSR bitmaps. */
export function vmxMsr(cpu: Cpu, write: boolean): boolean {
  const x = cpu.vmx as Vmx;
  return msrExits(x.vmcs, cpu.r32[Reg.ECX] >>> 0, write, cpu.mem) && x.exitInstead(write ? ExitReason.WRMSR : ExitReason.RDMSR);
}

/**
 * MOV to CR0/CR3/CR4: exits per the guest/host masks, shadows and CR3-target controls; else the
 * value to write (host-owned CR0/CR4 bits keep their value), #GP(0) when VMX forbids it.
 */
export function vmxMovToCr(cpu: Cpu, cr: number, gpr: number): number {
  const x = cpu.vmx as Vmx, v = x.vmcs;
  const value = cpu.r32[gpr];
  if (movToCrExits(v, cr, value)) x.instructionExit(ExitReason.CR_ACCESS, crQualification(cr, CrAccess.MOV_TO_CR, gpr));
  if (cr === 0) {
    const cr0 = cr0WriteValue(v, cpu.cr0, value) | 0;
    if (!guestCr0Allowed(v, cr0)) cpu.gp(0);
    return cr0;
  }
  if (cr === 4) {
    const cr4 = cr4WriteValue(v, cpu.cr4, value) | 0;
    if (!guestCr4Allowed(cr4)) cpu.gp(0);
    return cr4;
  }
  return value;
}

/** What the guest reads from CR0 (MOV, SMSW) and CR4: the read shadows in host-owned bits. */
export function vmxReadCr(cpu: Cpu, cr: number, value: number): number {
  const v = (cpu.vmx as Vmx).vmcs;
  if (cr === 0) return cr0ReadValue(v, value) | 0;
  if (cr === 4) return cr4ReadValue(v, value) | 0;
  return value;
}

/** CLTS: exits when the host owns TS and its shadow is set; else the CR0 to load. */
export function vmxClts(cpu: Cpu): number {
  const x = cpu.vmx as Vmx;
  if (cltsExits(x.vmcs)) x.instructionExit(ExitReason.CR_ACCESS, crQualification(0, CrAccess.CLTS));
  return cltsValue(x.vmcs, cpu.cr0) | 0;
}

/** LMSW with `source`: exits per the mask and shadow (qualification with the source data); else the CR0 to load. */
export function vmxLmsw(cpu: Cpu, source: number, memory: boolean): number {
  const x = cpu.vmx as Vmx;
  if (lmswExits(x.vmcs, source)) x.instructionExit(ExitReason.CR_ACCESS, crQualification(0, CrAccess.LMSW, 0, memory, source));
  return lmswValue(x.vmcs, cpu.cr0, source) | 0;
}

/** The TSC the guest reads (RDTSC not exiting): with TSC offsetting, plus TSC_OFFSET. */
export function vmxTsc(cpu: Cpu, host: bigint): bigint {
  return guestTsc((cpu.vmx as Vmx).vmcs, host);
}

/** MOV from CR3 per CR3-store exiting. */
export function vmxMovFromCr(cpu: Cpu, cr: number, gpr: number): void {
  const x = cpu.vmx as Vmx;
  if (movFromCrExits(x.vmcs, cr)) x.instructionExit(ExitReason.CR_ACCESS, crQualification(cr, CrAccess.MOV_FROM_CR, gpr));
}

// ------------------------------------------------------------------------------------------------
// EPT: the MMU's guest-physical view (./mmu.ts's GuestPhys)

/** Mmu Access (0 read, 1 write, 2 exec) to EptAccess bits. */
const EPT_ACCESS = [EptAccess.READ, EptAccess.WRITE, EptAccess.FETCH];

class EptPort implements GuestPhys {
  /** The EPTP's low half for this entry. */
  eptp = 0;
  perm = 7;
  private readonly walk = new EptWalk();
  /** The linear address whose translation the MMU is walking (for the exit's guest-linear field). */
  lin = 0;
  readonly walkMem: WalkMem;

  constructor(private readonly vmx: Vmx) {
    const mem = vmx.cpu.mem;
    this.walkMem = {
      read32: (gpa) => mem.read32(this.hpa(gpa, EptAccess.READ, GuestLinear.PAGING_STRUCTURE)),
      write32: (gpa, v) => mem.write32(this.hpa(gpa, EptAccess.WRITE, GuestLinear.PAGING_STRUCTURE), v),
    };
  }

  translate(gpa: number, access: Access, lin: number): number {
    this.lin = lin;
    const hpa = this.hpa(gpa, EPT_ACCESS[access], GuestLinear.TRANSLATION);
    this.perm = this.walk.perms & 7;
    return hpa;
  }

  private hpa(gpa: number, access: number, kind: GuestLinear): number {
    const w = this.walk;
    const outcome = eptTranslate(this.vmx.cpu.mem, this.eptp, gpa, access, w);
    if (outcome === EptOutcome.OK) return w.hpa >>> 0;
    if (outcome === EptOutcome.MISCONFIG) return this.vmx.eptExit(ExitReason.EPT_MISCONFIG, 0, 0, gpa);
    return this.vmx.eptExit(ExitReason.EPT_VIOLATION, eptViolationQualification(access, w.perms, kind), this.lin, gpa);
  }
}

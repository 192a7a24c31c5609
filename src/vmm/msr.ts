// RDMSR/WRMSR policy (exits 31 and 32; without MSR bitmaps every access exits). The guest gets
// the MSRs an i686 kernel touches, as the bare machine's CPU has them; any other number raises
// #GP(0), as on hardware.
//
//   0x10        TSC            guest time at the VMM's TSC rate plus the offset WRMSR set
//   0x17        PLATFORM_ID    0 (platform 0: Linux's microcode driver reads it)
//   0x8b        BIOS_SIGN_ID   reads 0 (no microcode update), writes ignored
//   0x174-0x176 SYSENTER_*     the VMCS's guest fields (what SYSENTER uses in the guest)
//   0x1a0       MISC_ENABLE    kept by the VMM (fast strings on)
//   0x277       PAT            kept by the VMM (the CPU models no caching); bad types #GP
//   0xc0000080  EFER           the VMCS's guest EFER (NXE only; other bits #GP)

import { GuestField, Proc } from "../l4/api.js";
import { Reg } from "../x86/insn.js";
import { Efer, Msr, patValid } from "../x86/msr.js";
import { setControls } from "./cr.js";
import type { ExitCtx, Outcome } from "./context.js";
import type { Exit } from "./message.js";
import { fieldOf, hasField } from "./message.js";

export function msrNeedsClock(x: Exit): boolean {
  return hasField(x, GuestField.ECX) && fieldOf(x, GuestField.ECX) === Msr.TSC;
}

/** The guest's TSC at guest time `ns`: ticks at `hz` since time zero, plus `offset`. */
export function guestTsc(ns: number, hz: number, offset: number): bigint {
  return (BigInt(Math.floor(ns)) * BigInt(hz)) / 1_000_000_000n + BigInt(offset);
}

function count(c: ExitCtx, n: number, write: boolean): void {
  const e = (c.s.stats.msrs[n] ??= [0, 0]);
  e[write ? 1 : 0]++;
}

function unknown(c: ExitCtx): Outcome {
  c.s.stats.unknownMsrs++;
  return c.gp();
}

export function rdmsrExit(c: ExitCtx): Outcome {
  const n = c.gpr(Reg.ECX) >>> 0;
  const b = c.s.vcpuBook;
  let lo = 0;
  let hi = 0;
  switch (n) {
    case Msr.TSC: {
      const t = guestTsc(c.clock(), c.s.tscHz, b.tscOffset);
      lo = Number(BigInt.asUintN(32, t));
      hi = Number(BigInt.asUintN(32, t >> 32n));
      break;
    }
    case Msr.PLATFORM_ID:
    case Msr.BIOS_SIGN_ID:
      break;
    case Msr.SYSENTER_CS:
      lo = c.get(GuestField.SYSENTER_CS);
      break;
    case Msr.SYSENTER_ESP:
      lo = c.get(GuestField.SYSENTER_ESP);
      break;
    case Msr.SYSENTER_EIP:
      lo = c.get(GuestField.SYSENTER_EIP);
      break;
    case Msr.MISC_ENABLE:
      lo = b.miscEnable;
      break;
    case Msr.PAT:
      lo = b.patLo;
      hi = b.patHi;
      break;
    case Msr.EFER:
      lo = c.get(GuestField.EFER);
      break;
    default:
      return unknown(c);
  }
  count(c, n, false);
  c.setGpr(Reg.EAX, lo);
  c.setGpr(Reg.EDX, hi);
  return c.advance();
}

export function wrmsrExit(c: ExitCtx): Outcome {
  const n = c.gpr(Reg.ECX) >>> 0;
  const lo = c.gpr(Reg.EAX) >>> 0;
  const hi = c.gpr(Reg.EDX) >>> 0;
  const b = c.s.vcpuBook;
  switch (n) {
    case Msr.TSC: {
      // The guest's TSC becomes the value written: an offset from the VMM's TSC, which VMX TSC
      // offsetting also applies to RDTSC in the guest.
      const want = (BigInt(hi) << 32n) | BigInt(lo);
      const offset = want - guestTsc(c.clock(), c.s.tscHz, 0);
      b.tscOffset = Number(BigInt.asIntN(64, offset));
      const o64 = BigInt.asUintN(64, offset);
      c.set(GuestField.TSC_OFFSET_LO, Number(o64 & 0xffffffffn));
      c.set(GuestField.TSC_OFFSET_HI, Number(o64 >> 32n));
      b.procCtls = (b.procCtls | Proc.USE_TSC_OFFSETTING) >>> 0;
      setControls(c);
      break;
    }
    case Msr.BIOS_SIGN_ID:
      break;
    case Msr.SYSENTER_CS:
      c.set(GuestField.SYSENTER_CS, lo & 0xffff);
      break;
    case Msr.SYSENTER_ESP:
      c.set(GuestField.SYSENTER_ESP, lo);
      break;
    case Msr.SYSENTER_EIP:
      c.set(GuestField.SYSENTER_EIP, lo);
      break;
    case Msr.MISC_ENABLE:
      b.miscEnable = lo;
      break;
    case Msr.PAT:
      if (!patValid(lo, hi)) return c.gp();
      b.patLo = lo;
      b.patHi = hi;
      break;
    case Msr.EFER:
      // Only NXE exists on a 32-bit CPU.
      if ((lo & ~Efer.NXE) !== 0 || hi !== 0) return c.gp();
      c.set(GuestField.EFER, lo);
      break;
    default:
      return unknown(c);
  }
  count(c, n, true);
  return c.advance();
}

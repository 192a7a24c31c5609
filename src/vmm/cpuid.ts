// CPUID policy (exit 10, which always exits): the guest sees the same i686 the bare machine's CPU
// models — a Pentium II-class GenuineIntel without an APIC — minus VMX: CPUID.1:ECX is 0, so
// the guest never learns it runs in a VM and never tries VMXON (which would #UD here anyway).
// The model is spelled out again rather than imported, since the VMM may not import src/machine.

import { Reg } from "../x86/insn.js";
import type { ExitCtx, Outcome } from "./context.js";

export interface CpuidModel {
  vendor: string;
  family: number;
  model: number;
  stepping: number;
  /** CPUID.1:EDX. */
  features: number;
  /** CPUID.1:ECX (VMX would be bit 5: the policy hides it). */
  features2: number;
  /** CPUID.80000001h:EDX (NX is bit 20). */
  extFeatures: number;
  brand: string;
}

/** src/machine's I686: FPU PSE TSC MSR PAE MCE CX8 SEP PGE CMOV PAT FXSR, and NX. */
export const GUEST_CPU: CpuidModel = {
  vendor: "GenuineIntel",
  family: 6,
  model: 5,
  stepping: 2,
  features: (1 << 0) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) |
    (1 << 11) | (1 << 13) | (1 << 15) | (1 << 16) | (1 << 24),
  features2: 0,
  extFeatures: 1 << 20,
  brand: "Afterglow IA32 i686",
};

const MAX_BASIC = 1;
const MAX_EXT = 0x80000004;

function str4(s: string, at: number): number {
  let v = 0;
  for (let k = 3; k >= 0; k--) v = (v << 8) | (s.charCodeAt(at + k) & 0xff);
  return v >>> 0;
}

/** EAX, EBX, ECX, EDX of leaf `leaf` (leaves past the last answer like the highest basic one, as Intel's do). */
export function cpuidLeaf(m: CpuidModel, leaf: number): [number, number, number, number] {
  leaf >>>= 0;
  if (!(leaf <= MAX_BASIC || (leaf >= 0x80000000 && leaf <= MAX_EXT))) leaf = MAX_BASIC;
  switch (leaf) {
    case 0:
      return [MAX_BASIC, str4(m.vendor, 0), str4(m.vendor, 8), str4(m.vendor, 4)];
    case 1: {
      let a = ((m.family & 0xf) << 8) | ((m.model & 0xf) << 4) | (m.stepping & 0xf);
      if (m.family > 15) a |= ((m.family - 15) & 0xff) << 20;
      return [a >>> 0, 0, m.features2 >>> 0, m.features >>> 0];
    }
    case 0x80000000:
      return [MAX_EXT, 0, 0, 0];
    case 0x80000001:
      return [0, 0, 0, m.extFeatures >>> 0];
    default: {
      const brand = m.brand.padEnd(48, "\0");
      const at = (leaf - 0x80000002) * 16;
      return [str4(brand, at), str4(brand, at + 4), str4(brand, at + 8), str4(brand, at + 12)];
    }
  }
}

export function cpuidExit(c: ExitCtx): Outcome {
  const [a, b, cx, d] = cpuidLeaf(GUEST_CPU, c.gpr(Reg.EAX));
  c.s.stats.cpuid++;
  c.setGpr(Reg.EAX, a);
  c.setGpr(Reg.EBX, b);
  c.setGpr(Reg.ECX, cx);
  c.setGpr(Reg.EDX, d);
  return c.advance();
}

// CPUID policy (exit 10, which always exits): the guest sees the same i686 the bare machine's CPU
// models (src/x86/cpuid.ts) — a Pentium II-class GenuineIntel without an APIC — minus VMX:
// CPUID.1:ECX is 0, so the guest never learns it runs in a VM and never tries VMXON (which would
// #UD here anyway).

import { cpuidLeaf, I686, type CpuModel } from "../x86/cpuid.js";
import { Reg } from "../x86/insn.js";
import type { ExitCtx, Outcome } from "./context.js";

/** What the guest's CPUID answers from: the i686, with CPUID.1:ECX (VMX is bit 5) hidden. */
const GUEST_CPU: Readonly<CpuModel> = { ...I686, features2: 0 };

export function cpuidExit(c: ExitCtx): Outcome {
  const [a, b, cx, d] = cpuidLeaf(GUEST_CPU, c.gpr(Reg.EAX));
  c.s.stats.cpuid++;
  c.setGpr(Reg.EAX, a);
  c.setGpr(Reg.EBX, b);
  c.setGpr(Reg.ECX, cx);
  c.setGpr(Reg.EDX, d);
  return c.advance();
}

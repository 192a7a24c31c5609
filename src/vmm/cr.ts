// Control registers (exit 28). VMX needs bits the guest may not want: CR0.NE and CR4.VMXE must be
// 1 while the guest runs (PE and PG are free: the guest is unrestricted). The VMM owns those bits
// through the CR0/CR4 guest/host masks: the guest reads them from the read shadows, which hold
// what it last wrote, and a write that would change an owned bit from its shadow exits here. The
// VMM then checks the value as the CPU would, keeps it in the shadow and writes the real register
// with the owned bits forced. CR4.VMXE stays hidden: setting it is #GP, as on a CPU without VMX.
//
// With EPT, CR3 accesses do not exit unless the VMM asks (config.exits.cr3); when they do, or when
// an emulated write turns on PAE paging, the VMM loads the four PDPTEs from the guest's PDPT as
// the CPU would have.

import { CrAccess, GuestField, decodeCrQualification } from "../l4/api.js";
import { Outcome, type ExitCtx } from "./context.js";
import { Cr0, Cr4, pdpteReserved } from "../x86/paging.js";

/** Bits CR0 has on this CPU: PE MP EM TS ET NE WP AM NW CD PG. */
export const CR0_VALID = 0xe005003f;

/** Bits the guest may set in CR4: TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT (no VME/PVI, no VMXE). */
export const CR4_GUEST_VALID = 0x7fc;

/** Owned bits: VMX operation needs them set in the real registers. */
export const CR0_OWNED = Cr0.NE;
export const CR4_OWNED = Cr4.VMXE;

/** What the guest sees of a control register: its real bits, the shadow's where the VMM owns them. */
export function guestView(real: number, shadow: number, mask: number): number {
  return ((real & ~mask) | (shadow & mask)) >>> 0;
}

/** Writes the whole CTRL group (masks, shadows, exception bitmap, processor controls) from the VMM's book. */
export function setControls(c: ExitCtx): void {
  const b = c.s.vcpuBook;
  c.set(GuestField.CR0_MASK, b.cr0Mask);
  c.set(GuestField.CR0_SHADOW, b.cr0Shadow);
  c.set(GuestField.CR4_MASK, b.cr4Mask);
  c.set(GuestField.CR4_SHADOW, b.cr4Shadow);
  c.set(GuestField.EXCEPTION_BITMAP, b.exceptionBitmap);
  c.set(GuestField.PROC_CTLS, b.procCtls);
  c.set(GuestField.PROC_CTLS2, b.procCtls2);
}

/**
 * Loads the PDPTEs of the PDPT at `cr3` into the reply (as MOV to CR0/CR3/CR4 does with PAE
 * paging): REPLY, NEED while the PDPT is being read, or a #GP for a reserved bit.
 */
export function loadPdptes(c: ExitCtx, cr3: number): Outcome {
  const b = c.mem.read((cr3 & 0xffffffe0) >>> 0, 32);
  if (!b) return Outcome.NEED;
  const w = (i: number) => (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
  for (let i = 0; i < 4; i++) {
    const lo = w(i * 8);
    const hi = w(i * 8 + 4);
    if (pdpteReserved(lo, hi)) return c.gp();
  }
  for (let i = 0; i < 8; i++) c.set(GuestField.PDPTE0_LO + i, w(i * 4));
  return Outcome.REPLY;
}

function cr0View(c: ExitCtx): number {
  const b = c.s.vcpuBook;
  return guestView(c.get(GuestField.CR0), b.cr0Shadow, b.cr0Mask);
}

function cr4View(c: ExitCtx): number {
  const b = c.s.vcpuBook;
  return guestView(c.get(GuestField.CR4), b.cr4Shadow, b.cr4Mask);
}

export function writeCr0(c: ExitCtx, v: number): Outcome {
  v >>>= 0;
  if ((v & ~CR0_VALID) !== 0 || (v & Cr0.PG && !(v & Cr0.PE)) || (v & Cr0.NW && !(v & Cr0.CD))) return c.gp();
  const old = cr0View(c);
  const cr4 = c.get(GuestField.CR4);
  if (v & Cr0.PG && !(old & Cr0.PG) && cr4 & Cr4.PAE) {
    const o = loadPdptes(c, c.get(GuestField.CR3));
    if (o !== Outcome.REPLY || c.reply.has(GuestField.ENTRY_INTR_INFO)) return o;
  }
  const b = c.s.vcpuBook;
  b.cr0Shadow = v;
  c.set(GuestField.CR0, (v | CR0_OWNED) >>> 0);
  setControls(c);
  c.s.stats.crWrites++;
  return c.advance();
}

export function writeCr3(c: ExitCtx, v: number): Outcome {
  v >>>= 0;
  if (cr0View(c) & Cr0.PG && c.get(GuestField.CR4) & Cr4.PAE) {
    const o = loadPdptes(c, v);
    if (o !== Outcome.REPLY || c.reply.has(GuestField.ENTRY_INTR_INFO)) return o;
  }
  c.set(GuestField.CR3, v);
  c.s.stats.crWrites++;
  return c.advance();
}

export function writeCr4(c: ExitCtx, v: number): Outcome {
  v >>>= 0;
  // VMX is hidden: CR4.VMXE is reserved as far as the guest knows.
  if ((v & ~CR4_GUEST_VALID) !== 0) return c.gp();
  const old = cr4View(c);
  const changed = old ^ v;
  if (cr0View(c) & Cr0.PG && v & Cr4.PAE && changed & (Cr4.PAE | Cr4.PGE | Cr4.PSE)) {
    const o = loadPdptes(c, c.get(GuestField.CR3));
    if (o !== Outcome.REPLY || c.reply.has(GuestField.ENTRY_INTR_INFO)) return o;
  }
  const b = c.s.vcpuBook;
  b.cr4Shadow = v;
  c.set(GuestField.CR4, (v | CR4_OWNED) >>> 0);
  setControls(c);
  c.s.stats.crWrites++;
  return c.advance();
}

export function crExit(c: ExitCtx): Outcome {
  const q = decodeCrQualification(c.x.qualification);
  switch (q.access) {
    case CrAccess.MOV_TO_CR: {
      const v = c.gpr(q.gpr);
      if (q.cr === 0) return writeCr0(c, v);
      if (q.cr === 3) return writeCr3(c, v);
      if (q.cr === 4) return writeCr4(c, v);
      return c.ud();
    }
    case CrAccess.MOV_FROM_CR: {
      if (q.cr === 0) c.setGpr(q.gpr, cr0View(c));
      else if (q.cr === 3) c.setGpr(q.gpr, c.get(GuestField.CR3));
      else if (q.cr === 4) c.setGpr(q.gpr, cr4View(c));
      else return c.ud();
      return c.advance();
    }
    case CrAccess.CLTS:
      return writeCr0(c, cr0View(c) & ~Cr0.TS);
    default: {
      // LMSW loads PE MP EM TS and cannot clear PE.
      const cur = cr0View(c);
      return writeCr0(c, (cur & ~0xe) | (q.lmswSource & 0xf) | (cur & Cr0.PE));
    }
  }
}

// System registers: the descriptor-table registers (LGDT/LIDT/SGDT/SIDT), the machine status
// word, control and debug registers, model-specific registers and cache/TLB maintenance. All of
// them are CPL 0 only in protected mode, except SGDT/SIDT/SMSW, which user code may run on i686.

import { Reg, type Insn } from "../../../x86/insn.js";
import { type Cpu } from "../cpu.js";
import { Vec } from "../../../x86/vectors.js";
import { def, defGroup } from "../table.js";
import { debugRegsChanged } from "../debug.js";
import { Dr6, DR7_GD } from "../../../x86/debugregs.js";
import { vmxAlways, vmxClts, vmxLmsw, vmxMovFromCr, vmxMovToCr, vmxMsr, vmxProc, vmxReadCr } from "../vmx.js";
import { ExitReason, Proc } from "../../../vmx/index.js";
import { Cr0, Cr4 } from "../../../x86/paging.js";
import { Efer, Msr, patValid } from "../../../x86/msr.js";

function requireCpl0(cpu: Cpu): void {
  if (cpu.protectedMode() && cpu.cpl !== 0) cpu.gp(0);
}

/** Memory operand required: a register form is #UD. */
function memOnly(cpu: Cpu, i: Insn): number {
  if (i.mod === 3) cpu.raise(Vec.UD);
  return cpu.ea(i);
}

/** LGDT/LIDT: a 16-bit limit and a base (24 bits of it with 16-bit operand size). */
function loadTableReg(cpu: Cpu, i: Insn): [base: number, limit: number] {
  requireCpl0(cpu);
  const off = memOnly(cpu, i);
  const limit = cpu.read16(i.seg, off);
  let base = cpu.read32(i.seg, (off + 2) | 0);
  if (i.opsize === 16) base &= 0xffffff;
  return [base, limit];
}

function storeTableReg(cpu: Cpu, i: Insn, base: number, limit: number): void {
  const off = memOnly(cpu, i);
  cpu.write16(i.seg, off, limit);
  cpu.write32(i.seg, (off + 2) | 0, base);
}

/** CR4 bits this CPU has: TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT (not VME or PVI). */
const CR4_VALID = 0x7fc;
/** CR4.VMXE, valid on a CPU with a VMX unit (in a guest it stays set, host-owned). */

/** PAE paging with these CR0/CR4 values: the PDPTEs CR3 names must be valid (else #GP(0)). */
function checkPdptes(cpu: Cpu, cr0: number, cr3: number, cr4: number): void {
  if ((cr0 & Cr0.PG) !== 0 && (cr4 & Cr4.PAE) !== 0 && !cpu.paging.pdptesValid(cr3)) cpu.gp(0);
}

/** MOV to CR0..CR4 (CR1 and CR5+ are #UD). */
function writeCr(cpu: Cpu, n: number, v: number): void {
  switch (n) {
    case 0: {
      // PG without PE is #GP, as is NW without CD.
      if ((v & 0x80000000) !== 0 && (v & 1) === 0) cpu.gp(0);
      if ((v & 0x20000000) !== 0 && (v & 0x40000000) === 0) cpu.gp(0);
      v |= 0x10; // ET is hardwired on a P6
      const diff = cpu.cr0 ^ v;
      if ((diff & Cr0.PG) !== 0) checkPdptes(cpu, v, cpu.cr3, cpu.cr4);
      cpu.cr0 = v;
      // Only PE, WP and PG change translations (TS, MP, EM and the cache bits do not).
      if ((diff & (Cr0.PE | Cr0.WP | Cr0.PG)) !== 0) cpu.paging.changed();
      return;
    }
    case 2:
      cpu.cr2 = v;
      return;
    case 3:
      checkPdptes(cpu, cpu.cr0, v, cpu.cr4);
      cpu.cr3 = v;
      cpu.paging.cr3Changed();
      return;
    case 4: {
      if ((v & ~(cpu.vmx !== null ? CR4_VALID | Cr4.VMXE : CR4_VALID)) !== 0) cpu.gp(0);
      const diff = cpu.cr4 ^ v;
      if ((diff & (Cr4.PSE | Cr4.PAE | Cr4.PGE)) !== 0) checkPdptes(cpu, cpu.cr0, cpu.cr3, v);
      cpu.cr4 = v;
      // A change of PSE, PAE or PGE flushes the TLB, global entries included.
      if ((diff & (Cr4.PSE | Cr4.PAE | Cr4.PGE)) !== 0) cpu.paging.changed();
      return;
    }
    default:
      cpu.raise(Vec.UD);
  }
}

function readCr(cpu: Cpu, n: number): number {
  switch (n) {
    case 0: return cpu.cr0;
    case 2: return cpu.cr2;
    case 3: return cpu.cr3;
    case 4: return cpu.cr4;
    default: return cpu.raise(Vec.UD);
  }
}

/**
 * DR7.GD: any MOV to or from a debug register raises #DB (a fault) with DR6.BD; GD is cleared so
 * the handler can use the registers (SDM vol. 3, 17.2.4).
 */
function generalDetect(cpu: Cpu): void {
  if ((cpu.dr[7] & DR7_GD) === 0) return;
  cpu.dr[7] &= ~DR7_GD;
  cpu.dr[6] |= Dr6.BD;
  cpu.raise(Vec.DB);
}

/** DR4/DR5 alias DR6/DR7 unless CR4.DE. */
function drIndex(cpu: Cpu, n: number): number {
  if (n === 4 || n === 5) {
    if ((cpu.cr4 & 0x8) !== 0) cpu.raise(Vec.UD);
    return n + 2;
  }
  return n;
}

function rdmsr(cpu: Cpu, n: number): [lo: number, hi: number] {
  switch (n >>> 0) {
    case Msr.TSC: {
      const tsc = cpu.tsc();
      return [Number(BigInt.asIntN(32, tsc)), Number(BigInt.asIntN(32, tsc >> 32n))];
    }
    case Msr.PLATFORM_ID:
    case Msr.BIOS_SIGN_ID: return [0, 0];
    case Msr.SYSENTER_CS: return [cpu.sysenterCs, 0];
    case Msr.SYSENTER_ESP: return [cpu.sysenterEsp, 0];
    case Msr.SYSENTER_EIP: return [cpu.sysenterEip, 0];
    case Msr.MISC_ENABLE: return [cpu.miscEnable, 0];
    case Msr.PAT: return [cpu.patLo, cpu.patHi];
    case Msr.EFER: return [cpu.efer, 0];
    default: return cpu.gp(0);
  }
}

function wrmsr(cpu: Cpu, n: number, lo: number, hi: number): void {
  switch (n >>> 0) {
    case Msr.TSC:
      cpu.setTsc((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
      return;
    case Msr.BIOS_SIGN_ID: return; // software writes 0 before CPUID to read the revision back
    case Msr.SYSENTER_CS: cpu.sysenterCs = lo & 0xffff; return;
    case Msr.SYSENTER_ESP: cpu.sysenterEsp = lo; return;
    case Msr.SYSENTER_EIP: cpu.sysenterEip = lo; return;
    case Msr.MISC_ENABLE: cpu.miscEnable = lo; return;
    case Msr.PAT:
      if (!patValid(lo, hi)) cpu.gp(0);
      cpu.patLo = lo;
      cpu.patHi = hi;
      return;
    case Msr.EFER:
      // Only NXE (bit 11) exists on a 32-bit CPU.
      if ((lo & ~Efer.NXE) !== 0 || hi !== 0) cpu.gp(0);
      cpu.efer = lo;
      cpu.paging.changed();
      return;
    default:
      cpu.gp(0);
  }
}

function register(): void {
  // 0F 01: SGDT SIDT LGDT LIDT SMSW LMSW INVLPG
  defGroup(0x101, 0, (cpu, i) => storeTableReg(cpu, i, i.opsize === 16 ? cpu.gdtrBase & 0xffffff : cpu.gdtrBase, cpu.gdtrLimit));
  defGroup(0x101, 1, (cpu, i) => storeTableReg(cpu, i, i.opsize === 16 ? cpu.idtrBase & 0xffffff : cpu.idtrBase, cpu.idtrLimit));
  defGroup(0x101, 2, (cpu, i) => {
    [cpu.gdtrBase, cpu.gdtrLimit] = loadTableReg(cpu, i);
  });
  defGroup(0x101, 3, (cpu, i) => {
    [cpu.idtrBase, cpu.idtrLimit] = loadTableReg(cpu, i);
  });
  defGroup(0x101, 4, (cpu, i) => {
    // SMSW to a register writes CR0's low word (the whole register with 32-bit operand size).
    const cr0 = cpu.nonRoot ? vmxReadCr(cpu, 0, cpu.cr0) : cpu.cr0;
    if (i.mod === 3 && i.opsize === 32) cpu.r32[i.rm] = cr0;
    else cpu.writeE16(i, cr0 & 0xffff);
  });
  defGroup(0x101, 6, (cpu, i) => {
    // LMSW loads PE MP EM TS and cannot clear PE.
    requireCpl0(cpu);
    const v = cpu.readE16(i);
    if (cpu.nonRoot) return writeCr(cpu, 0, vmxLmsw(cpu, v, i.mod !== 3));
    writeCr(cpu, 0, (cpu.cr0 & ~0xe) | (v & 0xf) | (cpu.cr0 & 1));
  });
  defGroup(0x101, 7, (cpu, i) => {
    requireCpl0(cpu);
    const lin = cpu.linR(i.seg, memOnly(cpu, i), 1);
    if (cpu.nonRoot && vmxProc(cpu, Proc.INVLPG_EXITING, ExitReason.INVLPG, lin)) return;
    cpu.paging.invalidate(lin);
  });

  // 0F 06 CLTS; 0F 08 INVD; 0F 09 WBINVD: no caches to model.
  def(0x106, (cpu) => {
    requireCpl0(cpu);
    if (cpu.nonRoot) cpu.cr0 = vmxClts(cpu);
    else cpu.cr0 &= ~0x8;
  });
  def(0x108, (cpu) => {
    requireCpl0(cpu);
    if (cpu.nonRoot && vmxAlways(cpu, ExitReason.INVD)) return;
  });
  def(0x109, requireCpl0);

  // MOV r32, CRn / MOV CRn, r32 / MOV r32, DRn / MOV DRn, r32: always 32-bit, ModRM.mod ignored.
  def(0x120, (cpu, i) => {
    requireCpl0(cpu);
    if (cpu.nonRoot) vmxMovFromCr(cpu, i.reg, i.rm);
    cpu.r32[i.rm] = cpu.nonRoot ? vmxReadCr(cpu, i.reg, readCr(cpu, i.reg)) : readCr(cpu, i.reg);
  });
  def(0x122, (cpu, i) => {
    requireCpl0(cpu);
    writeCr(cpu, i.reg, cpu.nonRoot ? vmxMovToCr(cpu, i.reg, i.rm) : cpu.r32[i.rm]);
  });
  def(0x121, (cpu, i) => {
    requireCpl0(cpu);
    const n = drIndex(cpu, i.reg);
    generalDetect(cpu);
    cpu.r32[i.rm] = cpu.dr[n];
  });
  def(0x123, (cpu, i) => {
    requireCpl0(cpu);
    const n = drIndex(cpu, i.reg);
    generalDetect(cpu);
    let v = cpu.r32[i.rm];
    if (n === 6) v = (v | 0xffff0ff0) & ~0x1000;
    else if (n === 7) v = (v | 0x400) & ~0xd800;
    cpu.dr[n] = v;
    if (n !== 6) debugRegsChanged(cpu);
  });

  // RDMSR / WRMSR: ECX selects, EDX:EAX carries.
  def(0x132, (cpu) => {
    requireCpl0(cpu);
    if (cpu.nonRoot && vmxMsr(cpu, false)) return;
    const [lo, hi] = rdmsr(cpu, cpu.r32[Reg.ECX]);
    cpu.r32[Reg.EAX] = lo;
    cpu.r32[Reg.EDX] = hi;
  });
  def(0x130, (cpu) => {
    requireCpl0(cpu);
    if (cpu.nonRoot && vmxMsr(cpu, true)) return;
    wrmsr(cpu, cpu.r32[Reg.ECX], cpu.r32[Reg.EAX], cpu.r32[Reg.EDX]);
  });
}

register();

// Model-specific registers an i686 kernel touches (SDM vol. 4), the EFER bits a 32-bit CPU has,
// and the IA32_PAT format: the CPU's RDMSR/WRMSR, VT-x's entry checks and the VMM's MSR policy
// all read them from here.

export const enum Msr {
  TSC = 0x10,
  /** IA32_PLATFORM_ID: bits 52:50 say which microcode images fit; ours is platform 0. */
  PLATFORM_ID = 0x17,
  APIC_BASE = 0x1b,
  /** IA32_BIOS_SIGN_ID: the loaded microcode's revision (high half), which no microcode updates. */
  BIOS_SIGN_ID = 0x8b,
  SYSENTER_CS = 0x174,
  SYSENTER_ESP = 0x175,
  SYSENTER_EIP = 0x176,
  MISC_ENABLE = 0x1a0,
  PAT = 0x277,
  EFER = 0xc0000080,
}

/** IA32_EFER bits: a 32-bit CPU has only NXE (no SCE, no long mode). */
export const enum Efer {
  NXE = 1 << 11,
}

/** IA32_PAT memory types a PAT byte may hold: UC WC WT WP WB UC- (0, 1, 4, 5, 6, 7). */
export function patValid(lo: number, hi: number): boolean {
  for (let k = 0; k < 4; k++) {
    const a = (lo >>> (8 * k)) & 0xff, b = (hi >>> (8 * k)) & 0xff;
    if (a === 2 || a === 3 || a > 7 || b === 2 || b === 3 || b > 7) return false;
  }
  return true;
}

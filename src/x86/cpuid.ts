// CPUID (SDM vol. 2A): the processor model software sees, and the leaves it answers. The bare
// PC's CPU answers CPUID from its model; the VMM answers the guest's CPUID exits from the same.

/** CPU model knobs that are visible to software. */
export interface CpuModel {
  vendor: string; // 12 characters
  family: number;
  model: number;
  stepping: number;
  /** CPUID.1:EDX feature bits. */
  features: number;
  /** CPUID.1:ECX feature bits (VMX is bit 5). */
  features2: number;
  /** CPUID.80000001h:EDX feature bits (NX is bit 20). */
  extFeatures: number;
  brand: string; // up to 48 characters
}

/**
 * A Pentium II-class core with x87, FXSAVE, TSC, CX8, CMOV, SEP, PGE, PSE, PAE and NX, APIC-less.
 * CPUID.1:ECX is 0: its VMX is not advertised.
 */
export const I686: Readonly<CpuModel> = Object.freeze({
  vendor: "GenuineIntel",
  family: 6,
  model: 5,
  stepping: 2,
  // FPU PSE TSC MSR PAE MCE CX8 SEP PGE CMOV PAT FXSR (no VME, DE's I/O breakpoints, MTRRs, MCA
  // banks or MMX)
  features: (1 << 0) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) |
    (1 << 11) | (1 << 13) | (1 << 15) | (1 << 16) | (1 << 24),
  features2: 0,
  // NX (EFER.NXE, PAE execute-disable)
  extFeatures: 1 << 20,
  brand: "Afterglow IA32 i686",
});

/** The highest basic leaf a model answers. */
const MAX_BASIC = 1;
const MAX_EXT = 0x80000004;

function str4(s: string, at: number): number {
  let v = 0;
  for (let k = 3; k >= 0; k--) v = (v << 8) | (s.charCodeAt(at + k) & 0xff);
  return v >>> 0;
}

/**
 * EAX, EBX, ECX, EDX of leaf `leaf`: leaves 0, 1 and 0x80000000–0x80000004; other leaves answer
 * like the highest basic one, as Intel's do.
 */
export function cpuidLeaf(m: CpuModel, leaf: number): [number, number, number, number] {
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

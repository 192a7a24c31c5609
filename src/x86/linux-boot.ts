// The Linux/x86 boot protocol, 32-bit entry (Documentation/arch/x86/boot.rst, "32-bit Boot
// Protocol"): from a kernel image, an optional initrd, a command line and a RAM size, a plan of
// "write these bytes at these physical addresses, then start in flat 32-bit protected mode with
// these registers". Pure: the bare machine and the VMM both load Linux by executing the plan, and
// tests read it. No BIOS is involved, so the plan also supplies what a BIOS would have told the
// kernel: the e820 memory map and a screen_info that says "no video".
//
// Physical layout (defaults; every address below 1 MiB lies in conventional memory the kernel
// copies from before it uses it):
//   0x00500  GDT: null, null, __BOOT_CS 0x10, __BOOT_DS 0x18, __BOOT_TSS 0x20 (what VT-x needs for TR)
//   0x00580  a zeroed 104-byte TSS
//   0x07000  the zero page (struct boot_params, 4 KiB); the initial stack grows down below it
//   0x20000  the NUL-terminated command line
//   kernel   bzImage: its protected-mode part at the runtime start (pref_address, aligned to
//            kernel_alignment) when relocatable, else at code32_start (0x100000);
//            ELF vmlinux: each PT_LOAD segment at its p_paddr
//   initrd   page aligned, as high as allowed below min(initrd_addr_max + 1, RAM end) and above
//            everything the kernel occupies until it has read its memory map (init_size)

/** A byte range the loader places in guest-physical memory. */
export interface BootWrite {
  addr: number;
  bytes: Uint8Array;
  /** What it is, for listings: "gdt", "zero page", "kernel"... */
  what: string;
}

/** A segment register's whole state, hidden part included, in the VMX access-rights format
 * (bits 0-3 type, 4 S, 5-6 DPL, 7 P, 14 D/B, 15 G; Intel SDM vol. 3, 24.4.1). */
export interface BootSegment {
  selector: number;
  base: number;
  /** Byte-granular limit. */
  limit: number;
  accessRights: number;
}

export interface BootRegisters {
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
  esi: number;
  edi: number;
  ebp: number;
  esp: number;
  eip: number;
  eflags: number;
  cr0: number;
  cr3: number;
  cr4: number;
}

export interface BootSegments {
  cs: BootSegment;
  ds: BootSegment;
  es: BootSegment;
  ss: BootSegment;
  fs: BootSegment;
  gs: BootSegment;
  tr: BootSegment;
  /** A null LDT selector: unusable (access rights bit 16). */
  ldtr: BootSegment;
}

export const enum E820Type {
  RAM = 1,
  RESERVED = 2,
}

export interface E820Entry {
  addr: number;
  size: number;
  type: E820Type;
}

/** The fields of a bzImage's setup header the loader reads (boot.rst, "The real-mode kernel header"). */
export interface SetupHeader {
  setupSects: number;
  syssize: number;
  vidMode: number;
  /** Boot protocol version, e.g. 0x020f for 2.15. */
  version: number;
  /** The kernel's version string ("6.1.0-18-686 (debian-kernel@...) #1 SMP ..."), or "" if absent. */
  kernelVersion: string;
  loadflags: number;
  code32Start: number;
  initrdAddrMax: number;
  kernelAlignment: number;
  relocatable: boolean;
  minAlignment: number;
  xloadflags: number;
  /** Longest command line the kernel accepts, without its NUL. */
  cmdlineSize: number;
  payloadOffset: number;
  payloadLength: number;
  prefAddress: number;
  initSize: number;
  /** File offset of the protected-mode kernel: (setup_sects + 1) * 512. */
  pmOffset: number;
  /** Offset one past the setup header's last byte: 0x202 + the byte at 0x201. */
  headerEnd: number;
}

export interface BootLayout {
  gdt: number;
  tss: number;
  zeroPage: number;
  cmdline: number;
  /** Where the kernel's bytes go, and how many. */
  kernelLoad: number;
  kernelSize: number;
  /** The address the kernel runs from and how much it needs there before reading its memory map. */
  runtimeStart: number;
  initSize: number;
  /** One past the highest byte the kernel occupies early on; the initrd must start at or above it. */
  kernelEnd: number;
  initrd?: { addr: number; size: number };
}

export interface BootPlan {
  format: "bzImage" | "elf";
  /** The bzImage's setup header; undefined for an ELF vmlinux. */
  header?: SetupHeader;
  writes: BootWrite[];
  regs: BootRegisters;
  segments: BootSegments;
  gdtr: { base: number; limit: number };
  /** An empty IDT: interrupts are off and the kernel loads its own before it enables them. */
  idtr: { base: number; limit: number };
  layout: BootLayout;
  e820: E820Entry[];
  /** One line each on what the loader decided and why. */
  notes: string[];
}

export interface LinuxBootConfig {
  /** A bzImage, or an ELF32 vmlinux. */
  kernel: Uint8Array;
  initrd?: Uint8Array;
  cmdline: string;
  /** Bytes of RAM from physical address 0. */
  ramSize: number;
  gdtAddr?: number;
  zeroPageAddr?: number;
  cmdlineAddr?: number;
}

/** A kernel or configuration the loader cannot plan; the message is one line fit for a user. */
export class LinuxBootError extends Error {
  override name = "LinuxBootError";
}

// struct boot_params offsets (arch/x86/include/uapi/asm/bootparam.h).
const BP = {
  ORIG_X: 0x000,
  EXT_MEM_K: 0x002,
  ORIG_VIDEO_MODE: 0x006,
  ORIG_VIDEO_COLS: 0x007,
  ORIG_VIDEO_LINES: 0x00e,
  ORIG_VIDEO_IS_VGA: 0x00f,
  ALT_MEM_K: 0x1e0,
  E820_ENTRIES: 0x1e8,
  HDR: 0x1f1,
  E820_TABLE: 0x2d0,
  SIZE: 0x1000,
} as const;
const E820_MAX_ENTRIES = 128;

// Setup header offsets (the same in the file and in boot_params).
const H = {
  SETUP_SECTS: 0x1f1,
  SYSSIZE: 0x1f4,
  VID_MODE: 0x1fa,
  BOOT_FLAG: 0x1fe,
  JUMP: 0x200,
  HEADER: 0x202,
  VERSION: 0x206,
  KERNEL_VERSION: 0x20e,
  TYPE_OF_LOADER: 0x210,
  LOADFLAGS: 0x211,
  CODE32_START: 0x214,
  RAMDISK_IMAGE: 0x218,
  RAMDISK_SIZE: 0x21c,
  HEAP_END_PTR: 0x224,
  CMD_LINE_PTR: 0x228,
  INITRD_ADDR_MAX: 0x22c,
  KERNEL_ALIGNMENT: 0x230,
  RELOCATABLE_KERNEL: 0x234,
  MIN_ALIGNMENT: 0x235,
  XLOADFLAGS: 0x236,
  CMDLINE_SIZE: 0x238,
  HARDWARE_SUBARCH: 0x23c,
  PAYLOAD_OFFSET: 0x248,
  PAYLOAD_LENGTH: 0x24c,
  PREF_ADDRESS: 0x258,
  INIT_SIZE: 0x260,
} as const;

/** "HdrS", little-endian. */
const HDRS_MAGIC = 0x53726448;
const BOOT_FLAG = 0xaa55;
const MIN_PROTOCOL = 0x0206;

export const enum LoadFlag {
  LOADED_HIGH = 1 << 0,
  QUIET = 1 << 5,
  KEEP_SEGMENTS = 1 << 6,
  CAN_USE_HEAP = 1 << 7,
}

/** type_of_loader 0xFF: a boot loader with no assigned ID. */
const LOADER_UNDEFINED = 0xff;
/** vid_mode 0xFFFF: "normal" (80x25), i.e. do not ask. */
const VID_MODE_NORMAL = 0xffff;

export const BOOT_CS = 0x10;
export const BOOT_DS = 0x18;
export const BOOT_TSS = 0x20;

const DEFAULT_GDT = 0x500;
const DEFAULT_ZERO_PAGE = 0x7000;
const DEFAULT_CMDLINE = 0x20000;
const TSS_SIZE = 0x68;
const LOW_MEM_END = 0x9fc00;
const HIGH_MEM = 0x100000;
const PAGE = 0x1000;

const AR_CODE = 0xc09b; // present, DPL 0, execute/read accessed, 32-bit, 4 KiB granular
const AR_DATA = 0xc093; // present, DPL 0, read/write accessed, 32-bit, 4 KiB granular
const AR_TSS_BUSY = 0x008b;
const AR_UNUSABLE = 0x10000;

/**
 * The least RAM that boots `cfg.kernel` with `cfg.initrd`, in bytes, and why: the kernel runs up to
 * its init_size (it decompresses itself there), and the initrd goes above that. Debian's 686 kernel
 * with the busybox initramfs boots in just that (34 MiB): the kernel frees the space its
 * decompression used, and the initramfs is unpacked into what is left. Throws a LinuxBootError for a
 * kernel the loader cannot plan at all.
 */
export function linuxRamNeeded(cfg: Omit<LinuxBootConfig, "ramSize">): { bytes: number; why: string } {
  // Planned with all of the 32-bit space: only the layout is wanted here, not the fit.
  const plan = planLinuxBoot({ ...cfg, initrd: undefined, ramSize: 0x1_0000_0000 });
  const kernelEnd = alignUp(plan.layout.kernelEnd, PAGE);
  const initrd = cfg.initrd === undefined ? 0 : alignUp(cfg.initrd.length, PAGE);
  const bytes = Math.max(kernelEnd + initrd, 2 * HIGH_MEM);
  const size = (x: number): string => (x < 1048576 ? `${Math.ceil(x / 1024)} KiB` : `${mib(x)} MiB`);
  const why = `the kernel runs up to 0x${hex(plan.layout.kernelEnd)} (${size(plan.layout.kernelEnd)})${initrd > 0 ? ` and the initrd (${size(initrd)}) goes above it` : ""}`;
  return { bytes, why };
}

/** Plans a 32-bit protocol boot of `cfg.kernel`; throws a LinuxBootError naming what is wrong. */
export function planLinuxBoot(cfg: LinuxBootConfig): BootPlan {
  const ramSize = cfg.ramSize;
  if (!Number.isSafeInteger(ramSize) || ramSize < 2 * HIGH_MEM || ramSize > 0x1_0000_0000) {
    throw new LinuxBootError(`RAM size ${ramSize} is not between 2 MiB and 4 GiB`);
  }
  const gdtAddr = cfg.gdtAddr ?? DEFAULT_GDT;
  const tssAddr = gdtAddr + 0x80;
  const zeroPage = cfg.zeroPageAddr ?? DEFAULT_ZERO_PAGE;
  const cmdlineAddr = cfg.cmdlineAddr ?? DEFAULT_CMDLINE;
  const cmdline = new TextEncoder().encode(cfg.cmdline);

  const bp = new Uint8Array(BP.SIZE);
  const view = new DataView(bp.buffer);
  const writes: BootWrite[] = [];
  const notes: string[] = [];
  let format: BootPlan["format"];
  let header: SetupHeader | undefined;
  let kernelLoad: number, kernelSize: number, runtimeStart: number, initSize: number, kernelEnd: number, entry: number;
  let initrdAddrMax: number, cmdlineMax: number;

  if (isElf32(cfg.kernel)) {
    format = "elf";
    const elf = elfLoadSegments(cfg.kernel);
    let lo = Infinity;
    let hi = 0;
    for (const s of elf.segments) {
      writes.push({ addr: s.paddr, bytes: cfg.kernel.subarray(s.offset, s.offset + s.filesz), what: "kernel" });
      if (s.memsz > s.filesz) writes.push({ addr: s.paddr + s.filesz, bytes: new Uint8Array(s.memsz - s.filesz), what: "kernel bss" });
      lo = Math.min(lo, s.paddr);
      hi = Math.max(hi, s.paddr + s.memsz);
    }
    kernelLoad = runtimeStart = lo;
    kernelSize = initSize = hi - lo;
    kernelEnd = hi;
    entry = elf.entry;
    // No setup header in an ELF: describe ourselves as a 2.15 loader talking to a kernel that
    // takes the classic i386 initrd limit and command line length.
    initrdAddrMax = 0x37ffffff;
    cmdlineMax = 2047;
    view.setUint16(H.BOOT_FLAG, BOOT_FLAG, true);
    view.setUint32(H.HEADER, HDRS_MAGIC, true);
    view.setUint16(H.VERSION, 0x020f, true);
    view.setUint32(H.INITRD_ADDR_MAX, initrdAddrMax, true);
    view.setUint32(H.CMDLINE_SIZE, cmdlineMax, true);
    bp[H.LOADFLAGS] = LoadFlag.LOADED_HIGH;
    notes.push(`ELF vmlinux: ${elf.segments.length} PT_LOAD segments at 0x${hex(lo)}-0x${hex(hi)}, entry 0x${hex(entry)}`);
  } else {
    format = "bzImage";
    const h = parseSetupHeader(cfg.kernel);
    header = h;
    // The boot_params begin as zeros plus the image's setup header, which the kernel reads back.
    bp.set(cfg.kernel.subarray(H.SETUP_SECTS, h.headerEnd), H.SETUP_SECTS);
    const pm = cfg.kernel.subarray(h.pmOffset);
    kernelSize = pm.length;
    if (h.relocatable) {
      runtimeStart = alignUp(Math.max(h.prefAddress, HIGH_MEM), h.kernelAlignment);
      kernelLoad = runtimeStart;
    } else {
      runtimeStart = h.prefAddress || HIGH_MEM;
      kernelLoad = HIGH_MEM;
    }
    initSize = h.initSize;
    if (initSize === 0) {
      // Protocols before 2.10 do not say; a compressed kernel rarely needs more than 4x its size.
      initSize = alignUp(kernelSize * 4, PAGE);
      notes.push(`protocol ${protocolText(h.version)} gives no init_size; reserving 4x the kernel (0x${hex(initSize)})`);
    }
    kernelEnd = Math.max(kernelLoad + kernelSize, runtimeStart + initSize);
    entry = kernelLoad;
    initrdAddrMax = h.initrdAddrMax;
    cmdlineMax = h.cmdlineSize;
    writes.push({ addr: kernelLoad, bytes: pm, what: "kernel" });
    notes.push(
      `bzImage ${h.kernelVersion ? `"${h.kernelVersion.split(" ")[0]}" ` : ""}protocol ${protocolText(h.version)}, ` +
        `${h.relocatable ? `relocatable (align 0x${hex(h.kernelAlignment)})` : "not relocatable"}, ` +
        `protected-mode kernel 0x${hex(kernelSize)} bytes at 0x${hex(kernelLoad)}, runs at 0x${hex(runtimeStart)} ` +
        `needing 0x${hex(initSize)} bytes (init_size)`,
    );
  }

  if (kernelEnd > ramSize) {
    throw new LinuxBootError(
      `the kernel needs RAM up to 0x${hex(kernelEnd)} (${mib(kernelEnd)} MiB) but the machine has ${mib(ramSize)} MiB`,
    );
  }
  if (cmdline.length > cmdlineMax) {
    throw new LinuxBootError(`command line is ${cmdline.length} bytes; this kernel accepts at most ${cmdlineMax}`);
  }
  if (cmdline.includes(0)) throw new LinuxBootError("command line contains a NUL byte");
  for (const [name, addr, size] of [
    ["GDT", gdtAddr, 0x80],
    ["TSS", tssAddr, TSS_SIZE],
    ["zero page", zeroPage, BP.SIZE],
    ["command line", cmdlineAddr, cmdline.length + 1],
  ] as const) {
    if (addr < 0x500 || addr + size > LOW_MEM_END) {
      throw new LinuxBootError(`${name} at 0x${hex(addr)} is outside conventional memory (0x500-0x${hex(LOW_MEM_END)})`);
    }
  }

  // The initrd: page aligned, as high as the kernel and the RAM allow.
  let initrd: BootLayout["initrd"];
  if (cfg.initrd !== undefined && cfg.initrd.length > 0) {
    const size = cfg.initrd.length;
    const top = Math.min(initrdAddrMax + 1, ramSize);
    const addr = alignDown(top - size, PAGE);
    if (addr < alignUp(kernelEnd, PAGE)) {
      const room = Math.max(0, top - alignUp(kernelEnd, PAGE));
      const limit = top < ramSize ? ` below initrd_addr_max 0x${hex(initrdAddrMax)}` : "";
      throw new LinuxBootError(
        `initrd of ${size} bytes does not fit: ${room} bytes free between the kernel (ends 0x${hex(kernelEnd)}) and 0x${hex(top)}${limit}`,
      );
    }
    initrd = { addr, size };
    writes.push({ addr, bytes: cfg.initrd, what: "initrd" });
    view.setUint32(H.RAMDISK_IMAGE, addr, true);
    view.setUint32(H.RAMDISK_SIZE, size, true);
    notes.push(`initrd 0x${hex(size)} bytes at 0x${hex(addr)}`);
  }

  // The setup header fields a loader writes.
  bp[H.TYPE_OF_LOADER] = LOADER_UNDEFINED;
  bp[H.LOADFLAGS] = (bp[H.LOADFLAGS] & ~(LoadFlag.KEEP_SEGMENTS | LoadFlag.QUIET)) | LoadFlag.CAN_USE_HEAP;
  view.setUint16(H.HEAP_END_PTR, 0xfe00, true);
  view.setUint16(H.VID_MODE, VID_MODE_NORMAL, true);
  view.setUint32(H.CODE32_START, entry, true);
  view.setUint32(H.CMD_LINE_PTR, cmdlineAddr, true);
  view.setUint32(H.HARDWARE_SUBARCH, 0, true);

  // What a BIOS would have reported: no video, the memory size, the e820 map.
  bp[BP.ORIG_VIDEO_IS_VGA] = 0;
  bp[BP.ORIG_VIDEO_MODE] = 0;
  bp[BP.ORIG_VIDEO_COLS] = 0;
  bp[BP.ORIG_VIDEO_LINES] = 0;
  const extKiB = Math.floor((ramSize - HIGH_MEM) / 1024);
  view.setUint16(BP.EXT_MEM_K, Math.min(extKiB, 0xfc00), true);
  view.setUint32(BP.ALT_MEM_K, extKiB, true);
  const e820: E820Entry[] = [
    { addr: 0, size: LOW_MEM_END, type: E820Type.RAM },
    { addr: LOW_MEM_END, size: 0xa0000 - LOW_MEM_END, type: E820Type.RESERVED },
    { addr: 0xf0000, size: HIGH_MEM - 0xf0000, type: E820Type.RESERVED },
    { addr: HIGH_MEM, size: ramSize - HIGH_MEM, type: E820Type.RAM },
  ];
  if (e820.length > E820_MAX_ENTRIES) throw new LinuxBootError("too many e820 entries");
  bp[BP.E820_ENTRIES] = e820.length;
  e820.forEach((e, k) => {
    const o = BP.E820_TABLE + k * 20;
    view.setBigUint64(o, BigInt(e.addr), true);
    view.setBigUint64(o + 8, BigInt(e.size), true);
    view.setUint32(o + 16, e.type, true);
  });

  // A GDT with the boot protocol's flat selectors, and a TSS so that TR is usable.
  const gdt = new Uint8Array(0x28);
  const gv = new DataView(gdt.buffer);
  gv.setBigUint64(BOOT_CS, descriptor(0, 0xfffff, AR_CODE), true);
  gv.setBigUint64(BOOT_DS, descriptor(0, 0xfffff, AR_DATA), true);
  gv.setBigUint64(BOOT_TSS, descriptor(tssAddr, TSS_SIZE - 1, AR_TSS_BUSY), true);

  const cmdBytes = new Uint8Array(cmdline.length + 1);
  cmdBytes.set(cmdline);
  writes.unshift(
    { addr: gdtAddr, bytes: gdt, what: "gdt" },
    { addr: tssAddr, bytes: new Uint8Array(TSS_SIZE), what: "tss" },
    { addr: zeroPage, bytes: bp, what: "zero page" },
    { addr: cmdlineAddr, bytes: cmdBytes, what: "command line" },
  );

  const flat = (selector: number, accessRights: number): BootSegment => ({ selector, base: 0, limit: 0xffffffff, accessRights });
  const data = flat(BOOT_DS, AR_DATA);
  return {
    format,
    header,
    writes,
    regs: {
      eax: 0,
      ebx: 0,
      ecx: 0,
      edx: 0,
      esi: zeroPage,
      edi: 0,
      ebp: 0,
      esp: zeroPage,
      eip: entry,
      eflags: 0x2,
      cr0: 0x11, // PE, ET; paging off
      cr3: 0,
      cr4: 0,
    },
    segments: {
      cs: flat(BOOT_CS, AR_CODE),
      ds: { ...data },
      es: { ...data },
      ss: { ...data },
      fs: { ...data },
      gs: { ...data },
      tr: { selector: BOOT_TSS, base: tssAddr, limit: TSS_SIZE - 1, accessRights: AR_TSS_BUSY },
      ldtr: { selector: 0, base: 0, limit: 0, accessRights: AR_UNUSABLE },
    },
    gdtr: { base: gdtAddr, limit: gdt.length - 1 },
    idtr: { base: 0, limit: 0 },
    layout: { gdt: gdtAddr, tss: tssAddr, zeroPage, cmdline: cmdlineAddr, kernelLoad, kernelSize, runtimeStart, initSize, kernelEnd, initrd },
    e820,
    notes,
  };
}

/** Reads and checks a bzImage's setup header; throws a LinuxBootError naming what is wrong. */
export function parseSetupHeader(img: Uint8Array): SetupHeader {
  if (img.length < 0x250) {
    throw new LinuxBootError(img.length < 0x206 ? "not a Linux bzImage (too short for a setup header)" : "truncated bzImage: the setup header is cut short");
  }
  const v = new DataView(img.buffer, img.byteOffset, img.byteLength);
  if (v.getUint32(H.HEADER, true) !== HDRS_MAGIC) throw new LinuxBootError('not a Linux bzImage (no "HdrS" setup header at 0x202)');
  const version = v.getUint16(H.VERSION, true);
  if (version < MIN_PROTOCOL) {
    throw new LinuxBootError(`Linux boot protocol ${protocolText(version)} is too old: the loader needs 2.06 or later`);
  }
  if (v.getUint16(H.BOOT_FLAG, true) !== BOOT_FLAG) throw new LinuxBootError("not a Linux bzImage (boot_flag is not 0xAA55)");
  const loadflags = img[H.LOADFLAGS];
  if ((loadflags & LoadFlag.LOADED_HIGH) === 0) throw new LinuxBootError("a zImage (loaded low) is not supported: use a bzImage");
  const headerEnd = 0x202 + img[H.JUMP + 1];
  const setupSects = img[H.SETUP_SECTS] || 4;
  const pmOffset = (setupSects + 1) * 512;
  const syssize = v.getUint32(H.SYSSIZE, true);
  if (headerEnd > pmOffset || img.length < headerEnd) throw new LinuxBootError("truncated bzImage: the setup header is cut short");
  if (img.length < pmOffset + syssize * 16) {
    throw new LinuxBootError(`truncated bzImage: ${img.length} bytes, the header promises ${pmOffset + syssize * 16}`);
  }
  const at = (off: number, size: 1 | 2 | 4) =>
    off + size > headerEnd ? 0 : size === 1 ? img[off] : size === 2 ? v.getUint16(off, true) : v.getUint32(off, true);
  let prefAddress = 0;
  if (H.PREF_ADDRESS + 8 <= headerEnd) {
    if (v.getUint32(H.PREF_ADDRESS + 4, true) !== 0) throw new LinuxBootError("the kernel prefers to load above 4 GiB");
    prefAddress = v.getUint32(H.PREF_ADDRESS, true);
  }
  const kv = v.getUint16(H.KERNEL_VERSION, true);
  let kernelVersion = "";
  if (kv !== 0 && kv + 0x200 < img.length) {
    let end = kv + 0x200;
    while (end < img.length && end < kv + 0x200 + 256 && img[end] !== 0) end++;
    kernelVersion = String.fromCharCode(...img.subarray(kv + 0x200, end));
  }
  const relocatable = at(H.RELOCATABLE_KERNEL, 1) !== 0;
  const kernelAlignment = at(H.KERNEL_ALIGNMENT, 4) || HIGH_MEM;
  if (relocatable && (kernelAlignment & (kernelAlignment - 1)) !== 0) {
    throw new LinuxBootError(`kernel_alignment 0x${hex(kernelAlignment)} is not a power of two`);
  }
  return {
    setupSects,
    syssize,
    vidMode: v.getUint16(H.VID_MODE, true),
    version,
    kernelVersion,
    loadflags,
    code32Start: v.getUint32(H.CODE32_START, true),
    // Before protocol 2.03 the field did not exist and the limit was 0x37FFFFFF.
    initrdAddrMax: at(H.INITRD_ADDR_MAX, 4) || 0x37ffffff,
    kernelAlignment,
    relocatable,
    minAlignment: at(H.MIN_ALIGNMENT, 1),
    xloadflags: at(H.XLOADFLAGS, 2),
    cmdlineSize: at(H.CMDLINE_SIZE, 4) || 255,
    payloadOffset: at(H.PAYLOAD_OFFSET, 4),
    payloadLength: at(H.PAYLOAD_LENGTH, 4),
    prefAddress,
    initSize: at(H.INIT_SIZE, 4),
    pmOffset,
    headerEnd,
  };
}

/** "2.15" for 0x020f. */
export function protocolText(version: number): string {
  return `${version >> 8}.${(version & 0xff).toString().padStart(2, "0")}`;
}

interface ElfSegment {
  offset: number;
  paddr: number;
  filesz: number;
  memsz: number;
}

function isElf32(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
}

/** The PT_LOAD segments and entry point of a little-endian i386 ELF32 executable. */
function elfLoadSegments(b: Uint8Array): { entry: number; segments: ElfSegment[] } {
  if (b.length < 52) throw new LinuxBootError("truncated ELF kernel: the ELF header is cut short");
  if (b[4] !== 1 || b[5] !== 1) throw new LinuxBootError("not a 32-bit little-endian ELF kernel");
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (v.getUint16(18, true) !== 3) throw new LinuxBootError("not an i386 ELF kernel (e_machine is not EM_386)");
  const entry = v.getUint32(24, true);
  const phoff = v.getUint32(28, true);
  const phentsize = v.getUint16(42, true);
  const phnum = v.getUint16(44, true);
  if (phentsize < 32 || phoff + phnum * phentsize > b.length) throw new LinuxBootError("truncated ELF kernel: the program headers are cut short");
  const segments: ElfSegment[] = [];
  for (let k = 0; k < phnum; k++) {
    const p = phoff + k * phentsize;
    if (v.getUint32(p, true) !== 1 /* PT_LOAD */) continue;
    const s = { offset: v.getUint32(p + 4, true), paddr: v.getUint32(p + 12, true), filesz: v.getUint32(p + 16, true), memsz: v.getUint32(p + 20, true) };
    if (s.offset + s.filesz > b.length) throw new LinuxBootError(`truncated ELF kernel: segment ${k} is cut short`);
    if (s.memsz > 0) segments.push(s);
  }
  if (segments.length === 0) throw new LinuxBootError("ELF kernel has no PT_LOAD segments");
  return { entry, segments };
}

/** A segment descriptor from a base, a 20-bit limit and VMX-format access rights. */
function descriptor(base: number, limit: number, ar: number): bigint {
  const lo = ((base & 0xffff) << 16) | (limit & 0xffff);
  const hi = (base & 0xff000000) | ((ar >> 12) & 0xf) << 20 | ((limit >>> 16) & 0xf) << 16 | (ar & 0xff) << 8 | ((base >>> 16) & 0xff);
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

function alignDown(x: number, a: number): number {
  return Math.floor(x / a) * a;
}

function hex(x: number): string {
  return x.toString(16);
}

function mib(x: number): string {
  return (x / 1048576).toFixed(x % 1048576 === 0 ? 0 : 1);
}

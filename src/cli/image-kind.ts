// Which guest option a file fits. A flat boot image can hold any bytes, so a kernel, an initrd
// or a recording given to --image would run as real-mode code and die as a triple fault far from
// the mistake; a user program given to --kernel runs as the kernel and never prints a line. The
// formats that are recognisable are told apart here, before anything runs, in one line that
// names the option that fits.

import { MAGIC } from "../replay/recording.js";
import { isElf } from "../x86/elf32.js";
import { LinuxBootError, parseSetupHeader } from "../x86/linux-boot.js";
import { UsageError } from "./errors.js";

export type ImageKind = "elf" | "bzimage" | "gzip" | "xz" | "recording";

/** What `b` recognisably is, or undefined (a flat image, or anything else). */
export function imageKind(b: Uint8Array): ImageKind | undefined {
  const starts = (...bytes: number[]) => b.length >= bytes.length && bytes.every((x, k) => b[k] === x);
  if (isElf(b)) return "elf";
  if (starts(...MAGIC)) return "recording";
  if (starts(0x1f, 0x8b)) return "gzip";
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return "xz";
  // A bzImage's setup header: "HdrS" at 0x202.
  if (b.length >= 0x206 && b[0x202] === 0x48 && b[0x203] === 0x64 && b[0x204] === 0x72 && b[0x205] === 0x53) return "bzimage";
  return undefined;
}

/** Whether the ELF file `b` carries Linux's own ELF notes (owner "Linux"), as every vmlinux does. */
export function hasLinuxNote(b: Uint8Array): boolean {
  if (b.length < 52 || b[4] !== 1 || b[5] !== 1) return false;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const phoff = v.getUint32(28, true), phentsize = v.getUint16(42, true), phnum = v.getUint16(44, true);
  for (let k = 0; k < phnum; k++) {
    const p = phoff + k * phentsize;
    if (phentsize < 32 || p + 32 > b.length || v.getUint32(p, true) !== 4 /* PT_NOTE */) continue;
    const start = v.getUint32(p + 4, true), end = Math.min(b.length, start + v.getUint32(p + 16, true));
    for (let n = start; n + 12 <= end; ) {
      const namesz = v.getUint32(n, true), descsz = v.getUint32(n + 4, true);
      const name = Buffer.from(b.subarray(n + 12, Math.min(end, n + 12 + namesz))).toString("latin1");
      if (name === "Linux\0") return true;
      n += 12 + align4(namesz) + align4(descsz);
    }
  }
  return false;
}

const align4 = (x: number) => (x + 3) & ~3;

const WHAT: Record<ImageKind, string> = {
  elf: "an ELF file",
  bzimage: "a Linux bzImage",
  gzip: "gzip-compressed",
  xz: "xz-compressed",
  recording: "an afterglow recording",
};

/** Throws a UsageError when the file `path` given to `--image` is recognisably something else. */
export function checkBootImage(path: string, b: Uint8Array): void {
  const kind = imageKind(b);
  if (kind === undefined) return;
  const hint: Record<ImageKind, string> = {
    elf: isElf(b) && hasLinuxNote(b) ? "boot a vmlinux with --kernel" : `\`objcopy -O binary ${path} ${path.replace(/\.elf$/, "")}.bin\` makes the flat image from it`,
    bzimage: "boot it with --kernel",
    gzip: "an initramfs goes with --initrd, beside --kernel",
    xz: "an initramfs goes with --initrd, beside --kernel",
    recording: `replay it with \`afterglow replay ${path}\``,
  };
  throw new UsageError(`--image ${path} is ${WHAT[kind]}, not a flat boot image: ${hint[kind]}`);
}

/** Throws a UsageError when the file `path` given to `--kernel` is no kernel the loader boots. */
export function checkKernel(path: string, b: Uint8Array): void {
  const kind = imageKind(b);
  if (kind === "elf") {
    if (!hasLinuxNote(b)) throw new UsageError(`--kernel ${path} is an ELF file without Linux's ELF notes, a program rather than a kernel: --kernel takes a bzImage or a vmlinux`);
    return;
  }
  if (kind === "gzip" || kind === "xz" || kind === "recording") {
    throw new UsageError(`--kernel ${path} is ${WHAT[kind]}, not a kernel${kind === "recording" ? "" : ": an initramfs goes with --initrd"}`);
  }
  try {
    parseSetupHeader(b);
  } catch (err) {
    if (err instanceof LinuxBootError) throw new UsageError(`--kernel ${path}: ${err.message}`);
    throw err;
  }
}

/** Throws a UsageError when the file `path` given to `--initrd` is a kernel or a recording. */
export function checkInitrd(path: string, b: Uint8Array): void {
  const kind = imageKind(b);
  if (kind === "bzimage" || (kind === "elf" && hasLinuxNote(b))) throw new UsageError(`--initrd ${path} is a kernel, not an initrd: are --kernel and --initrd swapped?`);
  if (kind === "recording") throw new UsageError(`--initrd ${path} is ${WHAT[kind]}, not an initrd`);
}

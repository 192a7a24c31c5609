// `afterglow guest`: getting Linux guest images. `guest fetch linux` downloads Debian's unmodified
// i386 kernel and busybox-static (scripts/fetch-debian.sh) and builds a busybox initramfs;
// `guest build-initramfs` builds the initramfs alone from a busybox binary the user has.

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import type { Command } from "commander";
import { type CpioEntry, writeCpio } from "./cpio.js";
import { packageRoot, readImage } from "./images.js";
import { UsageError } from "./errors.js";
import { makeUserDir, writeUserFile } from "./files.js";

/** The guest's /init, as the reference guest's (bench/linux-guest.sh): a marker line, the
 * workload, a second marker, reboot — and, when the kernel command line says `shell`, an
 * interactive shell on the console first (devtmpfs gives it the console's tty, ttyS0, which cttyhack
 * finds, so the shell has job control and Ctrl-C). */
export const INIT_SCRIPT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
echo "BOOT-OK $(uname -r)"
[ -x /workload ] && /workload
echo "WORKLOAD-DONE"
grep -qw shell /proc/cmdline && mount -t devtmpfs dev /dev && setsid cttyhack sh
reboot -f
`;

export interface InitramfsOptions {
  /** A statically linked i386 busybox. */
  busybox: Uint8Array;
  /** Where it was read from, for the messages that refuse it (default: "busybox"). */
  busyboxPath?: string;
  /** Shell commands run as /workload between the two markers. */
  workload?: string;
  /** More programs for the workload, as /bin/NAME (e.g. a statically linked test program). */
  programs?: { name: string; data: Uint8Array }[];
}

/** The initramfs's files, in archive order. */
export function initramfsEntries(opts: InitramfsOptions): CpioEntry[] {
  checkBusybox(opts.busybox, opts.busyboxPath ?? "busybox");
  const enc = new TextEncoder();
  const entries: CpioEntry[] = [
    ...["bin", "sbin", "etc", "proc", "sys", "dev", "tmp"].map((name): CpioEntry => ({ type: "dir", name })),
    // The kernel opens /dev/console for init's stdin, stdout and stderr.
    { type: "char", name: "dev/console", major: 5, minor: 1, mode: 0o600 },
    { type: "file", name: "bin/busybox", data: opts.busybox, mode: 0o755 },
    { type: "symlink", name: "bin/sh", target: "busybox" },
    { type: "file", name: "init", data: enc.encode(INIT_SCRIPT), mode: 0o755 },
  ];
  for (const p of opts.programs ?? []) entries.push({ type: "file", name: `bin/${p.name}`, data: p.data, mode: 0o755 });
  if (opts.workload !== undefined) {
    entries.push({ type: "file", name: "workload", data: enc.encode(`#!/bin/sh\n${opts.workload}\n`), mode: 0o755 });
  }
  return entries;
}

/** The gzip-compressed newc cpio archive the kernel unpacks as its initramfs. */
export function buildInitramfs(opts: InitramfsOptions): Uint8Array {
  return new Uint8Array(gzipSync(writeCpio(initramfsEntries(opts)), { level: 9 }));
}

const ELF_TYPES = ["no file type", "relocatable file", "executable", "shared object", "core file"];

/**
 * Refuses a busybox the guest could not run: not i386 ELF, not a program (an object file), a
 * kernel (vmlinux, which lies beside busybox in the guest directory), or dynamically linked.
 */
function checkBusybox(b: Uint8Array, name: string): void {
  const ok = b.length >= 52 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
  if (!ok) throw new UsageError(`${name} is not an ELF executable`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b[4] !== 1 || v.getUint16(18, true) !== 3) throw new UsageError(`${name} is not a 32-bit i386 executable: use Debian's busybox-static:i386`);
  const type = v.getUint16(16, true);
  // ET_DYN is a static-pie program as well as a library.
  if (type !== 2 && type !== 3) {
    throw new UsageError(`${name} is not an executable but an ELF ${ELF_TYPES[type] ?? `file of type ${type}`}: use Debian's busybox-static:i386`);
  }
  const phoff = v.getUint32(28, true);
  const phentsize = v.getUint16(42, true);
  for (let k = 0; k < v.getUint16(44, true); k++) {
    const p = phoff + k * phentsize;
    if (p + 12 > b.length) break;
    const vaddr = v.getUint32(p + 8, true);
    // Linux gives user programs the addresses below 3 GiB (its i386 PAGE_OFFSET).
    if (v.getUint32(p, true) === 1 /* PT_LOAD */ && vaddr >= 0xc0000000) {
      throw new UsageError(`${name} is a kernel: it loads at 0x${vaddr.toString(16)}, where no user program can; use Debian's busybox-static:i386`);
    }
    if (v.getUint32(p, true) === 3 /* PT_INTERP */) {
      throw new UsageError(`${name} is dynamically linked and the initramfs has no libc: use a static one (busybox-static)`);
    }
  }
}

/** The directory `guest fetch` fills by default (git-ignored; the tests read it too). */
export function defaultGuestDir(): string {
  return join(packageRoot(), "guests", "cache");
}

export interface FetchResult {
  dir: string;
  kernel: string;
  initrd: string;
  versions: string;
}

/** Fetches Debian's kernel and busybox into `dir` and builds `dir/initramfs.cpio.gz`. */
export function fetchLinux(opts: { dir: string; pae?: boolean; workload?: string }): FetchResult {
  const dir = resolve(opts.dir);
  if (spawnSync("apt-get", ["--version"], { stdio: "ignore" }).status !== 0) {
    throw new UsageError(
      "guest fetch needs Debian's apt-get; elsewhere, get a bzImage and an i386 busybox-static yourself and run `afterglow guest build-initramfs`",
    );
  }
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  const archs = spawnSync("dpkg", ["--print-foreign-architectures"], { encoding: "utf8" }).stdout ?? "";
  const lists = spawnSync("apt-cache", ["show", "busybox-static:i386"], { stdio: "ignore" }).status === 0;
  if (!root && (!/^i386$/m.test(archs) || !lists)) {
    throw new UsageError(
      "the i386 package lists are missing and adding them needs root: run `sudo dpkg --add-architecture i386 && sudo apt-get update` once, then `guest fetch` works unprivileged",
    );
  }
  makeUserDir(dir);
  const script = join(packageRoot(), "scripts", "fetch-debian.sh");
  const r = spawnSync("sh", [script, ...(opts.pae ? ["--pae"] : []), dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (r.status !== 0) {
    const lines = `${r.stderr ?? ""}${r.error ? String(r.error) : ""}`.trim().split("\n").filter((l) => !/^W: /.test(l));
    throw new UsageError(`fetching Debian's packages failed: ${lines.at(-1) ?? `exit status ${r.status}`}`);
  }
  const initrd = join(dir, "initramfs.cpio.gz");
  writeUserFile(initrd, buildInitramfs({ busybox: readImage(join(dir, "busybox")), workload: opts.workload }));
  const kernel = join(dir, opts.pae ? "vmlinuz-686-pae" : "vmlinuz-686");
  const versions = existsSync(join(dir, "VERSIONS")) ? readFileSync(join(dir, "VERSIONS"), "utf8") : "";
  return { dir, kernel, initrd, versions };
}

export function registerGuest(program: Command): void {
  const guest = program.command("guest").description("get and build Linux guest images");

  guest
    .command("fetch")
    .argument("<what>", 'what to fetch: "linux" (Debian\'s i386 kernel and busybox-static)')
    .description("download Debian's i386 kernel and busybox-static, and build an initramfs (apt-get; root only to add the i386 lists)")
    .option("--dir <dir>", "where to put the images (default: guests/cache)")
    .option("--pae", "also fetch the 686-pae kernel and use it")
    .option("--workload <commands>", "shell commands the guest runs after booting")
    .action((what: string, opts: { dir?: string; pae?: boolean; workload?: string }) => {
      if (what !== "linux") throw new UsageError(`guest fetch knows only "linux", not "${what}"`);
      const r = fetchLinux({ dir: opts.dir ?? defaultGuestDir(), pae: opts.pae, workload: opts.workload });
      const pkg = r.versions.split("\n").find((l) => l.startsWith(opts.pae ? "linux-image-686-pae " : "linux-image-686 "));
      process.stdout.write(
        `kernel  ${r.kernel}${pkg ? ` (${pkg.split(" ").slice(1).join(" ")})` : ""}\n` +
          `initrd  ${r.initrd}\n` +
          `config  ${join(r.dir, opts.pae ? "config-686-pae" : "config-686")}\n`,
      );
    });

  guest
    .command("build-initramfs")
    .description(
      "build a busybox initramfs (gzip'd newc cpio) whose /init prints BOOT-OK, runs the workload, prints WORKLOAD-DONE, " +
        'starts a shell if the kernel command line says "shell", and reboots',
    )
    .requiredOption("--busybox <file>", "a statically linked i386 busybox")
    .requiredOption("--out <file>", "the initramfs to write (.cpio.gz)")
    .option("--workload <commands>", "shell commands the guest runs after booting")
    .action((opts: { busybox: string; out: string; workload?: string }) => {
      const image = buildInitramfs({ busybox: readImage(opts.busybox), busyboxPath: opts.busybox, workload: opts.workload });
      makeUserDir(dirname(resolve(opts.out)));
      writeUserFile(opts.out, image);
      process.stdout.write(`initrd  ${opts.out} (${image.length} bytes)\n`);
    });
}

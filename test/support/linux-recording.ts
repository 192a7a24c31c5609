// One recording of Debian's ELF vmlinux booting under the stack (L4, the VMM, Linux in a VM),
// shared by the test files that replay a Linux boot: recorded once per set of inputs and emulator
// build, into a folder under the system's temporary directory named by both (through the
// checkpoint cache's content address), so test files running at the same time, and later runs of
// the same build, replay the same recording instead of each booting Linux again. A lock folder
// makes concurrent test files wait for the one that records; a recording left unfinished by a
// killed run is never used (it is renamed into place whole).

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cacheEntry } from "../../src/replay/checkpoint-cache.js";
import { ROOT } from "../layers.js";

const CACHE = join(ROOT, "guests", "cache");
const CLI = join(ROOT, "bin", "afterglow.js");
export const LINUX_KERNEL = join(CACHE, "vmlinux");
const BUSYBOX = join(CACHE, "busybox");
/** The boot's command line: no crypto self-tests, which cost billions of instructions. */
export const LINUX_CMDLINE = "console=ttyS0 panic=-1 cryptomgr.notests";
/**
 * Instructions between the recording's state hashes: a tenth of `afterglow record`'s default, so
 * that a replay that goes wrong is caught near where it did (72 hashes in the boot).
 */
const HASH_EVERY = "10000000";
/** A lock older than this was left by a killed run. */
const STALE_LOCK_MS = 30 * 60_000;

/** Whether the guest images are there (scripts/fetch-debian.sh). */
export const haveLinux = existsSync(LINUX_KERNEL) && existsSync(BUSYBOX);

export interface LinuxRecording {
  rec: string;
  kernel: string;
  initrd: string;
  /** The `afterglow replay` arguments that name the images. */
  images: string[];
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The shared recording, made first if no test file has made it yet. */
export function linuxRecording(): LinuxRecording {
  const inputs = createHash("sha256").update(readFileSync(LINUX_KERNEL)).update(readFileSync(BUSYBOX)).update(LINUX_CMDLINE).update(HASH_EVERY).digest();
  const dir = cacheEntry(join(tmpdir(), "afterglow-test-linux"), inputs);
  const rec = join(dir, "boot.rec");
  const initrd = join(dir, "initramfs.cpio.gz");
  const out: LinuxRecording = { rec, kernel: LINUX_KERNEL, initrd, images: ["--kernel", LINUX_KERNEL, "--initrd", initrd] };
  mkdirSync(dir, { recursive: true });
  const lock = join(dir, "lock");
  for (;;) {
    if (existsSync(rec)) return out;
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      // The recorder may have let go of the lock since: look again for its recording.
      const since = statSync(lock, { throwIfNoEntry: false });
      if (since === undefined) continue;
      if (Date.now() - since.mtimeMs > STALE_LOCK_MS) rmSync(lock, { recursive: true, force: true });
      else sleep(1000);
    }
  }
  try {
    if (existsSync(rec)) return out;
    execFileSync(process.execPath, [CLI, "guest", "build-initramfs", "--busybox", BUSYBOX, "--out", initrd], { stdio: ["ignore", "ignore", "pipe"] });
    const part = `${rec}.part`;
    execFileSync(process.execPath, [CLI, "record", "-o", part, ...out.images, "--append", LINUX_CMDLINE, "--ram", "128", "--hash-every", HASH_EVERY], { stdio: ["ignore", "ignore", "pipe"], timeout: 900_000 });
    renameSync(part, rec);
    return out;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

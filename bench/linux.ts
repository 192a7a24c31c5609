// `npm run bench`, part two: the Linux boot. Debian's i686 kernel (the xz-compressed bzImage, so
// the in-guest decompressor runs first) boots with the busybox initramfs from power-on until its
// /init prints "BOOT-OK". Reported: host seconds and instructions to that line, MIPS over the
// boot, and guest seconds. If the kernel does not get there within the budget, how far it got.
//
// Knobs (environment): BENCH_LINUX=0 skips this part; BENCH_LINUX_INSNS is the instruction budget
// (default 20e9); BENCH_LINUX_KERNEL picks another kernel image (e.g. guests/cache/vmlinux, the
// ELF kernel, which skips the decompressor).

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../src/cli/images.js";
import { Session, Stop } from "../src/replay/session.js";

const MARKER = "BOOT-OK";
/** Instructions between looks at the console (the marker's icount is taken exactly, in the console callback). */
const SLICE = 20_000_000;
/** A fixed wall-clock for the guest: the boot is the same every run. */
const RTC_EPOCH = 1_700_000_000;

export interface LinuxBootResult {
  reached: boolean;
  /** Instructions retired when the marker's last byte was written (or when the run stopped). */
  icount: number;
  hostSecs: number;
  /** CPU time this process spent (user + system): on a shared machine, steadier than host seconds. */
  cpuSecs: number;
  guestSecs: number;
  stop: Stop | undefined;
  lastLine: string;
}

/** Boots `kernel` with `initrd` until the marker or `budget` instructions; times it. */
export function bootLinux(kernel: Uint8Array, initrd: Uint8Array, budget: number, progress?: (icount: number, secs: number) => void): LinuxBootResult {
  let line = "";
  let lastLine = "";
  let hit: { icount: number; t: bigint; cpu: NodeJS.CpuUsage; guestNs: number } | undefined;
  let session: Session | undefined = undefined;
  const onByte = (b: number): void => {
    if (b === 10 || b === 13) {
      if (line.length > 0) lastLine = line;
      line = "";
      return;
    }
    line += String.fromCharCode(b);
    if (hit === undefined && line.endsWith(MARKER)) {
      hit = { icount: session!.position().icount, t: process.hrtime.bigint(), cpu: process.cpuUsage(cpu0), guestNs: session!.guestTimeNs() };
    }
  };
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const s = (session = new Session({
    guest: { kind: "linux", kernel, initrd, cmdline: "console=ttyS0 panic=-1" },
    ramSize: 256 << 20,
    console: onByte,
    rtcEpochSeconds: RTC_EPOCH,
  }));
  let stop: Stop | undefined;
  let lastReport = t0;
  while (hit === undefined) {
    const icount = s.position().icount;
    if (icount >= budget) break;
    stop = s.run({ maxInsns: Math.min(budget, icount + SLICE) });
    if (stop !== Stop.BUDGET) break;
    const now = process.hrtime.bigint();
    if (progress !== undefined && now - lastReport > 5_000_000_000n) {
      lastReport = now;
      progress(s.position().icount, Number(now - t0) / 1e9);
    }
  }
  const end = hit?.t ?? process.hrtime.bigint();
  const cpu = hit?.cpu ?? process.cpuUsage(cpu0);
  if (line.length > 0) lastLine = line;
  return {
    reached: hit !== undefined,
    icount: hit?.icount ?? s.position().icount,
    hostSecs: Number(end - t0) / 1e9,
    cpuSecs: (cpu.user + cpu.system) / 1e6,
    guestSecs: (hit?.guestNs ?? s.guestTimeNs()) / 1e9,
    stop,
    lastLine,
  };
}

export function benchLinux(): void {
  if (process.env.BENCH_LINUX === "0") {
    console.log("linux-boot: skipped (BENCH_LINUX=0)");
    return;
  }
  const root = packageRoot();
  const kernelPath = process.env.BENCH_LINUX_KERNEL ?? join(root, "guests", "cache", "vmlinuz-686");
  const initrdPath = join(root, "guests", "cache", "initramfs.cpio.gz");
  if (!existsSync(kernelPath) || !existsSync(initrdPath)) {
    console.log(`linux-boot: skipped (${existsSync(kernelPath) ? initrdPath : kernelPath} is missing; fetch the guest with \`bash scripts/fetch-debian.sh\`)`);
    return;
  }
  const budget = Number(process.env.BENCH_LINUX_INSNS ?? 20e9);
  const tty = process.stderr.isTTY;
  const r = bootLinux(new Uint8Array(readFileSync(kernelPath)), new Uint8Array(readFileSync(initrdPath)), budget, (icount, secs) => {
    if (tty) process.stderr.write(`\r\x1b[Klinux-boot: ${(icount / 1e6).toFixed(0)}M instructions, ${secs.toFixed(0)} s host, ${(icount / secs / 1e6).toFixed(1)} MIPS`);
  });
  if (tty) process.stderr.write("\r\x1b[K");
  const mips = r.icount / r.hostSecs / 1e6;
  const figures = `${r.icount.toLocaleString("en-US")} instructions, ${r.hostSecs.toFixed(1)} s host, ${mips.toFixed(1)} MIPS ` +
    `(${r.cpuSecs.toFixed(1)} s CPU, ${(r.icount / r.cpuSecs / 1e6).toFixed(1)} MIPS), ${r.guestSecs.toFixed(2)} s guest`;
  if (r.reached) {
    console.log(`linux-boot: ${MARKER} after ${figures}`);
  } else {
    const why = r.stop === undefined || r.stop === Stop.BUDGET ? `budget of ${(budget / 1e6).toFixed(0)}M instructions spent` : `machine stopped (reason ${r.stop})`;
    console.log(`linux-boot: no ${MARKER} (${why}) after ${figures}; last console line: ${JSON.stringify(r.lastLine)}`);
  }
}

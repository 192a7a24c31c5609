// `npm run bench`, part two: the Linux boot. Debian's i686 kernel (the xz-compressed bzImage, so
// the in-guest decompressor runs first) boots with the busybox initramfs from power-on until its
// /init prints "BOOT-OK", the guest QEMU and v86 boot as peers (v86 here too: ./v86.ts). Four runs:
// on the bare PC, on it again with one gdb breakpoint armed (where the boot never goes, so only
// its cost shows), and on the full stack (L4 + VMM, the guest in a VM), all recorded, so that the
// stack's overhead is the stack's and not the recording's (a state hash of all RAM every 100 M
// instructions: 64 of them, about 7% of the bare boot's CPU time); and the replay of the stack's
// recording. Reported: instructions, host and CPU seconds and MIPS to the marker, guest seconds,
// VM exits (by reason, the I/O exits by port, and per timer tick), the stack's overhead over the
// bare PC, the recording's size (beside QEMU's record log of the same boot) and the replay's
// speed as a share of the recording run's.
//
// Knobs (environment): BENCH_LINUX=0 skips this part; BENCH_LINUX_INSNS is the instruction budget
// (default 20e9); BENCH_LINUX_KERNEL picks another kernel image (e.g. guests/cache/vmlinux, the
// ELF kernel, which skips the decompressor); BENCH_LINUX_MACHINES=bare,breakpoint,stack,replay,timetravel
// picks runs (timetravel: ./timetravel.ts, on the replay's recording; v86: the same guest in v86,
// ./v86.ts, right after the bare boot; BENCH_V86_PAIRS=n boots the two n times, alternating,
// default 3);
// BENCH_STACK_PAIRS and BENCH_STACK_SIDE_PAIRS set how many times the stack's overhead is measured
// one boot after the other and both boots at once.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { packageRoot } from "../src/cli/images.js";
import { exitTable } from "../src/cli/summary.js";
import { readRecording } from "../src/replay/recording.js";
import { Debugger } from "../src/replay/debug.js";
import { Session, Stop, endReasonOf, type MachineKind, type StackSummary } from "../src/replay/session.js";
import { ExitReason } from "../src/vmx/exits.js";
import { benchTimeTravel } from "./timetravel.js";
import { bootV86 } from "./v86.js";

const MARKER = "BOOT-OK";
/** The kernel's command line, here and in the peer's boot (./v86.ts). */
const CMDLINE = "console=ttyS0 panic=-1";
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
  /**
   * CPU time of the process's main thread alone, where Linux's /proc tells it: without V8's
   * compiler and GC threads, which two boots side by side compete for.
   */
  mainCpuSecs?: number;
  guestSecs: number;
  stop: Stop | undefined;
  lastLine: string;
  /** VM exits to the marker (the stack's; 0 on the bare PC). */
  exits: number;
  /** The stack's account of the run at the marker (exits by reason and port, timer ticks). */
  summary?: StackSummary;
  /** The recording, when the run was recorded (ended at the marker). */
  recording?: Uint8Array;
}

/** QEMU's record log of the same boot in ../shared/bench/peers.sh, as its issue quotes it, and as measured on our machine. */
const QEMU_LOG_BYTES = { quoted: 75e6, measured: 3_347_099 };

/**
 * Where the armed-breakpoint boot puts its breakpoint: the first page of the kernel's text at its
 * virtual address (CONFIG_PHYSICAL_START 16 MiB above PAGE_OFFSET), which the boot runs only at
 * its physical address, before paging. Blocks compiled from that page pay the breakpoint's check;
 * the run never stops at it.
 */
const UNUSED_BREAKPOINT = 0xc1000000;

/** Boots `kernel` with `initrd` until the marker or `budget` instructions; times it. */
export function bootLinux(
  kernel: Uint8Array,
  initrd: Uint8Array,
  budget: number,
  opts: { machine: MachineKind; record?: boolean; breakpoint?: number; progress?: (icount: number, secs: number) => void },
): LinuxBootResult {
  const chunks: Uint8Array[] = [];
  let line = "";
  let lastLine = "";
  let hit: { icount: number; t: bigint; cpu: NodeJS.CpuUsage; mainCpu?: number; guestNs: number; exits: number; summary?: StackSummary } | undefined;
  let session: Session | undefined = undefined;
  const onByte = (b: number): void => {
    if (b === 10 || b === 13) {
      if (line.length > 0) lastLine = line;
      line = "";
      return;
    }
    line += String.fromCharCode(b);
    if (hit === undefined && line.endsWith(MARKER)) {
      const t = process.hrtime.bigint();
      const cpu = process.cpuUsage(cpu0);
      const main = mainThreadCpuSecs();
      hit = { icount: session!.position().icount, t, cpu, mainCpu: main === undefined || main0 === undefined ? undefined : main - main0, guestNs: session!.guestTimeNs(), exits: session!.exitCount(), summary: session!.summary() ?? undefined };
    }
  };
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuSecs();
  const s = (session = new Session(
    { guest: { kind: "linux", kernel, initrd, cmdline: CMDLINE }, machine: opts.machine, ramSize: 256 << 20, console: onByte, rtcEpochSeconds: RTC_EPOCH },
    opts.record ? { sink: (b) => chunks.push(Uint8Array.from(b)), argv: ["bench"], tool: "afterglow bench" } : undefined,
  ));
  if (opts.breakpoint !== undefined) new Debugger(s).setBreakpoint("hw", opts.breakpoint);
  let stop: Stop | undefined;
  let lastReport = t0;
  while (hit === undefined) {
    const icount = s.position().icount;
    if (icount >= budget) break;
    stop = s.run({ maxInsns: Math.min(budget, icount + SLICE) });
    if (stop !== Stop.BUDGET) break;
    const now = process.hrtime.bigint();
    if (opts.progress !== undefined && now - lastReport > 5_000_000_000n) {
      lastReport = now;
      opts.progress(s.position().icount, Number(now - t0) / 1e9);
    }
  }
  // The run stops after the slice with the marker: the guest may have ended in it (the initramfs reboots).
  if (opts.record) s.end(stop !== undefined && stop !== Stop.BUDGET ? endReasonOf(stop) : hit !== undefined ? "user-stop" : "limit");
  const end = hit?.t ?? process.hrtime.bigint();
  const cpu = hit?.cpu ?? process.cpuUsage(cpu0);
  if (line.length > 0) lastLine = line;
  return {
    reached: hit !== undefined,
    icount: hit?.icount ?? s.position().icount,
    hostSecs: Number(end - t0) / 1e9,
    cpuSecs: (cpu.user + cpu.system) / 1e6,
    mainCpuSecs: hit !== undefined ? hit.mainCpu : main0 === undefined ? undefined : (mainThreadCpuSecs() ?? main0) - main0,
    guestSecs: (hit?.guestNs ?? s.guestTimeNs()) / 1e9,
    stop,
    lastLine,
    exits: hit?.exits ?? s.exitCount(),
    summary: hit?.summary ?? s.summary() ?? undefined,
    recording: opts.record ? Buffer.concat(chunks) : undefined,
  };
}

/**
 * v86 on the same guest, each of its boots right after a bare boot (the first is `bare`; `again`
 * boots another), so that the two see the machine at the same speed: a shared machine's speed
 * drifts by a fifth within the hour, and one pair's ratio moves by a tenth from one run to the
 * next. BENCH_V86_PAIRS (default 3) pairs are run; each pair's ratio is printed, and with more
 * than one their median.
 */
function benchPeer(bare: LinuxBootResult | undefined, again: (() => LinuxBootResult) | null, kernelPath: string, initrdPath: string): void {
  const pairs = again === null ? 1 : Math.max(1, Number(process.env.BENCH_V86_PAIRS ?? 3));
  const cpuRatios: number[] = [], hostRatios: number[] = [];
  for (let k = 0; k < pairs; k++) {
    const ours = k === 0 || again === null ? bare : again();
    const peer = bootV86(kernelPath, initrdPath, CMDLINE, MARKER);
    if (typeof peer === "string") {
      console.log(`linux-boot (peer): ${peer}`);
      return;
    }
    console.log(`linux-boot (${peer.name}, the peer, not recorded): ${MARKER} after ` +
      `${peer.instructions.toLocaleString("en-US")} instructions, ${peer.hostSecs.toFixed(1)} s host, ${(peer.instructions / peer.hostSecs / 1e6).toFixed(1)} MIPS ` +
      `(${peer.cpuSecs.toFixed(1)} s CPU)` + (k > 0 && ours !== undefined ? ` (pair ${k + 1}: the bare PC's boot before it ${ours.hostSecs.toFixed(1)} s host, ${ours.cpuSecs.toFixed(1)} s CPU)` : ""));
    if (ours === undefined || !ours.reached) return;
    cpuRatios.push(ours.cpuSecs / peer.cpuSecs);
    hostRatios.push(ours.hostSecs / peer.hostSecs);
    console.log(`linux-boot bare PC against ${peer.name}: ${cpuRatios[k].toFixed(2)}x its CPU time, ${hostRatios[k].toFixed(2)}x its host time (target: at most 2x)`);
  }
  if (pairs > 1) {
    console.log(`linux-boot bare PC against v86, median of ${pairs} pairs: ${median(cpuRatios).toFixed(2)}x its CPU time, ${median(hostRatios).toFixed(2)}x its host time (target: at most 2x)`);
  }
}

/**
 * The main thread's user and system time from /proc (in USER_HZ ticks, 100 a second on Linux's
 * x86 ABIs), or undefined where there is no /proc.
 */
function mainThreadCpuSecs(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return undefined;
  }
}

/** The stack boot's main-thread CPU time over the bare boot's, when both are known. */
function mainRatio(s: LinuxBootResult, b: LinuxBootResult): number | undefined {
  return s.mainCpuSecs !== undefined && b.mainCpuSecs !== undefined && b.mainCpuSecs > 0 ? s.mainCpuSecs / b.mainCpuSecs : undefined;
}

/** " (main thread 1.04x)", or nothing without a ratio. */
function mainText(ratio: number | undefined): string {
  return ratio === undefined ? "" : ` (main thread ${ratio.toFixed(2)}x)`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * The stack's overhead over the bare PC, each stack boot beside a bare boot run right after (or
 * before) it: the first bare boot ran minutes earlier, and a shared machine's speed drifts by more
 * than the 10% measured (a bare boot took 24.5, 27.4 and 30.3 s host within five minutes). The
 * first pair's bare boot comes after the stack's, the next ones' before, so that with the default
 * two pairs a steady drift cancels in their median. BENCH_STACK_PAIRS pairs; each pair's ratio is
 * printed, and with more than one their median.
 */
function benchStackOverhead(stack: LinuxBootResult, bareAgain: () => LinuxBootResult, stackAgain: () => LinuxBootResult): void {
  const pairs = Math.max(1, Number(process.env.BENCH_STACK_PAIRS ?? 2));
  const cpuRatios: number[] = [], hostRatios: number[] = [], mainRatios: number[] = [];
  for (let k = 0; k < pairs; k++) {
    const b = bareAgain();
    const s = k === 0 ? stack : stackAgain();
    if (!b.reached || !s.reached) {
      console.log(`linux-boot overhead of L4 + VMM: pair ${k + 1} did not reach ${MARKER}`);
      return;
    }
    cpuRatios.push(s.cpuSecs / b.cpuSecs);
    hostRatios.push(s.hostSecs / b.hostSecs);
    const main = mainRatio(s, b);
    if (main !== undefined) mainRatios.push(main);
    console.log(
      `linux-boot overhead of L4 + VMM${pairs > 1 ? `, pair ${k + 1}` : ""}: ${cpuRatios[k].toFixed(2)}x the bare PC's CPU time${mainText(main)}, ${hostRatios[k].toFixed(2)}x its host time, both recorded (target: at most 1.1x) ` +
        `(the bare boot ${k === 0 ? "after" : "before"} it: ${b.hostSecs.toFixed(1)} s host, ${b.cpuSecs.toFixed(1)} s CPU, ${(b.icount / b.cpuSecs / 1e6).toFixed(1)} guest MIPS; ` +
        `the stack's ${s.hostSecs.toFixed(1)} s host, ${s.cpuSecs.toFixed(1)} s CPU, ${(s.icount / s.cpuSecs / 1e6).toFixed(1)} MIPS; guest time ${s.guestSecs.toFixed(2)} s vs ${b.guestSecs.toFixed(2)} s)`,
    );
  }
  if (pairs > 1) {
    console.log(`linux-boot overhead of L4 + VMM, median of ${pairs} pairs: ${median(cpuRatios).toFixed(2)}x the bare PC's CPU time${mainText(mainRatios.length === pairs ? median(mainRatios) : undefined)}, ${median(hostRatios).toFixed(2)}x its host time (target: at most 1.1x)`);
  }
}

/**
 * The stack's overhead measured with both boots at once, each on a core of its own: whatever
 * the machine's speed does meanwhile, both see it (the adjacent pairs above still take minutes,
 * over which a shared machine drifted by up to a fifth). Two boots at once share the memory bus
 * and leave V8's helper threads (compilers, GC) less room, so each is slower than alone; their
 * ratio is what counts. BENCH_STACK_SIDE_PAIRS (default 2; 0 skips) pairs, starting the bare
 * boot first, then the stack's; each ratio printed, and with more than one their median. Needs
 * two cores.
 */
function benchStackSideBySide(kernelPath: string, initrdPath: string, budget: number): void {
  const pairs = Math.max(0, Number(process.env.BENCH_STACK_SIDE_PAIRS ?? 2));
  if (pairs === 0) return;
  if (availableParallelism() < 2) {
    console.log("linux-boot overhead of L4 + VMM, side by side: skipped (one core)");
    return;
  }
  const cpuRatios: number[] = [], hostRatios: number[] = [], mainRatios: number[] = [];
  for (let k = 0; k < pairs; k++) {
    const order = k % 2 === 0 ? "bare+stack" : "stack+bare";
    const child = fileURLToPath(new URL("./linux-child.js", import.meta.url));
    const r = spawnSync(process.execPath, [child, order, kernelPath, initrdPath, String(budget), "-", "-"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    const report = r.stdout.trim().split("\n").pop() ?? "";
    if (r.status !== 0 || !report.startsWith("{")) throw new Error(`the side-by-side boots' process failed (exit code ${r.status})`);
    const { bare: b, stack: s } = JSON.parse(report) as { bare: LinuxBootResult; stack: LinuxBootResult };
    if (!b.reached || !s.reached) {
      console.log(`linux-boot overhead of L4 + VMM, side by side: pair ${k + 1} did not reach ${MARKER}`);
      return;
    }
    cpuRatios.push(s.cpuSecs / b.cpuSecs);
    hostRatios.push(s.hostSecs / b.hostSecs);
    const main = mainRatio(s, b);
    if (main !== undefined) mainRatios.push(main);
    console.log(
      `linux-boot overhead of L4 + VMM, side by side${pairs > 1 ? `, pair ${k + 1}` : ""}: ${cpuRatios[k].toFixed(2)}x the bare PC's CPU time${mainText(main)}, ${hostRatios[k].toFixed(2)}x its host time (target: at most 1.1x) ` +
        `(${order === "bare+stack" ? "the bare boot started first" : "the stack's started first"}; bare ${b.hostSecs.toFixed(1)} s host, ${b.cpuSecs.toFixed(1)} s CPU; stack ${s.hostSecs.toFixed(1)} s host, ${s.cpuSecs.toFixed(1)} s CPU)`,
    );
  }
  if (pairs > 1) {
    console.log(`linux-boot overhead of L4 + VMM, side by side, median of ${pairs} pairs: ${median(cpuRatios).toFixed(2)}x the bare PC's CPU time${mainText(mainRatios.length === pairs ? median(mainRatios) : undefined)}, ${median(hostRatios).toFixed(2)}x its host time (target: at most 1.1x)`);
  }
}

/** How many of the I/O ports with the most exits the report lists. */
const TOP_PORTS = 8;

/**
 * The stack's VM exits by reason, the I/O exits by port (with the virtual chip behind each), and
 * per timer tick (the VMM's timer events, each an interrupt for the guest's PIT or RTC).
 */
export function exitReport(s: StackSummary): string[] {
  const n = (v: number) => v.toLocaleString("en-US");
  const lines = [`  VM exits by reason (${n(s.totalExits)}):`, ...exitTable(s.exits).map((l) => "  " + l)];
  const io = s.vmm.io.slice(0, TOP_PORTS).map((p) => `0x${p.port.toString(16)} ${p.device} ${n(p.ins + p.outs)}`);
  if (io.length > 0) lines.push(`  I/O exits by port: ${io.join(", ")}${s.vmm.io.length > TOP_PORTS ? `, ${s.vmm.io.length - TOP_PORTS} more ports` : ""}`);
  if (s.vmm.passedThrough.length > 0) lines.push(`  passed through (no exits after the first): ${s.vmm.passedThrough.map((p) => "0x" + p.toString(16)).join(", ")}`);
  const ticks = s.vmm.counters.ticks;
  if (ticks > 0) {
    // What a tick itself costs: the external-interrupt exit of a tick that comes while the guest
    // runs, and the exits on the interrupt controller's and the timer's ports (Linux's mask,
    // acknowledge and unmask of IRQ0; the PIT's next one-shot count).
    const on = (ports: number[]) => s.vmm.io.filter((p) => ports.includes(p.port)).reduce((sum, p) => sum + p.ins + p.outs, 0);
    const per = (k: number) => (k / ticks).toFixed(1);
    const external = s.exits.find((e) => e.reason === ExitReason.EXTERNAL_INTERRUPT)?.count ?? 0;
    lines.push(
      `  timer ticks: ${n(ticks)}; VM exits per tick: ${per(s.totalExits)} (all exits over ticks), ` +
        `${per(external)} (external interrupt) + ${per(on([0x20, 0x21, 0xa0, 0xa1]))} (8259A) + ${per(on([0x40, 0x43]))} (8254 channel 0 and mode)`,
    );
  }
  return lines;
}

/**
 * Boots in a process of its own (./linux-child.ts), recorded, so that every boot compared is a
 * fresh V8's first; the recording comes back through a file.
 */
function bootInChild(machine: MachineKind, kernelPath: string, initrdPath: string, budget: number, breakpoint: number | undefined, label: string): LinuxBootResult {
  const dir = mkdtempSync(join(tmpdir(), "afterglow-bench-"));
  try {
    const file = join(dir, "boot.rec");
    const child = fileURLToPath(new URL("./linux-child.js", import.meta.url));
    const r = spawnSync(process.execPath, [child, machine, kernelPath, initrdPath, String(budget), breakpoint === undefined ? "-" : String(breakpoint), file], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, BENCH_LABEL: label },
      maxBuffer: 64 << 20,
    });
    const report = r.stdout.trim().split("\n").pop() ?? "";
    if (r.status !== 0 || !report.startsWith("{")) throw new Error(`the ${machine} boot's process failed (exit code ${r.status})`);
    const result = JSON.parse(report) as LinuxBootResult;
    return existsSync(file) ? { ...result, recording: new Uint8Array(readFileSync(file)) } : result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Replays `recording` to its end; CPU seconds and instructions. */
export function replayLinux(recording: Uint8Array, images: { [role: string]: Uint8Array }): { icount: number; cpuSecs: number; hostSecs: number; exits: number } {
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const s = Session.replay(readRecording(recording), () => {}, images);
  s.run();
  const cpu = process.cpuUsage(cpu0);
  if (!s.replayDone()) throw new Error("the replay stopped before the recording's end");
  return { icount: s.position().icount, cpuSecs: (cpu.user + cpu.system) / 1e6, hostSecs: Number(process.hrtime.bigint() - t0) / 1e9, exits: s.exitCount() };
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
  const runs = (process.env.BENCH_LINUX_MACHINES ?? "bare,breakpoint,stack,replay,timetravel,v86").split(",");
  const kernel = new Uint8Array(readFileSync(kernelPath));
  const initrd = new Uint8Array(readFileSync(initrdPath));
  const results: { [machine: string]: LinuxBootResult } = {};
  for (const run of ["bare", "breakpoint", "stack"] as const) {
    if (!runs.includes(run) && !(run === "stack" && runs.includes("replay"))) continue;
    const machine = run === "stack" ? "stack" : "bare";
    const label = run === "bare" ? "linux-boot (bare PC, recorded)" : run === "breakpoint" ? "linux-boot (bare PC, recorded, one gdb breakpoint armed)" : "linux-boot (L4 + VMM, recorded)";
    const r = (results[run] = bootInChild(machine, kernelPath, initrdPath, budget, run === "breakpoint" ? UNUSED_BREAKPOINT : undefined, label));
    const mips = r.icount / r.hostSecs / 1e6;
    const figures = `${r.icount.toLocaleString("en-US")} instructions, ${r.hostSecs.toFixed(1)} s host, ${mips.toFixed(1)} MIPS ` +
      `(${r.cpuSecs.toFixed(1)} s CPU, ${(r.icount / r.cpuSecs / 1e6).toFixed(1)} MIPS), ${r.guestSecs.toFixed(2)} s guest` +
      (machine === "stack" ? `, ${r.exits.toLocaleString("en-US")} VM exits (${Math.round(r.exits / r.cpuSecs).toLocaleString("en-US")}/s CPU)` : "");
    if (r.reached) {
      console.log(`${label}: ${MARKER} after ${figures}`);
    } else {
      const why = r.stop === undefined || r.stop === Stop.BUDGET ? `budget of ${(budget / 1e6).toFixed(0)}M instructions spent` : `machine stopped (reason ${r.stop})`;
      console.log(`${label}: no ${MARKER} (${why}) after ${figures}; last console line: ${JSON.stringify(r.lastLine)}`);
    }
    if (r.summary) for (const line of exitReport(r.summary)) console.log(line);
    if (run === "bare" && runs.includes("v86")) benchPeer(r, () => bootInChild("bare", kernelPath, initrdPath, budget, undefined, label), kernelPath, initrdPath);
  }
  const bare = results.bare, stack = results.stack, armed = results.breakpoint;
  if (runs.includes("v86") && !runs.includes("bare")) benchPeer(undefined, null, kernelPath, initrdPath);
  if (bare?.reached && armed?.reached) {
    console.log(`linux-boot with one gdb breakpoint armed: ${(armed.cpuSecs / bare.cpuSecs).toFixed(2)}x the bare PC's CPU time without (target: at most 1.5x)`);
  }
  if (bare?.reached && stack?.reached) {
    benchStackOverhead(stack, () => bootInChild("bare", kernelPath, initrdPath, budget, undefined, "linux-boot (bare PC, recorded, beside the stack)"), () => bootInChild("stack", kernelPath, initrdPath, budget, undefined, "linux-boot (L4 + VMM, recorded)"));
    benchStackSideBySide(kernelPath, initrdPath, budget);
  }
  if (stack?.recording && runs.includes("replay")) {
    const size = stack.recording.length;
    console.log(
      `recording: ${size.toLocaleString("en-US")} bytes for ${stack.exits.toLocaleString("en-US")} VM exits; ` +
        `QEMU's record log of this boot: ${(QEMU_LOG_BYTES.quoted / 1e6).toFixed(0)} MB quoted (${(QEMU_LOG_BYTES.quoted / size).toFixed(0)}x larger), ` +
        `${QEMU_LOG_BYTES.measured.toLocaleString("en-US")} bytes measured here (${(QEMU_LOG_BYTES.measured / size).toFixed(1)}x larger)`,
    );
    const p = replayLinux(stack.recording, { kernel, initrd });
    const recMips = stack.icount / stack.cpuSecs / 1e6;
    const repMips = p.icount / p.cpuSecs / 1e6;
    console.log(
      `replay: ${p.icount.toLocaleString("en-US")} instructions and ${p.exits.toLocaleString("en-US")} exits checked in ${p.cpuSecs.toFixed(1)} s CPU ` +
        `(${repMips.toFixed(1)} MIPS), ${((100 * repMips) / recMips).toFixed(0)}% of the recording run's speed`,
    );
    if (runs.includes("timetravel")) benchTimeTravel(stack.recording, { kernel, initrd }, p.cpuSecs);
  }
}

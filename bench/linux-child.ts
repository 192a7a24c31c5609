// A child process of ./linux.ts: one timed Linux boot in a fresh V8, so that each boot the bench
// compares is a process's first. (A second boot in the same process ran about 15% slower: the
// stack's boot came third, after the bare PC's and the breakpoint's, and its overhead read high.)
// Arguments: MACHINE (bare|stack) KERNEL INITRD BUDGET BREAKPOINT (an address, or -) RECORDING
// (a file to write the recording to, or -). Writes the result, without the recording, as one
// JSON line to stdout; shows progress on stderr when that is a terminal.
// MACHINE "bare+stack" or "stack+bare" boots both at once instead, each in a child of its own
// started in that order, and writes their results as one line, { bare, stack }.

import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { tuneV8 } from "../src/cli/v8-tuning.js";
import { bootLinux } from "./linux.js";

tuneV8();

const [machine, kernelPath, initrdPath, budget, breakpoint, recordingPath] = process.argv.slice(2);

if (machine === "bare+stack" || machine === "stack+bare") {
  const self = fileURLToPath(import.meta.url);
  const boot = (m: string) => new Promise<unknown>((resolve, reject) => {
    const child = spawn(process.execPath, [self, m, kernelPath, initrdPath, budget, "-", "-"], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out.trim().split("\n").pop() ?? "")) : reject(new Error(`the ${m} boot's process failed (exit code ${code})`))));
  });
  const [first, second] = machine.split("+");
  const [a, b] = await Promise.all([boot(first), boot(second)]);
  process.stdout.write(JSON.stringify(first === "bare" ? { bare: a, stack: b } : { bare: b, stack: a }) + "\n");
  process.exit(0);
}

const label = process.env.BENCH_LABEL ?? `linux-boot (${machine})`;
const r = bootLinux(new Uint8Array(readFileSync(kernelPath)), new Uint8Array(readFileSync(initrdPath)), Number(budget), {
  machine: machine === "stack" ? "stack" : "bare",
  record: true,
  breakpoint: breakpoint === "-" ? undefined : Number(breakpoint),
  progress: (icount, secs) => {
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${label}: ${(icount / 1e6).toFixed(0)}M instructions, ${secs.toFixed(0)} s host, ${(icount / secs / 1e6).toFixed(1)} MIPS`);
  },
});
if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
if (recordingPath !== "-" && r.recording !== undefined) writeFileSync(recordingPath, r.recording);
process.stdout.write(JSON.stringify({ ...r, recording: undefined }) + "\n");

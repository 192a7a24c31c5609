// `npm run bench`, part three: the cost of a VM exit end to end (the CPU's exit and entry, the L4
// kernel's IPC, the VMM's handler) on an exit-heavy guest, guests/builtin/serial.asm, which
// writes to COM1 byte by byte, polling the line status first: each IN and OUT is an exit. Reported
// in exits per second of CPU time and guest MIPS, and in bytes allocated per exit (measured in a
// run of its own after the timed one, since sampling the heap slows it). Measured in a process of
// its own, as each Linux boot is: in the bench's, after the CPU loop, the same build read 154,000
// exits/s and 499 bytes per exit against 227,000 and 202 in a fresh one (V8's code for the CPU,
// shared by both, no longer specialised for one of them). BENCH_EXITS=0 skips it;
// BENCH_EXITS_INSNS sets the instructions timed (default 3M).

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { packageRoot } from "../src/cli/images.js";
import { allocated } from "./heap.js";
import { Session } from "../src/replay/session.js";

const SELF = fileURLToPath(import.meta.url);

export function benchExits(): void {
  if (process.env.BENCH_EXITS === "0") {
    console.log("vm-exits: skipped (BENCH_EXITS=0)");
    return;
  }
  const r = spawnSync(process.execPath, [SELF], { stdio: "inherit" });
  if (r.status !== 0) throw new Error(`the VM exit bench failed (${r.status ?? r.signal})`);
}

/** The measurement, in this process (`node dist/bench/exits.js`). */
async function measure(): Promise<void> {
  const insns = Number(process.env.BENCH_EXITS_INSNS ?? 3e6);
  const image = new Uint8Array(readFileSync(join(packageRoot(), "guests", "builtin", "serial.bin")));
  const s = new Session({ guest: { kind: "image", bytes: image }, machine: "stack", ramSize: 8 << 20, console: () => {}, rtcEpochSeconds: 0 });
  // Past the start (real mode, the VMM's first exits), then timed.
  s.run({ maxInsns: 200_000 });
  const e0 = s.exitCount(), i0 = s.position().icount;
  const c0 = process.cpuUsage();
  s.run({ maxInsns: i0 + insns });
  const c = process.cpuUsage(c0);
  const secs = (c.user + c.system) / 1e6;
  const exits = s.exitCount() - e0, done = s.position().icount - i0;
  console.log(
    `vm-exits: ${Math.round(exits / secs).toLocaleString("en-US")} exits/s CPU on the serial loop guest under L4 + VMM ` +
      `(${exits.toLocaleString("en-US")} exits in ${(done / 1e6).toFixed(1)}M instructions, ${secs.toFixed(2)} s CPU, ${(done / secs / 1e6).toFixed(2)} MIPS)`,
  );
  const e1 = s.exitCount();
  const bytes = await allocated(() => s.run({ maxInsns: s.position().icount + 1_000_000 }));
  console.log(`vm-exits: ${Math.round(bytes / (s.exitCount() - e1))} bytes allocated per exit, end to end (sampled over ${(s.exitCount() - e1).toLocaleString("en-US")} exits)`);
}

if (process.argv[1] === SELF) await measure();

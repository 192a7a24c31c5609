// `npm run bench`: the CPU's speed on the CPU-bound benchmark guest (guests/builtin/bench.asm), in
// millions of retired instructions per second, with the compiler (src/machine/cpu/jit) and on the
// interpreter alone. Each run boots the guest afresh and times a fixed instruction budget (the
// compiler's warm-up included); the best of a few runs is reported, with the spread, since a
// shared machine's noise only ever slows a run down. Then the Linux boot (./linux.ts) and the VM
// exit path (./exits.ts). BENCH_CPU=0 skips the first part.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Pc } from "../src/machine/pc.js";
import { packageRoot } from "../src/cli/images.js";
import { tuneV8 } from "../src/cli/v8-tuning.js";
import { benchExits } from "./exits.js";
import { benchLinux } from "./linux.js";

tuneV8();

const BUDGET = Number(process.env.BENCH_INSNS ?? 50_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

/** MIPS of one run, by host time and by this process's CPU time. */
function once(image: Uint8Array, jit: boolean): [host: number, cpu: number] {
  const pc = new Pc({ ramSize: 32 << 20, console: () => {}, rtcEpochSeconds: 0, jit });
  pc.loadBootImage(image);
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  pc.run({ maxInsns: BUDGET });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  if (pc.cpu.icount !== BUDGET) throw new Error(`bench guest stopped early after ${pc.cpu.icount} instructions`);
  return [BUDGET / secs / 1e6, BUDGET / ((c.user + c.system) / 1e6) / 1e6];
}

if (process.env.BENCH_CPU !== "0") {
  const image = new Uint8Array(readFileSync(join(packageRoot(), "guests", "builtin", "bench.bin")));
  for (const jit of [true, false]) {
    const mips: number[] = [];
    const cpuMips: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const [host, cpu] = once(image, jit);
      mips.push(host);
      cpuMips.push(cpu);
    }
    const best = Math.max(...mips);
    console.log(`cpu-loop, ${jit ? "compiled" : "interpreted"}: ${best.toFixed(1)} MIPS (best of ${RUNS} runs of ${(BUDGET / 1e6).toFixed(0)}M instructions; runs: ${mips.map((m) => m.toFixed(1)).join(", ")}; ` +
      `by CPU time ${Math.max(...cpuMips).toFixed(1)} MIPS)${jit ? " (target: at least 200)" : ""}`);
  }
}
benchLinux();
benchExits();

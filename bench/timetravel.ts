// `npm run bench`, part three: time travel on the Linux boot recording of part two. A replay with
// time travel runs forward through the whole recording (checkpoints placed as a debugger's run
// places them); then reverse-stepi at 20 positions, each timed the first time back there
// and once the region was visited; then a reverse-continue from the end to a breakpoint hit early
// in the boot, as a share of the plain replay's time; and the checkpoints' memory at the end
// beside the guest's RAM. Times are CPU times of this process (the machine may be shared).

import { Debugger, type DebugStop } from "../src/replay/debug.js";
import { readRecording } from "../src/replay/recording.js";
import { Session } from "../src/replay/session.js";

function cpuSecs<T>(f: () => T): [T, number] {
  const c0 = process.cpuUsage();
  const r = f();
  const c = process.cpuUsage(c0);
  return [r, (c.user + c.system) / 1e6];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const ms = (secs: number) => `${(secs * 1000).toFixed(0)} ms`;

/** Time travel on `recording`; `plainReplaySecs` is the CPU time of its plain replay. */
export function benchTimeTravel(recording: Uint8Array, images: { [role: string]: Uint8Array }, plainReplaySecs: number): void {
  const rec = readRecording(recording);
  const d = new Debugger(Session.replay(rec, () => {}, images));
  d.toFirstInstruction();
  const tl = d.startTimeTravel();
  const [, fwdSecs] = cpuSecs(() => {
    for (let first = true; ; first = false) if (d.run({ maxInsns: 20_000_000, first }).kind !== "budget") break;
  });
  const end = d.position().icount;
  const ram = rec.header.machine.ramSize;
  console.log(
    `time travel: the replay forward with checkpoints in ${fwdSecs.toFixed(1)} s CPU (${(fwdSecs / plainReplaySecs).toFixed(2)}x the plain replay); ` +
      `at the end ${tl.checkpoints().length} checkpoints hold ${(tl.memoryBytes / 2 ** 20).toFixed(0)} MiB of RAM pages, ` +
      `${(tl.memoryBytes / ram).toFixed(2)}x the guest's ${ram / 2 ** 20} MiB (target: at most 2x)`,
  );
  // Spread over the recording by the golden ratio: the same 20 positions every run.
  const rnd = ((x) => () => (x = (x + 0.6180339887) % 1))(0.5);
  const cold: number[] = [];
  const warm: number[] = [];
  for (let k = 0; k < 20; k++) {
    const n = 2 + Math.floor(rnd() * (end - 2));
    d.seek({ at: "step", icount: n });
    cold.push(cpuSecs(() => d.reverse!.step())[1]);
    warm.push(cpuSecs(() => d.reverse!.step())[1]);
  }
  console.log(
    `time travel: reverse-stepi at 20 positions: median ${ms(median(warm))}, worst ${ms(Math.max(...warm))} once the region was visited ` +
      `(target: median at most 50 ms); the first step back at each: median ${ms(median(cold))}, worst ${ms(Math.max(...cold))}`,
  );
  // A breakpoint early in the boot: the instruction at 1 % of the way.
  const early = Math.max(1, Math.floor(end / 100));
  d.seek({ at: "step", icount: early });
  const addr = d.position().eip;
  d.seek({ at: "step", icount: end });
  d.setBreakpoint("hw", addr);
  const [stop, revSecs] = cpuSecs((): DebugStop => {
    d.reverse!.startContinue();
    for (;;) {
      const s = d.reverse!.continueSlice(20_000_000);
      if (s !== null) return s;
    }
  });
  console.log(
    `time travel: reverse-continue from the end (icount ${end.toLocaleString("en-US")}) to the last hit of a breakpoint at 0x${addr.toString(16)} ` +
      `(${stop.kind} at icount ${d.position().icount.toLocaleString("en-US")}) in ${revSecs.toFixed(1)} s CPU, ` +
      `${(revSecs / plainReplaySecs).toFixed(2)}x the plain replay's time (target: at most 2x)`,
  );
}

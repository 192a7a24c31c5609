// The VMM and the L4 kernel as debuggable as the guest, on a replayed Linux boot under the stack
// (the shared recording of test/support/linux-recording.ts): a breakpoint by TypeScript line in the
// VMM's port-I/O handler through the V8 inspector, with gdb reversing over it; the handler's path
// for an exit of each reason the boot has, from gdb. (L4 event breakpoints on the same recording:
// src/replay/l4-events.test.ts.)

import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { exitName } from "../../src/l4/api.js";
import { readRecording } from "../../src/replay/recording.js";
import { Session } from "../../src/replay/session.js";
import { gdbOnReplay } from "../support/gdb-batch.js";
import { breakpointHitsAgain } from "../support/inspect-scenario.js";
import { haveLinux, linuxRecording, type LinuxRecording } from "../support/linux-recording.js";
import { oracle } from "../support/oracle.js";

const ready = oracle("Debian's i386 kernel and busybox in guests/cache", haveLinux, "bash scripts/fetch-debian.sh");
let boot: LinuxRecording;

beforeAll(() => {
  if (ready) boot = linuxRecording();
}, 900_000);

describe.skipIf(!ready)("the VMM and the L4 kernel on a replayed Linux boot", () => {
  it("a breakpoint by TypeScript line in the VMM's port-I/O handler, at a serial exit deep in the boot, hits again with the same values after gdb's reverse-continue, and the replay matches to its end", async () => {
    await breakpointHitsAgain(boot.rec, boot.images, { n: 3, seekExit: 5000 });
  }, 900_000);

  it("monitor explain-exit prints the handler's path for the first exit of each reason the boot has, the same again after a reverse jump", async () => {
    const exits = Session.replay(readRecording(new Uint8Array(readFileSync(boot.rec)), boot.rec), () => {}, {
      kernel: new Uint8Array(readFileSync(boot.kernel)),
      initrd: new Uint8Array(readFileSync(boot.initrd)),
    }).recordedExits();
    const first = new Map<number, number>();
    for (const e of exits) if (!first.has(e.reason)) first.set(e.reason, e.n);
    const ns = [...first.values()].sort((a, b) => a - b);
    // The reasons a Linux boot under the VMM takes, at least: the list.
    const names = [...first.keys()].map(exitName);
    for (const r of ["IO_INSTRUCTION", "CPUID", "RDMSR", "WRMSR", "CR_ACCESS", "EPT_VIOLATION", "INTERRUPT_WINDOW", "HLT"]) expect(names).toContain(r);
    // Each explained going forward, then each again after a jump back to the start of the boot.
    const explains = ns.map((n) => `monitor explain-exit ${n}`);
    const out = await gdbOnReplay(boot.rec, boot.images, [...explains, "monitor seek exit 0", ...explains]);
    const blocks = out.split(/^(?=exit #\d+ )/m).slice(1).map((b) => b.split(/^(?!exit #| )/m)[0]);
    expect(blocks, out).toHaveLength(2 * ns.length);
    for (const [i, n] of ns.entries()) {
      const [a, b] = [blocks[i], blocks[ns.length + i]];
      expect(a).toMatch(new RegExp(`^exit #${n} icount \\d+ ${exitName(exits[n].reason)} `));
      expect(a).toMatch(/^ {2}runExit\(vm=Vm, x=\{reason: /m);
      expect(a.match(/^ +src\/vmm\/\w+\.ts:\d+ {2}\S/gm)?.length ?? 0).toBeGreaterThan(3);
      expect(b).toBe(a);
    }
  }, 900_000);
});

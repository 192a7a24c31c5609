// The compiler against the interpreter, in lock-step (test/support/lockstep.ts): seeded random
// programs, and the conformance kernels on the whole PC. Every block the compiled machine runs is
// followed by a comparison of the whole state.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Seg } from "../../../x86/insn.js";
import { bareCpu, nasm, CODE_BASE } from "../../../../test/support/cpu.js";
import { lockstepCpus, lockstepPcs } from "../../../../test/support/lockstep.js";
import { randomProgram } from "../../../../test/support/random-code.js";
import { ROOT } from "../../../../test/layers.js";
import { Pc } from "../../pc.js";
import { SegAttr, Stop } from "../arch.js";

const DATA = 0x40000;
const FS_BASE = 0x50000;

function randomMachine(code: Uint8Array): ReturnType<typeof bareCpu>["cpu"] {
  const { cpu } = bareCpu(code);
  cpu.jit = false; // the reference interprets (under AFTERGLOW_TEST_JIT too); lockstepCpus compiles on the other
  cpu.r32[7] = DATA;
  cpu.setSegCache(Seg.FS, 0x10, FS_BASE, 0xffffffff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.ACCESSED | SegAttr.DB | SegAttr.G);
  return cpu;
}

/**
 * The random programs' seeds, each in its test's name: 1 to LOCKSTEP_PROGRAMS (default 16), or the
 * one LOCKSTEP_SEED names (to rerun a failure).
 */
const SEEDS = process.env.LOCKSTEP_SEED !== undefined
  ? [Number(process.env.LOCKSTEP_SEED)]
  : Array.from({ length: Number(process.env.LOCKSTEP_PROGRAMS ?? 16) }, (_, k) => k + 1);

describe("compiled code in lock-step with the interpreter", () => {
  for (const seed of SEEDS) {
    it(`runs random program ${seed} with the same state after every block`, () => {
      const code = nasm(randomProgram(seed), 32, CODE_BASE);
      const r = lockstepCpus(randomMachine(code), randomMachine(code), 50_000);
      expect(r.icount).toBe(50_000);
      expect(r.blocks).toBeGreaterThan(10);
    });
  }

  // RAM is compared after every block: each kernel gets the least it runs the same in. The
  // built-in guest adds timer interrupts, paging and user mode. Virtual-8086 code is 16-bit and stays
  // on the interpreter; the protected-mode monitor around it compiles.
  const kernels = {
    "the exceptions conformance kernel": ["conformance/exceptions", 1],
    "the privilege conformance kernel": ["conformance/privilege", 1],
    "the paging conformance kernel": ["conformance/paging", 4],
    "the tasks conformance kernel": ["conformance/tasks", 1],
    "the x87 conformance kernel": ["conformance/x87", 1],
    "the corners conformance kernel": ["conformance/corners", 4],
    "the virtual-8086 conformance kernel": ["conformance/v86", 1],
    "the built-in guest": ["builtin/hello", 5],
  } as const;
  for (const [name, [path, mib]] of Object.entries(kernels)) {
    it(`runs ${name} with the same state after every block`, () => {
      const image = new Uint8Array(readFileSync(join(ROOT, "guests", `${path}.bin`)));
      const make = (): Pc => {
        const pc = new Pc({ ramSize: mib << 20, console: () => {}, rtcEpochSeconds: 1_700_000_000, jit: false });
        pc.loadBootImage(image);
        return pc;
      };
      const r = lockstepPcs(make(), make(), 5_000_000);
      expect(r.stop).toBe(Stop.HALT);
      expect(r.blocks).toBeGreaterThan(1_000);
    }, 300_000);
  }
});

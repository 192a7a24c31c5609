// The L4 kernel's Platform on the emulated PC: the parts tested alone.

import { describe, expect, it } from "vitest";
import { CODE_BASE, nasm } from "../../test/support/cpu.js";
import { Reg, Seg } from "../x86/insn.js";
import { SegAttr, Stop } from "../machine/cpu/arch.js";
import { Pc } from "../machine/pc.js";
import { PcPlatform } from "./pc-platform.js";

describe("the PC platform", () => {
  it("drops the CPU's decoded code of a page the kernel writes guest bytes into", () => {
    const pc = new Pc({ ramSize: 8 << 20, console: () => {}, rtcEpochSeconds: 0 });
    const cpu = pc.cpu;
    cpu.cr0 |= 1;
    cpu.setSegCache(Seg.CS, 0x08, 0, 0xffffffff, SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.DB | SegAttr.G);
    const run = (): number => {
      cpu.eip = CODE_BASE;
      expect(cpu.run(2)).toBe(Stop.BUDGET);
      return cpu.r32[Reg.EAX];
    };
    pc.mem.load(CODE_BASE, nasm("mov eax, 1\nnop", 32, CODE_BASE));
    expect(run()).toBe(1); // decoded and cached
    new PcPlatform(pc).writeBytes(CODE_BASE, nasm("mov eax, 2\nnop", 32, CODE_BASE));
    expect(run()).toBe(2);
  });
});

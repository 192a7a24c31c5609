// The full stack on the emulated PC: the L4 kernel on the PC's platform, the VMM as its root task,
// the built-in guests in a VM. The guest must see the same machine as on the bare PC, and the
// stack must be as deterministic as the bare machine: however the host cuts its runs, and across
// a snapshot restored into a new stack, the state is the same.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../test/layers.js";
import { nasm } from "../../test/support/cpu.js";
import { PIT_HZ } from "../devices/pit8254.js";
import { NS_PER_INSN } from "../machine/clock.js";
import { Stop } from "../machine/cpu/arch.js";
import { Pc } from "../machine/pc.js";
import { BareMachine } from "./machine.js";
import { Stack } from "./stack.js";

const HELLO = new Uint8Array(readFileSync(join(ROOT, "guests", "builtin", "hello.bin")));
const ECHO = new Uint8Array(readFileSync(join(ROOT, "guests", "builtin", "echo.bin")));
const MiB = 1 << 20;

function stack(image: Uint8Array, out: number[] = []): Stack {
  return new Stack({ ramSize: 8 * MiB, boot: { kind: "flat", image }, console: (b) => out.push(b), rtcEpochSeconds: 1_700_000_000 });
}

const text = (b: number[]) => Buffer.from(b).toString("latin1");

describe("the full stack", () => {
  it("runs the built-in guest in a VM with the same console output as the bare PC", () => {
    const out: number[] = [];
    const s = stack(HELLO, out);
    expect(s.run({})).toBe(Stop.HALT);
    const bareOut: number[] = [];
    const pc = new Pc({ ramSize: 8 * MiB, console: (b) => bareOut.push(b), rtcEpochSeconds: 1_700_000_000 });
    pc.loadBootImage(HELLO);
    expect(new BareMachine(pc).run({})).toBe(Stop.HALT);
    expect(text(out)).toBe(text(bareOut));
    expect(text(out)).toContain("afterglow: 10 timer interrupts while idle\n");
    expect(s.stopDetail()).toBe("the guest halted with interrupts off");
  });

  it("summarizes the run by layer: exits by reason, IPCs, context switches, the VMM's work", () => {
    const s = stack(HELLO);
    s.run({});
    const sum = s.summary();
    const exits = Object.fromEntries(sum.exits.map((e) => [e.name, e.count]));
    // The guest polls its UART (I/O exits), faults its pages in (EPT), idles with HLT between ticks.
    expect(exits.IO_INSTRUCTION).toBeGreaterThan(300);
    expect(exits.HLT).toBeGreaterThanOrEqual(10);
    expect(exits.EPT_VIOLATION).toBeGreaterThanOrEqual(1);
    expect(sum.totalExits).toBe(sum.exits.reduce((a, e) => a + e.count, 0));
    // Every exit is at least a message to the VMM and its reply.
    expect(sum.ipcs).toBeGreaterThan(sum.totalExits);
    expect(sum.contextSwitches).toBeGreaterThan(sum.totalExits);
    expect(sum.vmm.injections).toEqual([{ vector: 0x20, count: 12 }]);
    expect(sum.instructions).toBe(s.pc.cpu.icount);
  });

  it("reaches the same state however the host cuts its runs", () => {
    const whole = stack(HELLO);
    whole.run({});
    const cut = stack(HELLO);
    // Instruction limits, guest-time pauses and positions (icount, ns) of all sizes, in turn.
    let step = 0;
    for (let stop = Stop.BUDGET; stop === Stop.BUDGET; step++) {
      const n = 997 + ((step * 7919) % 20011);
      if (step % 3 === 0) stop = cut.run({ maxInsns: cut.pc.cpu.icount + n });
      else if (step % 3 === 1) stop = cut.run({ maxNs: cut.nowNs() + Math.floor(n * 1.3) });
      else stop = cut.run({ maxInsns: Number.MAX_SAFE_INTEGER, untilNs: cut.nowNs() + n });
    }
    expect(step).toBeGreaterThan(50);
    expect(cut.pc.cpu.icount).toBe(whole.pc.cpu.icount);
    expect(cut.nowNs()).toBe(whole.nowNs());
    expect(cut.stateHash()).toBe(whole.stateHash());
  });

  it("ends a guest's timeslice at the same moment when the host cuts its run right after the entry", () => {
    // 4 M instructions without an exit: 40 ms, four timeslices of the VCPU. The VM entry's cost
    // belongs to the slice, so a run cut after the entry and resumed without one ends it alike.
    const spin = nasm("cli\nmov ecx, 2000000\nspin: dec ecx\njnz spin\nhlt", 16, 0x7c00);
    const whole = stack(spin);
    expect(whole.run({})).toBe(Stop.HALT);
    const cut = stack(spin);
    cut.run({ maxInsns: 50 });
    cut.run({ maxInsns: 1_000_000 });
    cut.run({ maxNs: cut.nowNs() + 12_345_670 });
    expect(cut.run({})).toBe(Stop.HALT);
    expect(cut.nowNs()).toBe(whole.nowNs());
    expect(cut.stateHash()).toBe(whole.stateHash());
  });

  it("goes on identically from a snapshot restored into a new stack", () => {
    const a = stack(HELLO);
    a.run({ maxInsns: 300_000 });
    const snap = a.save();
    const mid = a.stateHash();
    const outB: number[] = [];
    const b = stack(HELLO, outB);
    b.restore(structuredClone(snap));
    expect(b.stateHash()).toBe(mid);
    const outA: number[] = [];
    const a2 = stack(HELLO, outA);
    a2.restore(snap);
    expect(a2.run({})).toBe(Stop.HALT);
    expect(b.run({})).toBe(Stop.HALT);
    expect(b.stateHash()).toBe(a2.stateHash());
    expect(text(outB)).toBe(text(outA));
    expect(text(outB)).toContain("afterglow: done\n");
  });

  it("restores the TLB a snapshot holds, after the VMX state's restore has flushed it", () => {
    const a = stack(HELLO);
    a.run({ maxInsns: 300_000 });
    const snap = a.save();
    expect(snap.pc.tlb?.entries.length, "the snapshot holds translations").toBeGreaterThan(0);
    const b = stack(HELLO);
    b.restore(structuredClone(snap));
    expect(b.pc.cpu.paging.saveTlb()).toEqual(snap.pc.tlb);
  });

  it("takes console input through the physical UART, the VMM's IRQ thread and the virtual UART", () => {
    const out: number[] = [];
    const s = stack(ECHO, out);
    const lines = ["hello\n", "q"];
    const stop = s.run({
      onIdle: () => {
        if (lines.length === 0 || !s.consoleListening()) return false;
        return s.consoleInput(new TextEncoder().encode(lines.shift()!)) > 0;
      },
    });
    expect(stop).toBe(Stop.HALT);
    expect(text(out)).toMatch(/^echo: type; q quits\nHELLO\n[0-9A-F]{4}\nQecho: bye\n$/);
    expect(s.summary().vmm.counters.inputBytes).toBe(7);
  });

  it("gives the guest a TSC that counts the virtual PIT's time across I/O exits, as Linux's PIT calibration needs", () => {
    // pit_calibrate_tsc: PIT channel 2 counts 10 ms down in mode 0 (gate: port 0x61 bit 0);
    // the guest reads its TSC, polls OUT2 (port 0x61 bit 5: an I/O exit each time in the VM),
    // reads its TSC again, and sends the TSC delta and the number of polls to COM1.
    const latch = 11932;
    const calibrate = nasm(
      `cli
      in al, 0x61
      and al, 0xfc
      or al, 1
      out 0x61, al
      mov al, 0xb0
      out 0x43, al
      mov al, ${latch & 0xff}
      out 0x42, al
      mov al, ${latch >> 8}
      out 0x42, al
      rdtsc
      mov esi, eax
      xor ecx, ecx
      poll: inc ecx
      in al, 0x61
      test al, 0x20
      jz poll
      rdtsc
      sub eax, esi
      mov dx, 0x3f8
      mov ebx, eax
      call send
      mov ebx, ecx
      call send
      hlt
      send: mov di, 4
      next: mov al, bl
      out dx, al
      shr ebx, 8
      dec di
      jnz next
      ret`,
      16,
      0x7c00,
    );
    const measure = (run: (out: number[]) => Stop): { cycles: number; polls: number } => {
      const out: number[] = [];
      expect(run(out)).toBe(Stop.HALT);
      const dv = new DataView(Uint8Array.from(out).buffer);
      return { cycles: dv.getUint32(0, true), polls: dv.getUint32(4, true) };
    };
    const bare = measure((out) => {
      const pc = new Pc({ ramSize: 8 * MiB, console: (b) => out.push(b), rtcEpochSeconds: 1_700_000_000 });
      pc.loadBootImage(calibrate);
      return new BareMachine(pc).run({});
    });
    const vm = measure((out) => stack(calibrate, out).run({}));
    // 10 ms of the TSC (one tick per instruction), to within a PIT tick and a poll, whatever a
    // poll costs: in the VM the same as on the bare PC.
    const tscHz = 1e9 / NS_PER_INSN;
    const expected = (latch * tscHz) / PIT_HZ;
    for (const m of [bare, vm]) expect(Math.abs(m.cycles - expected)).toBeLessThan(tscHz / PIT_HZ + m.cycles / m.polls);
    expect(Math.abs(vm.cycles - bare.cycles)).toBeLessThan(vm.cycles / vm.polls);
    // Linux wants at least 1,000 polls in 10 ms, and for its fast calibration a PIT read in well
    // under 3 µs (four of them under 1/2048 of 50 ms): an I/O exit's round trip is that cheap.
    expect(vm.polls).toBeGreaterThan(1000);
    expect(vm.cycles / vm.polls).toBeLessThan(3e-6 * tscHz);
  });

  it("passes the io_delay port 0x80 through to the guest: its first write exits, the rest reach the PC's POST port", () => {
    const out: number[] = [];
    const s = stack(nasm("mov cx, 100\ndelay: mov al, cl\nout 0x80, al\nloop delay\nin al, 0x80\nmov dx, 0x3f8\nout dx, al\ncli\nhlt", 16, 0x7c00), out);
    expect(s.run({})).toBe(Stop.HALT);
    expect(s.vmm().stats.io[0x80]).toEqual([0, 1]);
    expect(s.vmm().passed).toEqual([0x80]);
    // The last write (CX = 1) is in the physical POST latch, and the guest's IN reads it back.
    expect(s.pc.post.save().last).toBe(1);
    expect(out).toEqual([1]);
  });

  it("reports an idle guest when only input could wake it", () => {
    // Interrupts on, no timer programmed, asleep in HLT: the VMM parks the VCPU and has no
    // deadline, so every thread waits and the kernel says so.
    const s = stack(nasm("sti\nsleep: hlt\njmp sleep", 16, 0x7c00));
    expect(s.run({})).toBe(Stop.IDLE);
    expect(s.pc.cpu.icount).toBeLessThan(10);
  });
});

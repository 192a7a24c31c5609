// What one chaos seed perturbs: the same machine for the same seed on any host, every parameter
// within the range hardware allows, different machines for different seeds; and a run records
// its seed and timing, so that its replay builds the same machine.

import { describe, expect, it } from "vitest";
import { nasm } from "../../test/support/cpu.js";
import { CHAOS_EPOCH_SECONDS, chaosRun, MAX_INPUT_DELAY_NS, perturbation, type ChaosConfig } from "./chaos.js";
import { TIMING_LIMITS, type MachineTiming } from "./machine-config.js";
import { readRecording } from "./recording.js";
import { Session } from "./session.js";

describe("chaos perturbations", () => {
  it("are the same for the same seed and stay within what hardware allows", () => {
    const seen = new Set<string>();
    for (let seed = 0; seed < 500; seed++) {
      const p = perturbation(seed, CHAOS_EPOCH_SECONDS, 4);
      expect(perturbation(seed, CHAOS_EPOCH_SECONDS, 4)).toEqual(p);
      for (const k of Object.keys(TIMING_LIMITS) as (keyof MachineTiming)[]) {
        expect(Number.isInteger(p.timing[k])).toBe(true);
        expect(p.timing[k]).toBeGreaterThanOrEqual(TIMING_LIMITS[k].min);
        expect(p.timing[k]).toBeLessThanOrEqual(TIMING_LIMITS[k].max);
      }
      expect(Math.abs(p.rtcEpochSeconds - CHAOS_EPOCH_SECONDS)).toBeLessThanOrEqual(366 * 24 * 3600);
      expect(p.inputDelaysNs).toHaveLength(4);
      for (const d of p.inputDelaysNs) expect(d >= 0 && d < MAX_INPUT_DELAY_NS).toBe(true);
      seen.add(JSON.stringify(p));
    }
    expect(seen.size).toBe(500);
  });

  it("are recorded with the seed, and the run replays on the machine they made", () => {
    // Prints the RTC's seconds register (BCD): the second the perturbed clock started in.
    const image = nasm("mov al, 0\nout 0x70, al\nin al, 0x71\nout 0xe9, al\nhlt", 16, 0x7c00);
    const cfg: ChaosConfig = {
      guest: { kind: "image", bytes: image }, machine: "bare", ramSize: 4 << 20, limits: { hangNs: 1e9 },
      input: new Uint8Array(0), epochSeconds: CHAOS_EPOCH_SECONDS, argv: [], tool: "test", embed: true,
    };
    const r = chaosRun(cfg, 1234);
    const rec = readRecording(Buffer.concat(r.chunks));
    const p = perturbation(1234, CHAOS_EPOCH_SECONDS, 64);
    expect(rec.header.seed).toBe(1234);
    expect(rec.header.machine.timing).toEqual(p.timing);
    const sec = p.rtcEpochSeconds % 60;
    const out: number[] = [];
    const s = Session.replay(rec, (b) => out.push(b));
    s.run();
    expect(s.replayDone()).toBe(true);
    expect(s.stateHash()).toBe(rec.end!.hash);
    expect(out).toEqual([(Math.floor(sec / 10) << 4) | sec % 10]);
    expect(r.failed).toBe(false);
  });

  it("perturb when the serial line's THR empties, and a chaos run replays with its line's timing", () => {
    // Sends two bytes, counts the LSR reads until THR is empty again, and prints the count in hex
    // on the debug console.
    const image = nasm(
      `mov dx, 0x3f8
      mov al, 'x'
      out dx, al
      out dx, al
      xor cx, cx
      mov dx, 0x3fd
    poll:
      inc cx
      in al, dx
      test al, 0x20
      jz poll
      mov bx, cx
      mov cx, 4
    digit:
      rol bx, 4
      mov al, bl
      and al, 0x0f
      add al, '0'
      cmp al, '9'
      jbe put
      add al, 7
    put:
      out 0xe9, al
      loop digit
      cli
      hlt`,
      16, 0x7c00,
    );
    for (const machine of ["bare", "stack"] as const) {
      const cfg: ChaosConfig = {
        guest: { kind: "image", bytes: image }, machine, ramSize: 4 << 20, limits: { hangNs: 1e9 },
        input: new Uint8Array(0), epochSeconds: CHAOS_EPOCH_SECONDS, argv: [], tool: "test", embed: true,
      };
      const polls = new Map<number, number>();
      for (let seed = 1; seed <= 6; seed++) {
        const rec = readRecording(Buffer.concat(chaosRun(cfg, seed).chunks));
        expect(rec.header.machine.timing?.uartTxNs).toBe(perturbation(seed, CHAOS_EPOCH_SECONDS, 64).timing.uartTxNs);
        const out: number[] = [];
        const s = Session.replay(rec, (b) => out.push(b));
        s.run();
        expect(s.replayDone()).toBe(true);
        expect(s.stateHash()).toBe(rec.end!.hash);
        // The first byte was sent when the second left THR, before the count; the second may be.
        const text = Buffer.from(out).toString("latin1");
        expect(text).toMatch(/^x[0-9A-F]*x?[0-9A-F]*$/);
        expect(text.replace(/x/g, "")).toMatch(/^[0-9A-F]{4}$/);
        polls.set(rec.header.machine.timing!.uartTxNs!, parseInt(text.replace(/x/g, ""), 16));
      }
      // A longer character time, more polls before THR empties.
      const byTime = [...polls].sort((a, b) => a[0] - b[0]).map(([, n]) => n);
      expect(new Set(byTime).size, `${machine}: ${JSON.stringify([...polls])}`).toBeGreaterThanOrEqual(4);
      expect(byTime).toEqual([...byTime].sort((a, b) => a - b));
    }
  });
});

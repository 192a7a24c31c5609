// How runs end, on both machines: each failure end is found, recorded as the recording's end with
// its cause, and reached again by a replay of that recording; a guest that can never wake no
// longer spins, and guest-time limits hold.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../test/layers.js";
import { nasm } from "../../test/support/cpu.js";
import { DEFAULT_HANG_NS, EndWatch, runScripted, ScriptedInput, type EndLimits, type RunEnd } from "./ends.js";
import { readRecording } from "./recording.js";
import { Session, type MachineKind } from "./session.js";

const MiB = 2 ** 20;
const ECHO = new Uint8Array(readFileSync(join(ROOT, "guests", "builtin", "echo.bin")));

/** Records `image` on `machine` to its end; the end, the recording and the console. */
function record(image: Uint8Array, machine: MachineKind, limits: Partial<EndLimits> = {}, input = ""): { end: RunEnd; file: Uint8Array; out: string; ns: number; icount: number } {
  const chunks: Uint8Array[] = [];
  const out: number[] = [];
  let watch: EndWatch | undefined;
  const session = new Session(
    { guest: { kind: "image", bytes: image }, machine, ramSize: 8 * MiB, rtcEpochSeconds: 1_700_000_000, console: (b) => (watch?.output(b), out.push(b)) },
    { sink: (b) => chunks.push(Uint8Array.from(b)), argv: [], tool: "test", embedImages: true },
  );
  watch = new EndWatch(session, { hangNs: DEFAULT_HANG_NS, ...limits });
  const end = runScripted(session, watch, new ScriptedInput(new TextEncoder().encode(input), [0]));
  session.end(end.reason, end.detail);
  const p = session.position();
  return { end, file: Buffer.concat(chunks), out: Buffer.from(out).toString("latin1"), ns: p.ns, icount: p.icount };
}

/** Replays a recording to its end: the end record it reached, where, and the console. */
function replayEnd(file: Uint8Array): { reason: string; detail?: string; icount: number; ns: number; out: string } {
  const rec = readRecording(file);
  const out: number[] = [];
  const s = Session.replay(rec, (b) => out.push(b));
  s.run();
  expect(s.replayDone()).toBe(true);
  expect(s.stateHash()).toBe(rec.end!.hash);
  const p = s.position();
  return { reason: rec.end!.reason, detail: rec.end!.detail, icount: p.icount, ns: p.ns, out: Buffer.from(out).toString("latin1") };
}

/** Prints `text` on the debug console port (0xe9) in 16-bit code. */
function print16(text: string): string {
  return [...text].map((c) => `mov al, ${c.charCodeAt(0)}\nout 0xe9, al`).join("\n");
}

const STI_HLT = nasm("sti\nhlt\njmp $", 16, 0x7c00);
/** The PIC initialised with everything masked, the PIT ticking at 100 Hz: its interrupts never come. */
const MASKED_TIMER = nasm(
  `cli
  mov al, 0x11
  out 0x20, al
  mov al, 0x20
  out 0x21, al
  mov al, 4
  out 0x21, al
  mov al, 1
  out 0x21, al
  mov al, 0xff
  out 0x21, al
  mov al, 0x34
  out 0x43, al
  mov ax, 11932
  out 0x40, al
  mov al, ah
  out 0x40, al
  ${print16("waiting\n")}
  sti
  hlt
  jmp $`,
  16,
  0x7c00,
);
const PANIC_THEN_HALT = nasm(`${print16("[    1.000000] Kernel panic - not syncing: VFS: Unable to mount root fs\n")}\ncli\nhlt`, 16, 0x7c00);
const PANIC_THEN_SPIN = nasm(
  `${print16("[    1.000000] Kernel panic - not syncing: Attempted to kill init!\n[    1.000100] ---[ end Kernel panic - not syncing: Attempted to kill init! ]---\n")}\nsti\nspin: jmp spin`,
  16,
  0x7c00,
);
/** An empty IDT: the #UD cannot be delivered, nor the #GP, nor the double fault. */
const TRIPLE = nasm("lidt [cs:idt]\nud2\nidt: dw 0, 0, 0", 16, 0x7c00);
const LOOP = nasm("spin: jmp spin", 16, 0x7c00);
/** Listens for console input (COM1's receive interrupt through IRQ4) with no timer: only input can wake it. */
const LISTEN = nasm(
  `cli
  mov word [0x24 * 4], isr
  mov word [0x24 * 4 + 2], 0
  mov al, 0x11
  out 0x20, al
  mov al, 0x20
  out 0x21, al
  mov al, 4
  out 0x21, al
  mov al, 1
  out 0x21, al
  mov al, 0xef
  out 0x21, al
  mov dx, 0x3fc
  mov al, 0x0b
  out dx, al
  mov dx, 0x3f9
  mov al, 1
  out dx, al
  sti
  sleep: hlt
  jmp sleep
  isr: mov dx, 0x3f8
  in al, dx
  out 0xe9, al
  mov al, 0x20
  out 0x20, al
  iret`,
  16,
  0x7c00,
);

describe.each(["stack", "bare"] as const)("run ends on the %s machine", (machine) => {
  it("ends a guest halted with interrupts on and nothing that can wake it as a hang, at once, not spinning", () => {
    const r = record(STI_HLT, machine);
    expect(r.end.reason).toBe("hang");
    expect(r.end.detail).toMatch(/^halted with interrupts enabled, and nothing can interrupt it/);
    // No guest time passed: the host did not skip time in slices forever.
    expect(r.ns).toBeLessThan(1_000_000);
    expect(replayEnd(r.file)).toMatchObject({ reason: "hang", icount: r.icount, ns: r.ns });
  });

  it("ends a guest whose timer interrupts never come as a hang once the limit of guest time has passed", () => {
    const hangNs = 2_000_000_000;
    const r = record(MASKED_TIMER, machine, { hangNs });
    expect(r.out).toBe("waiting\n");
    expect(r.end).toMatchObject({ reason: "hang", detail: "no instruction retired and nothing printed for 2 s of guest time" });
    // At least the limit, and no more than one look of the host (a slice of 100 ms) past it.
    expect(r.ns).toBeGreaterThanOrEqual(hangNs);
    expect(r.ns).toBeLessThanOrEqual(hangNs + 100_000_000);
    expect(replayEnd(r.file)).toMatchObject({ reason: "hang", icount: r.icount, ns: r.ns });
  });

  it("does not take a guest that waits for console input for hung while input is coming", () => {
    const r = record(ECHO, machine, { hangNs: 1_000_000 }, "abc\nq");
    expect(r.out).toMatch(/^echo: type; q quits\nABC\n[0-9A-F]{4}\nQecho: bye\n$/);
    expect(r.end.reason).toBe("halt");
  });

  it("ends a kernel panic at the halt after its line, with the line as the cause", () => {
    const r = record(PANIC_THEN_HALT, machine);
    expect(r.end).toMatchObject({ reason: "panic", detail: "Kernel panic - not syncing: VFS: Unable to mount root fs (then halt)" });
    expect(replayEnd(r.file)).toMatchObject({ reason: "panic", icount: r.icount });
  });

  it("ends a kernel panic at its last line when the kernel will spin from there on", () => {
    const r = record(PANIC_THEN_SPIN, machine);
    expect(r.end).toMatchObject({ reason: "panic", detail: "Kernel panic - not syncing: Attempted to kill init!" });
    // Within the slice that printed it, long before a hang limit.
    expect(r.ns).toBeLessThan(200_000_000);
    expect(replayEnd(r.file)).toMatchObject({ reason: "panic", icount: r.icount, ns: r.ns });
  });

  it("ends a triple fault as one, with where it happened", () => {
    const r = record(TRIPLE, machine);
    expect(r.end.reason).toBe("triple-fault");
    expect(r.end.detail).toMatch(/^triple fault at EIP 0x7c0[0-9a-f]$/);
    expect(replayEnd(r.file)).toMatchObject({ reason: "triple-fault", icount: r.icount });
  });

  it("stops at --max-time exactly, and at --max-insns exactly", () => {
    const t = record(LOOP, machine, { maxNs: 3_000_000 });
    expect(t.end).toMatchObject({ reason: "limit", detail: "--max-time: 0.003 s of guest time" });
    expect(t.ns).toBe(3_000_000);
    expect(replayEnd(t.file)).toMatchObject({ reason: "limit", ns: 3_000_000 });
    const i = record(LOOP, machine, { maxInsns: 12_345 });
    expect(i.end).toMatchObject({ reason: "limit", detail: "--max-insns: 12,345 instructions" });
    expect(i.icount).toBe(12_345);
  });

  it("ends a guest idle for input that will not come as idle, not as a failure", () => {
    const r = record(LISTEN, machine, {}, "hi\n");
    expect(r.out).toBe("hi\n");
    expect(r.end).toMatchObject({ reason: "idle", detail: "waiting for console input, and no more will come" });
    expect(replayEnd(r.file)).toMatchObject({ reason: "idle", icount: r.icount, out: "hi\n" });
  });
});

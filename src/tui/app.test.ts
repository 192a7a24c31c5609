import { createElement as h } from "react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { FakeReplay, INFO, snapshot } from "./testing/fake-replay.js";

// Colours on, whatever the test's output is: ink's chalk decides when it is loaded.
process.env.FORCE_COLOR = "1";
const { render, cleanup } = await import("ink-testing-library");
const { App, parseGoTo } = await import("./app.js");

/** A frame without its colours and attributes. */
const plain = (frame: string | undefined) => (frame ?? "").replace(/\x1b\[[0-9;]*m/g, "");
const settle = () => new Promise((r) => setTimeout(r, 30));
/** Waits (on a loaded machine too) until the assertion holds. */
const eventually = (check: () => void) => vi.waitFor(check, { timeout: 5_000, interval: 20 });
const ESC = "\x1b";

async function open(replay = new FakeReplay(), mono = false) {
  let quit = 0;
  const ui = render(h(App, { replay, mono, onQuit: () => quit++ }));
  // The first frame is drawn once ink listens for keys.
  await eventually(() => expect(plain(ui.lastFrame())).toContain("? help"));
  await settle();
  return { ui, replay, quits: () => quit };
}

afterEach(() => cleanup());

describe("the TUI", () => {
  it("turns s, S, n, N, c and C into moves of the replay", async () => {
    const { ui, replay } = await open();
    for (const [i, k] of ["s", "S", "n", "N", "c", "C"].entries()) {
      ui.stdin.write(k);
      // Each once the one before has its reply: keys during a move only cancel it.
      await eventually(() => expect(replay.requests).toHaveLength(i + 1));
      await eventually(() => expect(plain(ui.lastFrame())).not.toContain("Esc cancels"));
    }
    expect(replay.requests).toEqual([{ op: "step" }, { op: "reverse-step" }, { op: "next-exit" }, { op: "previous-exit" }, { op: "continue" }, { op: "reverse-continue" }]);
  });

  it("asks where to go on g and goes there on Enter", async () => {
    const { ui, replay } = await open();
    ui.stdin.write("g");
    await eventually(() => expect(plain(ui.lastFrame())).toContain("go to"));
    ui.stdin.write("exit:5");
    await settle();
    ui.stdin.write("\r");
    await eventually(() => expect(replay.requests).toEqual([{ op: "go", to: { kind: "exit", n: 5 } }]));
  });

  it("says what is wrong with a go-to written as a position but not one, and asks the replay nothing", async () => {
    const { ui, replay } = await open();
    ui.stdin.write("gicount:-1\r");
    await eventually(() => expect(plain(ui.lastFrame())).toContain('icount:N wants a whole number from 0 (or 0x hex), not "-1"'));
    expect(replay.requests).toEqual([]);
  });

  it("takes keys typed in one burst in order, the prompt's text included", async () => {
    const { ui, replay } = await open();
    ui.stdin.write("gicount:42\r");
    await settle();
    // A terminal may turn Enter into a newline.
    ui.stdin.write("gexit:7\n");
    await eventually(() => expect(replay.requests).toEqual([{ op: "go", to: { kind: "icount", n: 42 } }, { op: "go", to: { kind: "exit", n: 7 } }]));
  });

  it("sets breakpoints with b, e and l, and drops a prompt on Esc", async () => {
    const { ui, replay } = await open();
    ui.stdin.write("b");
    await eventually(() => expect(plain(ui.lastFrame())).toContain("breakpoint at:"));
    ui.stdin.write("uart_wait\r");
    await eventually(() => expect(replay.requests).toHaveLength(1));
    await eventually(() => expect(plain(ui.lastFrame())).not.toContain("Esc cancels"));
    ui.stdin.write("e");
    await eventually(() => expect(plain(ui.lastFrame())).toContain("break on exit:"));
    ui.stdin.write("io 0x3f8 out\r");
    await eventually(() => expect(replay.requests).toHaveLength(2));
    await eventually(() => expect(plain(ui.lastFrame())).not.toContain("Esc cancels"));
    ui.stdin.write("l");
    await eventually(() => expect(plain(ui.lastFrame())).toContain("break on L4 event:"));
    ui.stdin.write("ipc from 34 to 36\r");
    await eventually(() => expect(replay.requests).toHaveLength(3));
    await eventually(() => expect(plain(ui.lastFrame())).not.toContain("Esc cancels"));
    ui.stdin.write("g");
    await eventually(() => expect(plain(ui.lastFrame())).toContain("go to"));
    ui.stdin.write(ESC);
    await eventually(() => expect(plain(ui.lastFrame())).not.toContain("go to"));
    expect(replay.requests).toEqual([{ op: "break", at: "uart_wait" }, { op: "break-exit", filter: "io 0x3f8 out" }, { op: "break-l4", filter: "ipc from 34 to 36" }]);
  });

  it("shows progress during a long move and cancels it on Esc", async () => {
    const { ui, replay } = await open();
    replay.hold = true;
    ui.stdin.write("c");
    await eventually(() => expect(replay.requests).toHaveLength(1));
    replay.onProgress({ event: "progress", what: "continuing", icount: 5000, exits: 7 });
    await eventually(() => expect(plain(ui.lastFrame())).toContain("continuing… icount 5000 exits 7"));
    ui.stdin.write("s");
    await settle();
    ui.stdin.write(ESC);
    await eventually(() => expect(replay.cancels).toBe(1));
    // Moves are not queued behind a running one.
    expect(replay.requests).toEqual([{ op: "continue" }]);
    replay.release();
    await eventually(() => expect(plain(ui.lastFrame())).not.toContain("Esc cancels"));
  });

  it("shows an IPv6 gdb address as gdb's target remote reads it, in brackets", async () => {
    const replay = new FakeReplay(snapshot(), { ...INFO, gdb: { host: "::1", port: 1234 } });
    const { ui } = await open(replay);
    await eventually(() => expect(plain(ui.lastFrame())).toContain("gdb [::1]:1234"));
    ui.stdin.write("?");
    await eventually(() => expect(plain(ui.lastFrame())).toContain("gdb -ex 'target remote [::1]:1234'"));
  });

  it("follows gdb beside it: where it attaches, its run, and the panes where it stopped", async () => {
    const replay = new FakeReplay(snapshot(), { ...INFO, gdb: { host: "127.0.0.1", port: 1234 } });
    const { ui } = await open(replay);
    await eventually(() => expect(plain(ui.lastFrame())).toContain("gdb 127.0.0.1:1234"));
    replay.onGdb({ event: "gdb", what: "attached", text: "gdb attached from 127.0.0.1:5555" });
    await eventually(() => expect(plain(ui.lastFrame())).toContain("gdb attached"));
    replay.onGdb({ event: "gdb", what: "running", text: "continuing" });
    replay.onGdb({ event: "gdb", what: "progress", text: "continuing", icount: 90000, exits: 300 });
    await eventually(() => expect(plain(ui.lastFrame())).toContain("gdb: continuing… icount 90000 exits 300  Esc interrupts"));
    // Moves wait for gdb's stop: said, not sent; Esc interrupts gdb's run.
    ui.stdin.write("s");
    await eventually(() => expect(plain(ui.lastFrame())).toContain("gdb is continuing: Esc interrupts it"));
    expect(replay.requests).toEqual([]);
    ui.stdin.write(ESC);
    await eventually(() => expect(replay.cancels).toBe(1));
    const there = snapshot({ pos: { ...replay.first.pos, icount: 91234, exits: 301, at: "insn" }, registers: replay.first.registers.map((r) => (r.name === "eax" ? { ...r, value: 0x1234 } : r)) });
    replay.onGdb({ event: "gdb", what: "stopped", text: "gdb: interrupted", snapshot: there });
    await eventually(() => expect(plain(ui.lastFrame())).toContain("icount 91234"));
    expect(plain(ui.lastFrame())).toContain("gdb: interrupted");
    // gdb's move highlights what it changed, as the TUI's own moves do.
    expect(ui.lastFrame()).toMatch(/\x1b\[33m[^\n]*00001234/);
    ui.stdin.write("s");
    await eventually(() => expect(replay.requests).toEqual([{ op: "step" }]));
  });

  it("shows the snapshot a move answers with, the changed registers highlighted", async () => {
    const { ui, replay } = await open();
    const first = replay.first;
    replay.next = snapshot({ pos: { ...first.pos, icount: 6263, at: "insn" }, registers: first.registers.map((r) => (r.name === "eax" ? { ...r, value: 0xabcd } : r)) });
    ui.stdin.write("s");
    await eventually(() => expect(plain(ui.lastFrame())).toContain("icount 6263"));
    const frame = ui.lastFrame()!;
    // Yellow and bold: the changed register.
    expect(frame).toMatch(/\x1b\[33m[^\n]*0000abcd/);
  });

  it("toggles the help with ? and moves the focus with Tab", async () => {
    const { ui } = await open();
    ui.stdin.write("?");
    await eventually(() => expect(plain(ui.lastFrame())).toContain("reverse continue to a breakpoint"));
    ui.stdin.write("?");
    await eventually(() => expect(plain(ui.lastFrame())).not.toContain("reverse continue to a breakpoint"));
    ui.stdin.write("\t");
    // The VMM pane's title is now the focused one (inverse).
    await eventually(() => expect(ui.lastFrame()).toMatch(/\x1b\[7m[^\n]* VMM /));
  });

  it("scrolls memory with Up/Down in the Guest pane and moves along the timeline with Left/Right in its own", async () => {
    const { ui, replay } = await open();
    ui.stdin.write("\x1b[B");
    await eventually(() => expect(replay.requests).toEqual([{ op: "memory", at: "0x8fff8" }]));
    await eventually(() => expect(plain(ui.lastFrame())).not.toContain("Esc cancels"));
    // Four Tabs in one burst: Guest, VMM, L4, Console, Timeline.
    ui.stdin.write("\t\t\t\t");
    await settle();
    ui.stdin.write("\x1b[C");
    await eventually(() => expect(replay.requests).toHaveLength(2));
    const go = replay.requests[1] as { op: string; to: { kind: string; p: number } };
    // From 6262 of 643874 instructions, one column of 100 further.
    expect(go.op).toBe("go");
    expect(go.to.p).toBeCloseTo((100 * 6262) / 643874 + 1, 6);
  });

  it("goes to the start and end of the timeline with Home and End, and a tenth back or on with PgUp and PgDn", async () => {
    const { ui, replay } = await open();
    ui.stdin.write("\t\t\t\t");
    await settle();
    // xterm's Home and End, and the vt220 keypad's PgUp and PgDn.
    for (const [i, k] of ["\x1b[H", "\x1b[F", "\x1b[6~", "\x1b[5~"].entries()) {
      ui.stdin.write(k);
      await eventually(() => expect(replay.requests).toHaveLength(i + 1));
      await eventually(() => expect(plain(ui.lastFrame())).not.toContain("Esc cancels"));
    }
    const shares = replay.requests.map((r) => (r as { op: string; to: { kind: string; p: number } }).to);
    expect(shares.slice(0, 2)).toEqual([{ kind: "percent", p: 0 }, { kind: "percent", p: 100 }]);
    // The fake replay stays at 6262 of 643874 instructions: a tenth on, and back (not before the start).
    expect(shares[2].p).toBeCloseTo((100 * 6262) / 643874 + 10, 6);
    expect(shares[3]).toEqual({ kind: "percent", p: 0 });
    // In another pane they move nothing.
    ui.stdin.write("\t");
    await settle();
    ui.stdin.write("\x1b[H");
    await settle();
    expect(replay.requests).toHaveLength(4);
  });

  it("redraws at the new size when the terminal is resized", async () => {
    const { ui } = await open();
    await settle();
    const stdout = ui.stdout as unknown as { rows: number; columns: number; emit(e: string): void };
    Object.defineProperty(stdout, "rows", { value: 40, configurable: true });
    Object.defineProperty(stdout, "columns", { value: 120, configurable: true });
    stdout.emit("resize");
    await eventually(() => expect(ui.lastFrame()!.split("\n")).toHaveLength(39));
    // ink drops trailing blanks: lines reach past the 100 columns before, and no further than 120.
    const widths = plain(ui.lastFrame()).split("\n").map((l) => l.length);
    expect(Math.max(...widths)).toBeGreaterThan(100);
    expect(Math.max(...widths)).toBeLessThanOrEqual(120);
  });

  it("draws no colour in monochrome (NO_COLOR), and colour otherwise", async () => {
    const colour = await open();
    await eventually(() => expect(colour.ui.lastFrame()).toMatch(/\x1b\[3\dm/));
    cleanup();
    const mono = await open(new FakeReplay(), true);
    await eventually(() => expect(mono.ui.lastFrame()).not.toMatch(/\x1b\[(3\d|4\d|9\d|10\d)m/));
    expect(mono.ui.lastFrame()).toMatch(/\x1b\[7m/);
  });

  it("quits on q", async () => {
    const { ui, quits } = await open();
    ui.stdin.write("q");
    await eventually(() => expect(quits()).toBe(1));
  });
});

describe("g's targets", () => {
  it.each([
    ["icount:100", { kind: "icount", n: 100 }],
    ["exit:5", { kind: "exit", n: 5 }],
    ["exit 5", { kind: "exit", n: 5 }],
    ["40%", { kind: "percent", p: 40 }],
    ["1.5s", { kind: "ns", n: 1_500_000_000 }],
    ["300ms", { kind: "ns", n: 300_000_000 }],
    ["fib(40)", { kind: "console", text: "fib(40)" }],
    ["icount:0x100", { kind: "icount", n: 256 }],
    ["exit code", { kind: "console", text: "exit code" }],
  ])("reads %s", (text, want) => {
    expect(parseGoTo(text)).toEqual(want);
  });

  it.each(["icount:-1", "exit:abc", "icount:99999999999999999999", "exit:1e3", "-5%", "200%", "-1s"])(
    "refuses %s, written as a position but not one, instead of searching the console for it",
    (text) => {
      expect(parseGoTo(text)).toEqual({ error: expect.stringContaining(`"`) });
    },
  );
});

import { describe, expect, it } from "vitest";
import { INFO, snapshot } from "./testing/fake-replay.js";
import { screen, type Line, type ViewState } from "./screen.js";

const view = (over: Partial<ViewState> = {}): ViewState => ({
  info: INFO,
  snap: snapshot(),
  prev: null,
  focus: "guest",
  help: false,
  prompt: null,
  busy: null,
  message: null,
  consoleBack: 0,
  gdb: null,
  ...over,
});
const text = (l: Line) => l.map((s) => s.text).join("");

describe("the screen", () => {
  it.each([
    [80, 24],
    [120, 40],
    [200, 60],
    [40, 12],
  ])("at %ix%i is one row less than the terminal and exactly its width", (cols, rows) => {
    const full = snapshot({
      source: "/build/reproducible-path/linux-6.1.192/arch/x86/kernel/head_32.S:69",
      vmmReply: { exit: 100, text: "gpr_acdb=[0x60 0x0 0x9de03fd 0x6197ecb] eip=0x802d retire=0x1 (mask 0x1000009)", sent: true },
      reply: { exit: 100, registers: [{ name: "eax", value: 0x60, digits: 8 }], injected: [0x20] },
      ipcs: Array.from({ length: 12 }, (_, k) => `#${203 + k}: 36 -> 34 label 0xf81e mr 0xf81e0020 0x3fd0008 0x1 0x3909b`),
    });
    const gdb = { at: "127.0.0.1:1234", attached: true, run: { what: "continuing", icount: 5, exits: 1 } };
    for (const v of [view(), view({ help: true }), view({ prompt: { key: "g", label: "go to", text: "exit:5" } }), view({ snap: full, gdb }), view({ snap: full, gdb, help: true })]) {
      const lines = screen(v, cols, rows);
      expect(lines).toHaveLength(rows - 1);
      for (const l of lines) expect(text(l)).toHaveLength(cols);
    }
  });

  it("uses the room a taller terminal gives for more disassembly and console", () => {
    const disasm = Array.from({ length: 28 }, (_, k) => ({ addr: 0x8000 + k, bytes: "90", text: "nop", current: k === 4 }));
    const console = Array.from({ length: 30 }, (_, k) => `line ${k}`).join("\n") + "\n";
    const count = (rows: number, re: RegExp) => screen(view({ snap: snapshot({ disasm, console }) }), 80, rows).filter((l) => re.test(text(l))).length;
    expect(count(40, /nop/)).toBeGreaterThan(count(24, /nop/));
    expect(count(40, /^line \d+/)).toBeGreaterThan(count(24, /^line \d+/));
  });

  it("reads the position as icount, exit number and guest time, each as g takes it back", () => {
    const header = text(screen(view(), 80, 24)[0]);
    expect(header).toContain("icount 6262");
    expect(header).toContain("at exit 100");
    expect(header).toContain("guest 0.001263650 s");
  });

  it("highlights the registers the last move changed, and only those", () => {
    const before = snapshot();
    const after = snapshot({ registers: before.registers.map((r) => (r.name === "eax" ? { ...r, value: 0xe0010061 } : r)) });
    const segs = screen(view({ snap: after, prev: before }), 80, 24).flat();
    expect(segs.filter((s) => s.style === "changed").map((s) => s.text)).toEqual(["e0010061"]);
  });

  it("marks the instruction at EIP and names it by its symbol", () => {
    const line = screen(view(), 80, 24).map(text).find((l) => l.includes(">0000802c"));
    expect(line).toContain("in al,dx");
    // Before the instruction, as objdump --prefix-addresses has it: not read as a target's label.
    expect(line).toContain(">0000802c <uart_wait+0x4> in al,dx");
  });

  it("shows EIP's source line under the registers when the symbol file has DWARF, its end when long", () => {
    const lines = (source: string | null, cols = 80) => screen(view({ snap: snapshot({ source }) }), cols, 24).map((l) => text(l).split("|")[0]);
    expect(lines("init/main.c:913").some((l) => l.trimEnd() === "at init/main.c:913")).toBe(true);
    expect(lines(null).some((l) => l.startsWith("at "))).toBe(false);
    const long = "/build/reproducible-path/linux-6.1.192/arch/x86/kernel/head_32.S:69";
    const shown = lines(long).find((l) => l.startsWith("at "))!;
    expect(shown.trimEnd().endsWith("arch/x86/kernel/head_32.S:69")).toBe(true);
    expect(shown).toMatch(/^at …/);
  });

  it("shows the VM exit the replay is at, decoded", () => {
    const all = screen(view(), 80, 24).map(text).join("\n");
    expect(all).toContain("exit 100 IO_INSTRUCTION (here)");
    expect(all).toContain("in port 0x3fd (1 byte)");
  });

  it("shows the VMM's reply to the exit the replay has just left", () => {
    const snap = snapshot({ atExit: false, reply: { exit: 100, registers: [{ name: "eax", value: 0xe0010060, digits: 8 }, { name: "eip", value: 0x802d, digits: 8 }], injected: [0x20] } });
    const right = screen(view({ snap }), 80, 24).map((l) => text(l).split("|")[1] ?? "").join("\n");
    expect(right).toMatch(/changed eax=e0010060 eip=0000802d\s*\n\s*inject 0x20/);
  });

  it("shows the VMM's reply message once sent, and marks one known ahead in history", () => {
    const right = (sent: boolean) =>
      screen(view({ snap: snapshot({ vmmReply: { exit: 100, text: "gpr=[0xe0010060 0x0] rip=0x802d (mask 0x9)", sent } }) }), 80, 24)
        .map((l) => text(l).split("|")[1] ?? "")
        .join("\n");
    expect(right(true)).toMatch(/reply gpr=\[0xe0010060 0x0\]\s+rip=0x802d/);
    expect(right(true)).not.toContain("s to see it");
    expect(right(false)).toMatch(/reply \(ahead\) gpr=/);
  });

  it("lists the L4 threads and, below them, the last IPCs, the latest at the bottom", () => {
    const threads = [32, 34, 35, 36].map((no) => ({ no, id: no << 14, kind: "user" as const, state: "blockedRecv", program: "vmm" }));
    const ipcs = Array.from({ length: 12 }, (_, k) => `#${203 + k}: 36 -> 34 label 0xfff4`);
    const pane = (rows: number) => {
      const lines = screen(view({ snap: snapshot({ threads, ipcs }) }), 80, rows).map((l) => text(l).split("|")[1] ?? "");
      return lines.slice(lines.findIndex((l) => l.startsWith(" L4 ")));
    };
    const small = pane(24);
    expect(small[1]).toContain("ipc 214 switch 215 sys 128 irq 0");
    expect(small.findIndex((l) => l.startsWith("last IPCs"))).toBeGreaterThan(small.findIndex((l) => l.includes("36 vmm blockedRecv")));
    expect(small.filter((l) => l.startsWith("#")).at(-1)).toMatch(/^#214: 36 -> 34/);
    // A taller terminal shows more of them, up to all twelve.
    const count = (rows: number) => pane(rows).filter((l) => l.startsWith("#")).length;
    expect(count(40)).toBeGreaterThan(count(24));
    expect(count(80)).toBe(12);
  });

  it("ends the console pane with the last line the guest printed by this instant", () => {
    const lines = screen(view(), 80, 24).map(text);
    const at = lines.findIndex((l) => l.startsWith(" Console "));
    const shown = lines.slice(at + 1).filter((l) => l.trim() !== "" && l.startsWith("afterglow"));
    expect(shown.at(-1)?.trim()).toBe("afterglow: protected mode ok");
  });

  it("puts the position mark on the timeline at its share of the recording's instructions", () => {
    const snap = snapshot({ pos: { ...snapshot().pos, icount: INFO.endIcount / 2 } });
    const lines = screen(view({ snap }), 80, 24).map(text);
    expect(lines[lines.length - 2].indexOf("^")).toBe(40);
  });

  it("shows a long move's progress and how to cancel it", () => {
    const last = text(screen(view({ busy: { what: "continuing", icount: 123, exits: 4 } }), 80, 24).at(-1)!);
    expect(last).toContain("continuing… icount 123 exits 4");
    expect(last).toContain("Esc cancels");
  });
});

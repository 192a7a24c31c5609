// The whole screen as lines of styled text, from a snapshot of the replay and the view's own
// state: a pure function of both, so that every frame has exactly the terminal's width and one row
// less than its height (ink redraws a frame as tall as the terminal by clearing it: it flickers
// and loses the scrollback). The components (./app.ts) only paint these lines.

import type { RegisterValue, ReplayInfo, Snapshot } from "../replay/remote/protocol.js";

export type Style = "title" | "focus" | "changed" | "current" | "dim" | "mark" | "error" | "key";
export interface Seg {
  text: string;
  style?: Style;
}
export type Line = Seg[];

export const PANES = ["guest", "vmm", "l4", "console", "timeline"] as const;
export type Pane = (typeof PANES)[number];

export interface ViewState {
  info: ReplayInfo;
  snap: Snapshot;
  /** The snapshot before the last move: registers that differ are highlighted. */
  prev: Snapshot | null;
  focus: Pane;
  help: boolean;
  /** A line being typed, for the key that asked for it. */
  prompt: { key: "g" | "b" | "w" | "e" | "l" | "m"; label: string; text: string } | null;
  busy: { what: string; icount: number; exits: number } | null;
  message: { text: string; error: boolean } | null;
  /** Lines the console pane is scrolled back by. */
  consoleBack: number;
  /** gdb served beside the TUI: where it attaches, whether one is, and its run under way. */
  gdb: { at: string; attached: boolean; run: { what: string; icount: number; exits: number } | null } | null;
}

/** The keys, as `?` shows them. */
export const KEYS: [string, string][] = [
  ["s / S", "step / reverse step one instruction"],
  ["n / N", "next / previous VM exit"],
  ["c / C", "continue / reverse continue to a breakpoint"],
  ["g", "go to icount:N, exit:N, 1.5s (guest time), 40%, or console text"],
  ["b", "breakpoint at an address or symbol (again: remove)"],
  ["w", "watchpoint (writes) at an address or symbol"],
  ["e", "break on a VM exit: io, hlt, 'io 0x3f8 out', 'io after'…; 'clear'"],
  ["l", "break on an L4 event: 'ipc to 36', switch, irq…; 'clear'"],
  ["m", "memory view at an address, symbol or register"],
  ["Tab", "focus the next pane: Up/Down scroll the console or the memory,"],
  ["", "Left/Right (PgUp/PgDn: a tenth; Home, End) move along the timeline"],
  ["Esc", "cancel a long move (Ctrl-C too) or a prompt"],
  ["?", "this help"],
  ["q", "quit"],
];

const hex = (v: number, digits = 8): string => (v >>> 0).toString(16).padStart(digits, "0");

/** Guest time as seconds with nanoseconds. */
export function seconds(ns: number): string {
  return `${Math.floor(ns / 1e9)}.${String(ns % 1e9).padStart(9, "0")} s`;
}

/**
 * The position as the header says it: every number can be typed back to `g` (`exit:N` is the
 * instant at exit N, before the VMM handles it: "at exit N"; the instants after it, before the
 * next, are "after exit N").
 */
export function positionText(snap: Snapshot, info: ReplayInfo): string {
  const p = snap.pos;
  const exit = info.machine === "bare" ? "" : p.exits === 0 ? "  no exit yet" : `  ${p.at === "exit" ? "at" : "after"} exit ${p.exits - 1}`;
  const share = ((100 * p.icount) / info.endIcount).toFixed(1);
  return `icount ${p.icount}${exit}  guest ${seconds(p.ns)}  ${share}%`;
}

/** Fits a line to `width` columns exactly: cut, or padded with spaces. */
export function fit(line: Line, width: number): Line {
  const out: Line = [];
  let used = 0;
  for (const s of line) {
    if (used >= width) break;
    const text = s.text.slice(0, width - used);
    if (text.length > 0) out.push({ text, style: s.style });
    used += text.length;
  }
  if (used < width) out.push({ text: " ".repeat(width - used) });
  return out;
}

/** Exactly `height` lines of `width`: cut, or padded with blank lines. */
function block(lines: Line[], width: number, height: number): Line[] {
  const out = lines.slice(0, height).map((l) => fit(l, width));
  while (out.length < height) out.push(fit([], width));
  return out;
}

function title(name: string, focused: boolean, extra = ""): Line {
  return [{ text: ` ${name} `, style: focused ? "focus" : "title" }, { text: extra === "" ? "" : ` ${extra}`, style: "dim" }];
}

/** Cells flowed into lines of at most `width` columns. */
function flow(cells: Line[], width: number): Line[] {
  const lines: Line[] = [];
  let cur: Line = [];
  let used = 0;
  for (const c of cells) {
    const len = c.reduce((n, s) => n + s.text.length, 0);
    if (used > 0 && used + 1 + len > width) {
      lines.push(cur);
      cur = [];
      used = 0;
    }
    if (used > 0) {
      cur.push({ text: " " });
      used++;
    }
    cur.push(...c);
    used += len;
  }
  if (cur.length > 0) lines.push(cur);
  return lines;
}

function registerCells(regs: RegisterValue[], prev: RegisterValue[] | undefined): Line[] {
  return regs.map((r) => {
    const before = prev?.find((p) => p.name === r.name);
    const changed = before !== undefined && before.value !== r.value;
    return [{ text: `${r.name} ` , style: "dim" as Style }, { text: hex(r.value, r.digits), style: changed ? ("changed" as Style) : undefined }];
  });
}

function guestPane(v: ViewState, width: number, height: number): Line[] {
  const s = v.snap;
  const regs = flow(registerCells(s.registers, v.prev?.registers), width);
  const perLine = width >= 75 ? 16 : 8;
  const memRows = Math.max(1, Math.min(4, Math.floor((height - regs.length - 3) / 3)));
  const memory: Line[] = [];
  for (let r = 0; r < memRows; r++) {
    const bytes = s.memory.bytes.slice(r * perLine, (r + 1) * perLine);
    if (bytes.length === 0) break;
    const ascii = bytes.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    memory.push([{ text: `${hex(s.memory.addr + r * perLine)} `, style: "dim" }, { text: bytes.map((b) => hex(b, 2)).join(" ") + "  " }, { text: ascii, style: "dim" }]);
  }
  if (memory.length === 0) memory.push([{ text: `${hex(s.memory.addr)} not mapped`, style: "dim" }]);
  // The source line of EIP (the symbol file's DWARF): its end when it is too long.
  const source: Line[] = s.source === null ? [] : [[{ text: "at ", style: "dim" }, { text: s.source.length > width - 3 ? `…${s.source.slice(s.source.length - (width - 4))}` : s.source, style: "mark" }]];
  const codeRows = Math.max(1, height - 1 - regs.length - source.length - 1 - memory.length);
  const cur = s.disasm.findIndex((d) => d.current);
  const here = s.disasm[cur] as (typeof s.disasm)[number] | undefined;
  const first = Math.max(0, Math.min(cur - Math.floor(codeRows / 3), s.disasm.length - codeRows));
  const code: Line[] = s.disasm.slice(first, first + codeRows).map((d) => {
    // The instruction's own symbol goes after its address, as objdump --prefix-addresses puts it:
    // at the end of the line it would read as the label of a branch's target.
    const line: Line = [{ text: `${d.current ? ">" : " "}${hex(d.addr)} `, style: d.current ? "current" : "dim" }];
    if (d.symbol !== undefined) line.push({ text: `<${d.symbol}> `, style: "dim" });
    line.push({ text: d.text.replace(/ +/, " "), style: d.current ? "current" : undefined });
    return line;
  });
  if (code.length === 0) code.push([{ text: `${hex(s.pos.eip)} not mapped`, style: "dim" }]);
  return block(
    [
      title("Guest", v.focus === "guest", `${s.bits}-bit${here?.symbol !== undefined ? ` in ${here.symbol}` : ""}`),
      ...regs,
      ...source,
      ...block(code, width, codeRows),
      title("memory", false, `@${s.memory.label} ${hex(s.memory.addr)}`),
      ...memory,
    ],
    width,
    height,
  );
}

function vmmPane(v: ViewState, width: number, height: number): Line[] {
  const s = v.snap;
  const lines: Line[] = [title("VMM", v.focus === "vmm", v.info.machine === "bare" ? "bare machine: no VMM" : `${v.info.exits} exits`)];
  if (s.exit !== null) {
    const e = s.exit;
    lines.push([{ text: `exit ${e.exit.n}`, style: "mark" }, { text: ` ${e.reason}` }, { text: s.atExit ? " (here)" : " (last)", style: "dim" }]);
    lines.push([{ text: ` ${e.qualification}` }]);
    lines.push([{ text: ` eip ${hex(e.exit.eip)} icount ${e.exit.icount}`, style: "dim" }]);
    if (e.insn !== undefined) lines.push([{ text: ` ${e.insn.replace(/ +/, " ")}` }]);
    const vr = s.vmmReply !== null && s.vmmReply.exit === e.exit.n ? s.vmmReply : null;
    if (vr !== null) {
      // The VMM's message to the VCPU: sent (the handler has run that far), or ahead in history.
      const label: Line = [{ text: "reply", style: "mark" }, ...(vr.sent ? [] : [{ text: " (ahead)", style: "dim" as Style }])];
      lines.push(...flow([label, ...vr.text.split(" ").map((t) => [{ text: t }])], width));
    }
    if (s.reply !== null && s.reply.exit === e.exit.n) {
      const regs = s.reply.registers.map((r) => `${r.name}=${hex(r.value, r.digits)}`);
      const inject = s.reply.injected.map((v) => `inject 0x${v.toString(16)}`);
      const cells: Line[] = [...regs, ...inject].map((t) => [{ text: t }]);
      lines.push(...flow([[{ text: "changed", style: "mark" }], ...(cells.length > 0 ? cells : [[{ text: "nothing" }]])], width));
    } else if (s.atExit && vr === null) lines.push([{ text: "reply: s to see it", style: "dim" }]);
  } else if (v.info.machine === "stack") lines.push([{ text: "no VM exit yet", style: "dim" }]);
  for (const d of s.devices) lines.push([{ text: d, style: "dim" }]);
  for (const e of [...s.recentExits].reverse().slice(1)) lines.push([{ text: `#${e.n} ${e.reason} ${e.qualification}`, style: "dim" }]);
  return block(lines, width, height);
}

function l4Pane(v: ViewState, width: number, height: number): Line[] {
  const s = v.snap;
  const k = s.kernel;
  const lines: Line[] = [title("L4", v.focus === "l4", k === null ? "bare machine: no kernel" : "")];
  if (k === null) return block(lines, width, height);
  lines.push([{ text: `ipc ${k.ipcs} switch ${k.contextSwitches} sys ${k.syscalls} irq ${k.irqs}`, style: "dim" }]);
  const threads = flow(
    s.threads.map((t) => [{ text: `${t.no} ${t.program ?? t.kind} ` }, { text: t.state, style: t.state === "running" ? ("mark" as Style) : ("dim" as Style) }]),
    width,
  );
  // The threads first, the IPCs below: each gets at least half of what is left when both do not fit.
  const rows = height - 2;
  const ipcRows = Math.min(s.ipcs.length, Math.max(rows - threads.length - 1, Math.floor((rows - 1) / 2)));
  lines.push(...threads.slice(0, rows - (ipcRows > 0 ? ipcRows + 1 : 0)));
  if (ipcRows > 0) {
    lines.push([{ text: "last IPCs", style: "title" }]);
    for (const text of s.ipcs.slice(-ipcRows)) lines.push([{ text }]);
  }
  return block(lines, width, height);
}

function consolePane(v: ViewState, width: number, height: number): Line[] {
  const text = v.snap.console.endsWith("\n") ? v.snap.console.slice(0, -1) : v.snap.console;
  const all = text === "" ? [] : text.split("\n");
  const rows = height - 1;
  const back = Math.min(v.consoleBack, Math.max(0, all.length - rows));
  const shown = all.slice(Math.max(0, all.length - rows - back), all.length - back);
  const extra = back > 0 ? `scrolled back ${back}` : "as at this instant";
  return block([title("Console", v.focus === "console", extra), ...shown.map((l) => [{ text: l.replace(/[\x00-\x1f\x7f]/g, "") }])], width, height);
}

const DENSITY = " .:-=+*#%@";

/** The timeline: exit density along the recording's instructions, and the marks on it. */
function timelinePane(v: ViewState, width: number): Line[] {
  const { info, snap } = v;
  const col = (icount: number) => Math.min(width - 1, Math.max(0, Math.floor((icount / info.endIcount) * width)));
  const sums = new Array<number>(width).fill(0);
  info.density.forEach((n, k) => (sums[Math.min(width - 1, Math.floor((k * width) / info.density.length))] += n));
  const max = Math.max(1, ...sums);
  const strip = sums.map((n) => (n === 0 ? " " : DENSITY[Math.max(1, Math.round((Math.log1p(n) / Math.log1p(max)) * (DENSITY.length - 1)))])).join("");
  const marks = new Array<string>(width).fill(" ");
  for (const i of snap.marks.lines) marks[col(i)] = ".";
  for (const i of snap.marks.checkpoints) marks[col(i)] = "|";
  for (const i of snap.marks.hits) marks[col(i)] = "*";
  const here = col(snap.pos.icount);
  marks[here] = "^";
  const focused = v.focus === "timeline";
  return [
    [{ text: strip.slice(0, here) }, { text: strip[here] === " " ? "_" : strip[here], style: "current" }, { text: strip.slice(here + 1) }],
    [{ text: marks.join("").slice(0, here) , style: "dim" }, { text: "^", style: focused ? "focus" : "mark" }, { text: marks.join("").slice(here + 1), style: "dim" }],
  ];
}

function helpPane(v: ViewState, width: number, height: number): Line[] {
  const lines: Line[] = [title("Keys", true)];
  for (const [k, what] of KEYS) lines.push([{ text: ` ${k.padEnd(7)}`, style: "key" }, { text: what }]);
  if (v.gdb !== null) lines.push([{ text: " gdb    ", style: "key" }, { text: `gdb -ex 'target remote ${v.gdb.at}': moves both views` }]);
  lines.push([]);
  lines.push([{ text: " Timeline: exit density along the instructions; ^ here, * breakpoint hits,", style: "dim" }]);
  lines.push([{ text: " | checkpoints, . console lines. Registers the last move changed are highlighted.", style: "dim" }]);
  return block(lines, width, height);
}

function statusLine(v: ViewState, width: number): Line {
  if (v.prompt !== null) return fit([{ text: `${v.prompt.label}: `, style: "key" }, { text: v.prompt.text }, { text: "_", style: "current" }], width);
  if (v.busy !== null) return fit([{ text: `${v.busy.what}… `, style: "mark" }, { text: `icount ${v.busy.icount} exits ${v.busy.exits}  ` }, { text: "Esc cancels", style: "key" }], width);
  const run = v.gdb?.run;
  if (run && v.message?.error) return fit([{ text: v.message.text, style: "error" }], width);
  if (run) return fit([{ text: `gdb: ${run.what}… `, style: "mark" }, { text: `icount ${run.icount} exits ${run.exits}  ` }, { text: "Esc interrupts", style: "key" }], width);
  const hint = `${v.gdb === null ? "" : v.gdb.attached ? "  gdb attached" : `  gdb ${v.gdb.at}`}  ? help  q quit`;
  const msg = v.message ?? (v.snap.stop !== undefined ? { text: v.snap.stop, error: false } : null);
  const room = Math.max(0, width - hint.length);
  return fit([{ text: (msg?.text ?? "").slice(0, room).padEnd(room), style: msg?.error ? "error" : undefined }, { text: hint, style: "key" }], width);
}

/** The screen for a terminal of `cols` x `rows`: rows - 1 lines of exactly `cols` columns. */
export function screen(v: ViewState, cols: number, rows: number): Line[] {
  const width = Math.max(20, cols);
  const height = Math.max(8, rows - 1);
  const header: Line = fit([{ text: ` ${v.info.name} `, style: "title" }, { text: ` ${positionText(v.snap, v.info)}` }], width);
  const panes = height - 4;
  if (v.help) return [header, ...helpPane(v, width, panes), ...timelinePane(v, width), statusLine(v, width)];
  const consoleRows = Math.max(3, Math.floor(panes * 0.3));
  const top = panes - consoleRows;
  const left = width >= 100 ? Math.floor(width * 0.55) : Math.min(width - 21, 46);
  const right = width - left - 1;
  const vmmRows = Math.ceil(top * 0.55);
  const guest = guestPane(v, left, top);
  const side = [...vmmPane(v, right, vmmRows), ...l4Pane(v, right, top - vmmRows)];
  const rowsTop = guest.map((l, i) => [...l, { text: "|", style: "dim" as Style }, ...side[i]]);
  return [header, ...rowsTop, ...consolePane(v, width, consoleRows), ...timelinePane(v, width), statusLine(v, width)];
}

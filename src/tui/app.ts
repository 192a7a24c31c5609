// The TUI's one component: it keeps the view's state (focus, prompt, help, the last two snapshots),
// turns keys into requests to the replay in its worker (../replay/remote), and paints the lines
// ./screen.ts computes. While a move runs it shows the worker's progress; Esc or Ctrl-C cancels.

import { createElement as h, useEffect, useRef, useState, type ReactElement } from "react";
import { Box, Text, useApp, useInput, useStdout, type Key } from "ink";
import type { Event, GoTo, Reply, ReplayInfo, Request, Snapshot } from "../replay/remote/protocol.js";
import { formatAddress } from "../gdbstub/listen.js";
import { parseNumberArg } from "../gdbstub/monitor.js";
import { PANES, screen, type Style, type ViewState } from "./screen.js";

type Ask = Request extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

/** What the TUI needs of a replay: ./worker/client.ts's RemoteReplay, or a test's stand-in. */
export interface Replay {
  readonly info: ReplayInfo;
  readonly first: Snapshot;
  onProgress: (e: Extract<Event, { event: "progress" }>) => void;
  /** gdb served beside the TUI (info.gdb): its clients, runs and stops. */
  onGdb: (e: Extract<Event, { event: "gdb" }>) => void;
  request(r: Ask): Promise<Reply>;
  cancel(): void;
}

/**
 * What `g` understands: icount:N, exit:N (decimal or 0x hex), a guest time (1.5s, 300ms, 20us,
 * 100ns), a percentage, else console text. What is written as a position but is not one (icount:-1,
 * exit:abc, -5%) is an error, not text to look for: that search would replay the whole recording to
 * say the guest never printed it.
 */
export function parseGoTo(text: string): GoTo | { error: string } {
  const t = text.trim();
  let m = /^(icount|exit)(?::\s*|\s+)(\S.*)$/i.exec(t);
  if (m && (t.includes(":") || /^\d/.test(m[2]))) {
    const kind = m[1].toLowerCase() === "icount" ? "icount" : "exit";
    const n = parseNumberArg(m[2]);
    if (n === undefined) return { error: `${kind}:N wants a whole number from 0 (or 0x hex), not "${m[2]}"` };
    return { kind, n };
  }
  m = /^([-+]?[\d.]+)\s*%$/.exec(t);
  if (m) {
    if (!/^\d+(\.\d+)?$/.test(m[1]) || Number(m[1]) > 100) return { error: `a share of the recording is 0% to 100%, not "${t}"` };
    return { kind: "percent", p: Number(m[1]) };
  }
  m = /^([-+]?[\d.]+)\s*(s|ms|us|ns)$/.exec(t);
  if (m) {
    if (!/^\d+(\.\d+)?$/.test(m[1])) return { error: `a guest time is a number from 0 and s, ms, us or ns, not "${t}"` };
    return { kind: "ns", n: Math.round(Number(m[1]) * { s: 1e9, ms: 1e6, us: 1e3, ns: 1 }[m[2] as "s"]) };
  }
  return { kind: "console", text: t };
}

const PROMPTS = {
  g: "go to (icount:N exit:N 1.5s 40% or console text)",
  b: "breakpoint at",
  w: "watch writes at",
  e: "break on exit",
  l: "break on L4 event",
  m: "memory at",
} as const;
type PromptKey = keyof typeof PROMPTS;
/** Bytes Up and Down move the memory view by. */
const MEMORY_STEP = 16;
/** The share of the recording, in percent, PgUp and PgDn move the timeline by: a tenth of its strip. */
const TIMELINE_PAGE = 10;

export interface AppProps {
  replay: Replay;
  /** Monochrome: no colours, only bold, underline and inverse (NO_COLOR). */
  mono: boolean;
  onQuit: () => void;
}

function useTerminalSize(): { cols: number; rows: number } {
  const { stdout } = useStdout();
  const get = () => ({ cols: stdout.columns || 80, rows: stdout.rows || 24 });
  const [size, setSize] = useState(get);
  useEffect(() => {
    const resized = () => setSize(get());
    stdout.on("resize", resized);
    return () => {
      stdout.off("resize", resized);
    };
  }, [stdout]);
  return size;
}

export function App({ replay, mono, onQuit }: AppProps): ReactElement {
  const { exit } = useApp();
  const size = useTerminalSize();
  const gdb = replay.info.gdb === undefined ? null : { at: formatAddress(replay.info.gdb), attached: false, run: null };
  const initial: ViewState = { info: replay.info, snap: replay.first, prev: null, focus: "guest", help: false, prompt: null, busy: null, message: null, consoleBack: 0, gdb };
  const [view, setView] = useState<ViewState>(initial);
  // The state as the last key left it: keys that come in one burst each see the one before.
  const latest = useRef<ViewState>(initial);
  const set = (f: (v: ViewState) => Partial<ViewState>) => {
    latest.current = { ...latest.current, ...f(latest.current) };
    setView(latest.current);
  };

  useEffect(() => {
    replay.onProgress = (e) => set(() => ({ busy: { what: e.what, icount: e.icount, exits: e.exits } }));
    replay.onGdb = (e) =>
      set((v) => {
        if (v.gdb === null) return {};
        const message = { text: e.text, error: false };
        switch (e.what) {
          case "attached":
            return { gdb: { ...v.gdb, attached: true }, message };
          case "detached":
            return { gdb: { ...v.gdb, attached: false, run: null }, message };
          case "running":
            return { gdb: { ...v.gdb, run: { what: e.text, icount: v.snap.pos.icount, exits: v.snap.pos.exits } }, message: null };
          case "progress":
            return { gdb: { ...v.gdb, run: { what: e.text, icount: e.icount ?? 0, exits: e.exits ?? 0 } } };
          case "stopped":
            // gdb moved the machine: the panes follow, its registers highlighted against before.
            return { gdb: { ...v.gdb, run: null }, snap: e.snapshot ?? v.snap, prev: e.snapshot !== undefined && e.snapshot.pos.icount !== v.snap.pos.icount ? v.snap : v.prev, consoleBack: 0, message };
          case "message":
            return { message };
        }
      });
  }, [replay]);

  const quit = () => {
    onQuit();
    exit();
  };

  const ask = (r: Ask, what: string, moves: boolean) => {
    set((v) => ({ busy: { what, icount: v.snap.pos.icount, exits: v.snap.pos.exits }, message: null }));
    void replay.request(r).then((reply) =>
      set((v) => ({
        busy: null,
        snap: reply.snapshot ?? v.snap,
        prev: moves && reply.snapshot !== undefined ? v.snap : v.prev,
        consoleBack: 0,
        message: reply.ok ? (reply.note !== undefined && !moves ? { text: reply.note, error: false } : null) : { text: reply.error, error: true },
      })),
    );
  };

  const submit = (key: PromptKey, text: string) => {
    if (text.trim() === "") return;
    switch (key) {
      case "g": {
        const to = parseGoTo(text);
        if ("error" in to) return set(() => ({ message: { text: to.error, error: true } }));
        return ask({ op: "go", to }, `going to ${text}`, true);
      }
      case "b":
        return ask({ op: "break", at: text }, "setting a breakpoint", false);
      case "w":
        return ask({ op: "watch", at: text, length: 4 }, "setting a watchpoint", false);
      case "e":
        return ask({ op: "break-exit", filter: text }, "setting an exit breakpoint", false);
      case "l":
        return ask({ op: "break-l4", filter: text }, "setting an L4 event breakpoint", false);
      case "m":
        return ask({ op: "memory", at: text }, "reading memory", false);
    }
  };

  useInput((input: string, key: Key) => {
    // Keys typed faster than the terminal is read come as one string: each in turn.
    if (input.length > 1 && !key.ctrl && !key.meta) {
      for (const ch of input) {
        const enter = ch === "\r" || ch === "\n";
        const tab = ch === "\t";
        onKey(enter || tab ? "" : ch, { ...key, return: enter, tab });
      }
    } else onKey(input, key);
  });

  const onKey = (input: string, key: Key) => {
    const view = latest.current;
    const ctrlC = key.ctrl && input === "c";
    if (view.busy !== null) {
      if (key.escape || ctrlC) replay.cancel();
      return;
    }
    // gdb waits for its step or continue: Esc stops it (gdb sees SIGINT); moves wait for its stop.
    if (view.gdb?.run && view.prompt === null) {
      if (key.escape || ctrlC) return replay.cancel();
      if ("sSnNcCgbwel".includes(input) && input !== "") return set(() => ({ message: { text: `gdb is ${view.gdb!.run!.what}: Esc interrupts it`, error: true } }));
    }
    if (view.prompt !== null) {
      const p = view.prompt;
      if (key.escape || ctrlC) set(() => ({ prompt: null }));
      else if (key.return) {
        set(() => ({ prompt: null }));
        submit(p.key, p.text);
      } else if (key.backspace || key.delete) set(() => ({ prompt: { ...p, text: p.text.slice(0, -1) } }));
      else if (input !== "" && !key.ctrl && !key.meta) set(() => ({ prompt: { ...p, text: p.text + input } }));
      return;
    }
    if (ctrlC || input === "q") return quit();
    if (key.tab) return set((v) => ({ focus: PANES[(PANES.indexOf(v.focus) + (key.shift ? PANES.length - 1 : 1)) % PANES.length] }));
    if (key.escape) return set(() => ({ help: false, message: null }));
    if (key.upArrow && view.focus === "console") return set((v) => ({ consoleBack: v.consoleBack + 1 }));
    if (key.downArrow && view.focus === "console") return set((v) => ({ consoleBack: Math.max(0, v.consoleBack - 1) }));
    if ((key.upArrow || key.downArrow) && view.focus === "guest") {
      const at = (view.snap.memory.addr + (key.upArrow ? -MEMORY_STEP : MEMORY_STEP)) >>> 0;
      return ask({ op: "memory", at: `0x${at.toString(16)}` }, "reading memory", false);
    }
    if ((key.leftArrow || key.rightArrow || key.pageUp || key.pageDown || key.home || key.end) && view.focus === "timeline") {
      if (key.home) return ask({ op: "go", to: { kind: "percent", p: 0 } }, "going to the start", true);
      if (key.end) return ask({ op: "go", to: { kind: "percent", p: 100 } }, "going to the end", true);
      // Left/Right: one column of the strip, the same share of the recording; PgUp/PgDn a tenth of it.
      const here = (100 * view.snap.pos.icount) / view.info.endIcount;
      const step = key.pageUp || key.pageDown ? TIMELINE_PAGE : 100 / size.cols;
      const p = Math.min(100, Math.max(0, here + (key.leftArrow || key.pageUp ? -step : step)));
      return ask({ op: "go", to: { kind: "percent", p } }, `going to ${p.toFixed(1)}%`, true);
    }
    switch (input) {
      case "?":
        return set((v) => ({ help: !v.help }));
      case "s":
        return ask({ op: "step" }, "stepping", true);
      case "S":
        return ask({ op: "reverse-step" }, "stepping back", true);
      case "n":
        return ask({ op: "next-exit" }, "to the next exit", true);
      case "N":
        return ask({ op: "previous-exit" }, "to the previous exit", true);
      case "c":
        return ask({ op: "continue" }, "continuing", true);
      case "C":
        return ask({ op: "reverse-continue" }, "reverse continuing", true);
      case "g":
      case "b":
      case "w":
      case "e":
      case "l":
      case "m":
        return set(() => ({ prompt: { key: input, label: PROMPTS[input], text: "" } }));
    }
  };

  const lines = screen(view, size.cols, size.rows);
  return h(Box, { flexDirection: "column" }, ...lines.map((l, i) => h(Text, { key: i, wrap: "truncate" }, ...l.map((s, k) => paint(s.text, s.style, mono, k)))));
}

/** A segment in its style: colours, or in monochrome only attributes. */
function paint(text: string, style: Style | undefined, mono: boolean, key: number): ReactElement | string {
  if (style === undefined) return text;
  const attrs: { [k: string]: unknown } = { key };
  switch (style) {
    case "title":
      Object.assign(attrs, { bold: true }, mono ? { underline: true } : { color: "cyan" });
      break;
    case "focus":
      Object.assign(attrs, { bold: true, inverse: true }, mono ? {} : { color: "cyan" });
      break;
    case "changed":
      Object.assign(attrs, { bold: true }, mono ? { underline: true } : { color: "yellow" });
      break;
    case "current":
      Object.assign(attrs, { inverse: true }, mono ? {} : { color: "green" });
      break;
    case "dim":
      if (!mono) attrs.color = "gray";
      break;
    case "mark":
      Object.assign(attrs, { bold: true }, mono ? {} : { color: "magenta" });
      break;
    case "error":
      Object.assign(attrs, { bold: true }, mono ? {} : { color: "red" });
      break;
    case "key":
      Object.assign(attrs, mono ? { bold: true } : { color: "blue", bold: true });
      break;
  }
  return h(Text, attrs, text);
}

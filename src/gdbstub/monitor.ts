// `monitor` commands as a table: each command names itself (one or more words: "l4 threads"),
// its arguments and a line of help, and `help` is generated from the table so it cannot go stale.
// A target's `monitor` hook can be one of these dispatchers; the commands themselves (when, exits,
// break-exit, l4 threads) read the Session and live with the code that implements the target.

import type { TargetError } from "./target.js";

export interface MonitorCommand {
  /** The command's words, e.g. "exits" or "l4 threads". */
  name: string;
  /** Argument synopsis for help, e.g. "[N]"; without one the command takes no arguments, and extra words are refused. */
  args?: string;
  help: string;
  /** Runs with the words after the name; returns output text or an error. */
  run(args: string[]): string | TargetError;
}

/** A `monitor` hook over a table of commands, with `help` built in. The longest matching name wins. */
export function monitorDispatcher(commands: readonly MonitorCommand[]): (line: string) => string | TargetError {
  const all: MonitorCommand[] = [
    { name: "help", help: "list the monitor commands", run: () => helpText(all) },
    ...commands,
  ];
  const byLength = [...all].sort((a, b) => words(b.name).length - words(a.name).length);
  return (line) => {
    const w = words(line);
    if (w.length === 0) return helpText(all);
    for (const c of byLength) {
      const name = words(c.name);
      if (!name.every((n, i) => w[i] === n)) continue;
      const args = w.slice(name.length);
      // As gdb refuses `info frame foo`: a word the command would ignore is most likely a mistake.
      if (c.args === undefined && args.length > 0) return { error: "invalid", message: `${c.name}: expected no arguments, not "${args.join(" ")}"` };
      return c.run(args);
    }
    return { error: "invalid", message: `unknown monitor command "${line.trim()}"; try "monitor help"` };
  };
}

function words(s: string): string[] {
  return s.trim().split(/\s+/).filter((x) => x !== "");
}

/** The widest synopsis help sets its text beside; a wider one (break-l4's is 66) gets a line of its own. */
const HEAD_WIDTH = 30;

function helpText(commands: readonly MonitorCommand[]): string {
  const heads = commands.map((c) => c.name + (c.args ? " " + c.args : ""));
  const width = Math.max(...heads.map((h) => h.length).filter((n) => n <= HEAD_WIDTH));
  return heads.map((h, i) => `${h.length > width ? `${h}\n${"".padEnd(width)}` : h.padEnd(width)}  ${commands[i].help}\n`).join("");
}

/** `n` and the noun, plural unless n is 1: "1 checkpoint", "3 checkpoints". */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/**
 * A number argument in decimal or 0x hex, or undefined (for one too large to count exactly too).
 * The one parser of positions' numbers: monitor commands, the TUI's `g` and `replay --to`.
 */
export function parseNumberArg(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = /^0x[0-9a-f]+$/i.test(text) ? parseInt(text.slice(2), 16) : /^\d+$/.test(text) ? Number(text) : NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}

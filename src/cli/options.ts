// Parsers of the commands' option values (commander's argParser): a bad value throws an error
// that names the option, which the CLI prints as one line.

import { parseNumberArg } from "../gdbstub/monitor.js";
import type { Target } from "../replay/timeline.js";
import { UsageError } from "./errors.js";

/** For a whole number too large to count exactly, what the message adds; else nothing. */
function tooLarge(n: number): string {
  return Number.isInteger(n) && n > Number.MAX_SAFE_INTEGER ? ` no larger than ${Number.MAX_SAFE_INTEGER}` : "";
}

/** A positive safe integer, or an error naming the option. */
export function parsePositive(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`${name} wants a positive integer${tooLarge(n)}, not "${v}"`);
  return n;
}

/** The help of --interpret, which run, record and replay take. */
export const INTERPRET_HELP = "run every instruction on the interpreter, compiling nothing: slower, and the very same run";

/** The machine's `jit` setting for --interpret: off with it, else the machine's default. */
export function jitOption(opts: { interpret?: boolean }): boolean | undefined {
  return opts.interpret === true ? false : undefined;
}

/** `--checkpoint-budget MiB`. */
export function parseBudget(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`--checkpoint-budget wants a whole number of MiB from 1, not "${v}"`);
  return n;
}

/** `--to icount:N | exit:N`, N in decimal or 0x hex as gdb's `monitor seek` and the TUI's `g` take it. */
export function parseTarget(v: string): Target {
  const m = /^(icount|exit):(.*)$/.exec(v);
  const n = m ? parseNumberArg(m[2]) : undefined;
  if (!m || n === undefined) throw new UsageError(`--to wants icount:N or exit:N (N decimal or 0x hex), not "${v}"`);
  return m[1] === "icount" ? { at: "step", icount: n } : { at: "exit", exits: n + 1 };
}

/** A count from zero (a whole number of instructions), or an error naming the option. */
export function parseCount(v: string, name: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) throw new UsageError(`${name} wants a whole number from 0${tooLarge(n)}, not "${v}"`);
  return n;
}

/** Seconds (a decimal number of at least a nanosecond, at most 2^53 of them), as nanoseconds, or an error naming the option. */
export function parseSeconds(v: string, name: string): number {
  const s = Number(v);
  const ns = Math.round(s * 1e9);
  if (!/^\s*[0-9.]+(e[+-]?\d+)?\s*$/i.test(v) || !Number.isFinite(s) || ns <= 0 || !Number.isSafeInteger(ns)) {
    // Guest time counts whole nanoseconds, at most 2^53 of them: the range, both ends.
    throw new UsageError(`${name} wants a number of seconds from 0.000000001 (1 ns) to ${Math.floor(Number.MAX_SAFE_INTEGER / 1e9)}, not "${v}"`);
  }
  return ns;
}

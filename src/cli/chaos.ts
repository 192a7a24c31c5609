// `afterglow chaos --runs N --jobs J [guest options]`: many runs of a guest, each on a machine whose
// timing one seed perturbs (src/replay/chaos.ts), spread over worker threads. Runs that fail, or
// whose console departs from --expect, are kept as recordings (chaos-SEED.rec); the others are
// dropped. A table of the ends closes the campaign.

import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { Option, type Command } from "commander";
import { CHAOS_EPOCH_SECONDS, type ChaosConfig } from "../replay/chaos.js";
import { formatSeconds } from "../replay/ends.js";
import { FAILURE_ENDS } from "../replay/recording.js";
import { UsageError } from "./errors.js";
import { makeUserDir } from "./files.js";
import type { ChaosAnswer, ChaosJob } from "./chaos-worker.js";
import { readImage } from "./images.js";
import { parsePositive } from "./options.js";
import { guestOptions, hashCostWarning, limitsOf, loadGuest, type GuestOptions } from "./run.js";
import { shellQuote } from "./shell.js";

interface ChaosOptions extends GuestOptions {
  runs: number;
  jobs: number;
  seed?: number;
  dir: string;
  expect?: string;
  input?: string;
  embed?: boolean;
  hashEvery?: number;
}

const n = (v: number): string => v.toLocaleString("en-US");

export function registerChaos(program: Command): void {
  guestOptions(
    program
      .command("chaos")
      .description("run a guest many times, each on a machine whose timing a seed perturbs within what hardware allows; keep the runs that fail")
      .option("--runs <n>", "how many runs", (v) => parseRuns(v), 20)
      .addOption(
        new Option("--jobs <n>", "runs at a time, on worker threads")
          .argParser((v) => parsePositive(v, "--jobs"))
          .default(availableParallelism(), "one per core"),
      )
      .option("--seed <n>", "the first run's seed (the next runs take the next numbers; default: picked at random)", (v) => parseSeed(v))
      .option("--dir <dir>", "where failing runs' recordings go (chaos-SEED.rec)", "chaos")
      .option("--expect <regex>", "a run whose console does not match this regular expression failed too")
      .option("--input <file>", "console input typed into every run, a line at a time as the guest waits for it")
      .option("--embed", "put the guest images into the kept recordings")
      .option("--hash-every <n>", "instructions between state hashes in the kept recordings", (v) => parsePositive(v, "--hash-every")),
  )
    .addHelpText(
      "after",
      "\nEach run perturbs, by its seed: the RTC's start time and divider phase, the PIT's clock phase,\n" +
        "interrupt delivery latency, the L4 kernel's timeslice, the serial line's character time (when the\n" +
        "UART's THR empties), and when each input line arrives. The seed and the timing are in the\n" +
        "recording's header: `afterglow replay` and `triage` reproduce the run.",
    )
    .action(async (opts: ChaosOptions) => {
      const { guest, ramSize, machine } = loadGuest(opts);
      if (opts.expect !== undefined) {
        try {
          new RegExp(opts.expect, "m");
        } catch (err) {
          throw new UsageError(`--expect: not a regular expression: ${(err as Error).message}`);
        }
      }
      const config: ChaosConfig = {
        guest,
        machine,
        ramSize,
        limits: limitsOf(opts),
        input: opts.input === undefined ? new Uint8Array(0) : readImage(opts.input),
        epochSeconds: CHAOS_EPOCH_SECONDS,
        expect: opts.expect,
        argv: process.argv.slice(2),
        tool: `afterglow ${program.version() ?? ""}`.trim(),
        embed: opts.embed === true,
        hashEvery: opts.hashEvery,
      };
      const warning = opts.hashEvery === undefined ? undefined : hashCostWarning(opts.hashEvery, "each run");
      if (warning !== undefined) process.stderr.write(`${warning}\n`);
      makeUserDir(opts.dir);
      const first = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
      const seeds = { first, count: opts.runs };
      const what = guest.kind === "linux" ? `Linux (${guest.kernelName})` : guest.name ?? "the built-in guest";
      process.stderr.write(
        `afterglow: chaos: ${n(opts.runs)} runs of ${what} ${machine === "stack" ? "in a VM" : "on the bare PC"}, seeds ${first}..${(first + opts.runs - 1) >>> 0}, ${Math.min(opts.jobs, opts.runs)} at a time\n`,
      );
      const status = process.stderr.isTTY ? new ChaosStatus(opts.runs, (s) => process.stderr.write(s)) : undefined;
      const answers = await runPool(config, opts.dir, seeds, Math.min(opts.jobs, opts.runs), (a) => {
        status?.clear();
        if ("error" in a) process.stderr.write(`afterglow: chaos: seed ${a.seed}: internal error: ${a.error.split("\n")[0]}\n`);
        else if (a.failed) process.stderr.write(`afterglow: chaos: seed ${a.seed}: ${a.end.reason}${a.end.detail ? ` (${a.end.detail})` : ""}, kept ${a.kept}\n`);
        status?.ran(a);
      });
      status?.clear();
      process.stdout.write(formatChaosSummary(answers));
      if (answers.some((a) => "error" in a)) process.exitCode = 70;
      else if (answers.some((a) => "failed" in a && a.failed)) process.exitCode = 2;
    });
}

/** Seeds are 32 bits: more runs than that would repeat runs already made. */
const MAX_RUNS = 2 ** 32;

function parseRuns(v: string): number {
  const runs = parsePositive(v, "--runs");
  if (runs > MAX_RUNS) throw new UsageError(`--runs ${v}: there are ${n(MAX_RUNS)} seeds, so at most as many different runs`);
  return runs;
}

function parseSeed(v: string): number {
  const s = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(s) || s > 0xffffffff) throw new UsageError(`--seed wants an integer from 0 to 4294967295, not "${v}"`);
  return s;
}

/** An answer about a run: its end, or an internal error. */
type RunAnswer = Exclude<ChaosAnswer, { cannotKeep: string }>;

/**
 * Runs `seeds.count` seeds from `seeds.first` on `jobs` worker threads; calls `each` as runs
 * finish; resolves with all answers in seed order, or rejects when a failing run's recording
 * cannot be written. Seeds are handed out as workers ask, never listed: a campaign may be long.
 */
function runPool(config: ChaosConfig, dir: string, seeds: { first: number; count: number }, jobs: number, each: (a: RunAnswer) => void): Promise<RunAnswer[]> {
  let handed = 0;
  const answers: RunAnswer[] = [];
  /** Where a seed's run stands in the campaign (seeds wrap past 2^32 - 1). */
  const order = (seed: number) => (seed - seeds.first) >>> 0;
  return new Promise((resolve, reject) => {
    let live = 0;
    const start = () => {
      const w = new Worker(new URL("./chaos-worker.js", import.meta.url), { workerData: { config, dir } });
      live++;
      const next = () => {
        if (handed === seeds.count) {
          void w.terminate();
          return;
        }
        w.postMessage({ seed: (seeds.first + handed++) >>> 0 } satisfies ChaosJob);
      };
      w.on("message", (a: ChaosAnswer) => {
        if ("cannotKeep" in a) return reject(new UsageError(a.cannotKeep));
        answers.push(a);
        each(a);
        next();
      });
      w.on("error", reject);
      w.on("exit", () => {
        if (--live === 0) resolve(answers.sort((a, b) => order(a.seed) - order(b.seed)));
      });
      next();
    };
    for (let k = 0; k < jobs; k++) start();
  });
}

/**
 * The campaign's status line on a terminal's stderr, rewritten as runs finish: a campaign of Linux
 * boots takes hours, and only failures print a line of their own.
 */
export class ChaosStatus {
  private done = 0;
  private failed = 0;
  private shown = false;
  private readonly t0 = Date.now();

  constructor(
    private readonly runs: number,
    private readonly write: (s: string) => void,
  ) {}

  /** A run finished: the line shows it. */
  ran(a: RunAnswer): void {
    this.done++;
    if ("error" in a || a.failed) this.failed++;
    const secs = (Date.now() - this.t0) / 1000;
    this.write(`\r\x1b[Kchaos: ${n(this.done)} of ${n(this.runs)} runs, ${n(this.failed)} failed, ${secs.toFixed(0)} s`);
    this.shown = true;
  }

  /** Takes the line away, for a line of output or the table. */
  clear(): void {
    if (this.shown) this.write("\r\x1b[K");
    this.shown = false;
  }
}

/** The campaign's table: ends by count with their seeds, the failing runs kept, how to look at one. */
export function formatChaosSummary(answers: readonly RunAnswer[]): string {
  const ok = answers.filter((a): a is Exclude<RunAnswer, { error: string }> => !("error" in a));
  const byEnd = new Map<string, { seeds: number[]; failed: boolean }>();
  for (const a of ok) {
    const key = a.failed && !FAILURE_ENDS.includes(a.end.reason) ? `${a.end.reason}, not --expect` : a.end.reason;
    const row = byEnd.get(key) ?? { seeds: [], failed: a.failed };
    row.seeds.push(a.seed);
    byEnd.set(key, row);
  }
  const failed = ok.filter((a) => a.failed);
  const errors = answers.length - ok.length;
  const lines: string[] = [];
  lines.push(`chaos: ${n(answers.length)} runs, ${n(failed.length)} failed${errors > 0 ? `, ${n(errors)} internal errors` : ""}`);
  const rows = [...byEnd].sort((a, b) => b[1].seeds.length - a[1].seeds.length);
  const width = Math.max(8, ...rows.map(([k]) => k.length));
  lines.push(`  ${"end".padEnd(width)}  ${"runs".padStart(6)}  ${"share".padStart(6)}  seeds`);
  for (const [k, row] of rows) {
    const share = ((100 * row.seeds.length) / Math.max(1, answers.length)).toFixed(1);
    const seeds = row.seeds.slice(0, 8).join(" ") + (row.seeds.length > 8 ? " …" : "");
    lines.push(`  ${k.padEnd(width)}  ${n(row.seeds.length).padStart(6)}  ${share.padStart(5)}%  ${seeds}${row.failed ? "  (failed)" : ""}`);
  }
  if (failed.length > 0) {
    lines.push("kept:");
    // The paths in a column of their own: chaos-2.rec above chaos-11.rec.
    const pathWidth = Math.max(...failed.slice(0, 20).map((a) => a.kept!.length));
    for (const a of failed.slice(0, 20)) {
      lines.push(`  ${a.kept!.padEnd(pathWidth)}  ${a.end.reason}${a.end.detail ? `: ${a.end.detail}` : ""} (icount ${n(a.icount)}, guest ${formatSeconds(a.ns)})`);
    }
    if (failed.length > 20) lines.push(`  … and ${n(failed.length - 20)} more`);
    lines.push(`look at one: afterglow triage ${shellQuote(failed[0].kept!)}`);
  }
  const host = ok.reduce((t, a) => t + a.hostMs, 0) / 1000;
  lines.push(`host time: ${host.toFixed(1)} s in all runs`);
  return lines.join("\n") + "\n";
}

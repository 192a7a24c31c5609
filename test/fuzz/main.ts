// `npm run fuzz -- [--seed S] [--count N] [--from K] [--jobs J]`: a fuzzing campaign (./fuzz.ts) on
// J worker threads (default 1), each a contiguous share of the cases, watched: a case that makes no
// progress for HANG_MS of host time is a hang. Prints the seed first, each failure with the command
// that runs its case again, and a tally at the end; exit status 1 when the host threw or hung.

import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { fuzzCase, type CaseResult } from "./fuzz.js";

/** Host time a single case may take before it counts as a hang (a case takes well under a second alone). */
const HANG_MS = 120_000;

interface Job {
  seed: number;
  from: number;
  to: number;
}
type Report = { k: number; result: CaseResult };

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < 0) {
    process.stderr.write(`fuzz: ${name} wants a whole number, not "${process.argv[i + 1]}"\n`);
    process.exit(1);
  }
  return v;
}

if (isMainThread) {
  const seed = arg("--seed", Math.floor(Math.random() * 2 ** 31)) >>> 0;
  const count = arg("--count", 1000);
  const from = arg("--from", 0);
  const jobs = Math.max(1, Math.min(arg("--jobs", 1), count));
  const again = (k: number) => `npm run fuzz -- --seed ${seed} --from ${k} --count 1`;
  process.stdout.write(`fuzz: seed ${seed}, cases ${from}..${from + count - 1}\n`);
  let exceptions = 0, hangs = 0, done = 0;
  const t0 = Date.now();
  /** Runs cases start..end-1 on a worker, and on a new one after a hang or a dead worker. */
  const run = (start: number, end: number): Promise<void> =>
    new Promise((resolve) => {
      if (start >= end) return resolve();
      const w = new Worker(new URL(import.meta.url), { workerData: { seed, from: start, to: end } satisfies Job });
      let next = start;
      let timer = setTimeout(() => hang(), HANG_MS);
      const hang = () => {
        hangs++;
        done++;
        process.stdout.write(`fuzz: HANG in case ${next} (no progress for ${HANG_MS / 1000} s): ${again(next)}\n`);
        void w.terminate().then(() => resolve(run(next + 1, end)));
      };
      w.on("message", (r: Report) => {
        clearTimeout(timer);
        timer = setTimeout(() => hang(), HANG_MS);
        next = r.k + 1;
        done++;
        if (r.result.failure !== undefined) {
          exceptions++;
          process.stdout.write(`fuzz: FAIL case ${r.k} (${r.result.what}): ${r.result.failure}\n  again: ${again(r.k)}\n`);
        }
        if (done % 1000 === 0) process.stdout.write(`fuzz: ${done} cases, ${exceptions} host exceptions, ${hangs} hangs, ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
      });
      w.on("error", (e) => {
        clearTimeout(timer);
        exceptions++;
        done++;
        process.stdout.write(`fuzz: FAIL case ${next} (the worker died): ${e.stack ?? e.message}\n  again: ${again(next)}\n`);
        resolve(run(next + 1, end));
      });
      w.on("exit", () => {
        clearTimeout(timer);
        if (next >= end) resolve();
      });
    });
  const share = Math.ceil(count / jobs);
  await Promise.all(Array.from({ length: jobs }, (_, j) => run(from + j * share, Math.min(from + count, from + (j + 1) * share))));
  process.stdout.write(`fuzz: seed ${seed}: ${done} cases, ${exceptions} host exceptions, ${hangs} hangs (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  process.exitCode = exceptions + hangs > 0 ? 1 : 0;
} else {
  const job = workerData as Job;
  for (let k = job.from; k < job.to; k++) parentPort!.postMessage({ k, result: await fuzzCase(job.seed, k) } satisfies Report);
}

// A worker thread of `afterglow chaos`: runs the seeds it is sent, one at a time, and answers each
// with its end; a failed run's recording it writes into the campaign's directory, a passing one's
// it drops. A recording it cannot write (the disk full, the directory gone) ends the campaign, in
// the user's words.

import { join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { chaosRun, type ChaosConfig } from "../replay/chaos.js";
import type { RunEnd } from "../replay/ends.js";
import { UsageError } from "./errors.js";
import { writeUserFile } from "./files.js";

export interface ChaosJob {
  seed: number;
}

export type ChaosAnswer =
  | { seed: number; end: RunEnd; failed: boolean; icount: number; ns: number; hostMs: number; kept?: string }
  | { seed: number; error: string }
  | { seed: number; cannotKeep: string };

const { config, dir } = workerData as { config: ChaosConfig; dir: string };

parentPort!.on("message", (job: ChaosJob) => {
  const t0 = process.hrtime.bigint();
  let answer: ChaosAnswer;
  try {
    const r = chaosRun(config, job.seed);
    const hostMs = Number(process.hrtime.bigint() - t0) / 1e6;
    let kept: string | undefined;
    if (r.failed) {
      kept = join(dir, `chaos-${job.seed}.rec`);
      writeUserFile(kept, Buffer.concat(r.chunks));
    }
    answer = { seed: job.seed, end: r.end, failed: r.failed, icount: r.icount, ns: r.ns, hostMs, kept };
  } catch (err) {
    answer = err instanceof UsageError ? { seed: job.seed, cannotKeep: err.message } : { seed: job.seed, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
  parentPort!.postMessage(answer);
});

// Chaos mode, after rr's: runs of one guest, each on a machine whose timing is one that real
// hardware allows, chosen from a seed — the RTC's start time and the phase of its divider, the
// PIT's clock phase (when a count written starts), interrupt delivery latency, the L4 kernel's
// timeslice, the serial line's speed (when the UART's THR empties), and when console input
// arrives. Each run is a recording with its seed and timing in
// the header, so a run that failed replays exactly.
//
// The determinism contract holds: the host picks every perturbation from the seed before the run
// (plain data in the machine's configuration: MachineTiming), or feeds input at positions it
// records, as any recording does. Nothing below src/replay draws a random number.

import { DEFAULT_HANG_NS, EndWatch, runScripted, ScriptedInput, type EndLimits, type RunEnd } from "./ends.js";
import { TIMING_LIMITS, type MachineTiming } from "./machine-config.js";
import { FAILURE_ENDS } from "./recording.js";
import { seededRandom } from "./seeded-random.js";
import { Session, type Guest, type MachineKind } from "./session.js";

/**
 * The RTC start chaos runs are spread around (2026-01-01T00:00:00Z), fixed so that a seed alone
 * gives the same run in any campaign, on any day.
 */
export const CHAOS_EPOCH_SECONDS = 1_767_225_600;
/** How far a chaos run's RTC start may be from the campaign's: a year either way. */
const RTC_SPREAD_S = 365 * 24 * 3600;
/** The longest a line of console input may wait after the guest is ready for it: 50 ms of guest time. */
export const MAX_INPUT_DELAY_NS = 50_000_000;

/** What one seed perturbs: the machine's timing, its RTC start, the delay before each input line. */
export interface Perturbation {
  timing: MachineTiming;
  rtcEpochSeconds: number;
  /** Guest ns each console line waits, once the guest listens, before it is typed (the last repeats). */
  inputDelaysNs: number[];
}

/** The perturbation of `seed`, around the campaign's RTC start `epochSeconds`, for `lines` lines of input. */
export function perturbation(seed: number, epochSeconds: number, lines: number): Perturbation {
  const rnd = seededRandom(seed);
  const pick = (r: { min: number; max: number }) => r.min + Math.floor(rnd() * (r.max - r.min + 1));
  const timing: MachineTiming = {
    rtcPhaseTicks: pick(TIMING_LIMITS.rtcPhaseTicks),
    pitPhaseNs: pick(TIMING_LIMITS.pitPhaseNs),
    irqLatencyNs: pick(TIMING_LIMITS.irqLatencyNs),
    timesliceNs: pick(TIMING_LIMITS.timesliceNs),
  };
  const rtc = Math.max(0, epochSeconds + Math.floor((rnd() * 2 - 1) * RTC_SPREAD_S));
  const inputDelaysNs = Array.from({ length: Math.max(1, lines) }, () => Math.floor(rnd() * MAX_INPUT_DELAY_NS));
  // Drawn last, so that a seed perturbs what it did before the UART's timing existed as it did.
  timing.uartTxNs = pick(TIMING_LIMITS.uartTxNs);
  return { timing, rtcEpochSeconds: rtc, inputDelaysNs };
}

/** One chaos run's guest and limits (plain data: it crosses to worker threads). */
export interface ChaosConfig {
  guest: Guest;
  machine: MachineKind;
  ramSize: number;
  limits: EndLimits;
  /** Console input typed into every run. */
  input: Uint8Array;
  /** The campaign's RTC start, around which each run's is chosen. */
  epochSeconds: number;
  /** A console that does not match this (a regular expression's source) is a failure too. */
  expect?: string;
  /** The command line, for the recordings' headers. */
  argv: string[];
  tool: string;
  /** Put the images into the recordings. */
  embed?: boolean;
  /** Instructions between state hashes in the recordings (default: the Session's). */
  hashEvery?: number;
}

export interface ChaosResult {
  seed: number;
  end: RunEnd;
  /** Failed: a failure end, or a console that departs from `expect`. */
  failed: boolean;
  icount: number;
  ns: number;
  /** The recording's bytes, chunk by chunk. */
  chunks: Uint8Array[];
}

/** Console bytes a run keeps for `expect` (the rest of a long console is not matched). */
const CONSOLE_MAX = 4 << 20;

/** One chaos run: the machine perturbed by `seed`, recorded, run to its end. */
export function chaosRun(cfg: ChaosConfig, seed: number): ChaosResult {
  const p = perturbation(seed, cfg.epochSeconds, 64);
  const out: number[] = [];
  const chunks: Uint8Array[] = [];
  let watch: EndWatch | undefined;
  const session = new Session(
    {
      guest: cfg.guest, machine: cfg.machine, ramSize: cfg.ramSize, rtcEpochSeconds: p.rtcEpochSeconds, timing: p.timing,
      console: (b) => {
        watch?.output(b);
        if (out.length < CONSOLE_MAX) out.push(b);
      },
    },
    { sink: (b) => chunks.push(Uint8Array.from(b)), argv: cfg.argv, tool: cfg.tool, seed, embedImages: cfg.embed === true, hashEvery: cfg.hashEvery },
  );
  watch = new EndWatch(session, { ...cfg.limits, hangNs: cfg.limits.hangNs || DEFAULT_HANG_NS });
  let end: RunEnd;
  try {
    end = runScripted(session, watch, new ScriptedInput(cfg.input, p.inputDelaysNs));
  } catch (err) {
    session.end("host-error", err instanceof Error ? err.message : String(err));
    throw err;
  }
  let failed = FAILURE_ENDS.includes(end.reason);
  if (!failed && cfg.expect !== undefined && !new RegExp(cfg.expect, "m").test(Buffer.from(out).toString("latin1"))) {
    failed = true;
    end = { ...end, detail: `the console departs from --expect /${cfg.expect}/ (the run ended: ${end.reason})` };
  }
  session.end(end.reason, end.detail);
  const pos = session.position();
  return { seed, end, failed, icount: pos.icount, ns: pos.ns, chunks };
}

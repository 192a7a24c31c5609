// The status line a long run or replay shows on stderr.

import type { Session } from "../replay/session.js";

/** One status line on stderr, rewritten about once a second: instructions, guest time, speed. */
export class Progress {
  private last = 0n;

  constructor(
    private readonly session: Session,
    private readonly t0: bigint,
  ) {}

  /** Only where it is seen and does not garble the guest's output: stderr a terminal, stdout not. */
  static wanted(): boolean {
    return process.stderr.isTTY === true && !process.stdout.isTTY;
  }

  show(): void {
    const now = process.hrtime.bigint();
    if (now - this.last < 1_000_000_000n) return;
    this.last = now;
    process.stderr.write(`\r\x1b[K${statusText(this.session.position().icount, this.session.guestTimeNs(), Number(now - this.t0) / 1e9)}`);
  }

  clear(): void {
    process.stderr.write("\r\x1b[K");
  }
}

/**
 * The status line's text. A slow run (a state hash every few instructions: `record --hash-every`)
 * is counted in instructions and instructions per second, not as "0M instructions, 0.0 MIPS".
 */
export function statusText(icount: number, guestNs: number, secs: number): string {
  const count = icount < 10_000_000 ? icount.toLocaleString("en-US") : `${(icount / 1e6).toFixed(0)}M`;
  return `${count} instructions, ${(guestNs / 1e9).toFixed(2)} s guest, ${secs.toFixed(0)} s host, ${speedText(icount, secs)}`;
}

/** A run's speed as the status line and the end-of-run lines give it: MIPS, or instructions a second when that would read 0.0. */
export function speedText(icount: number, secs: number): string {
  const rate = icount / Math.max(secs, 1e-9);
  return rate < 100_000 ? `${Math.round(rate).toLocaleString("en-US")} instructions/s` : `${(rate / 1e6).toFixed(1)} MIPS`;
}

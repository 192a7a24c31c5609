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
    const icount = this.session.position().icount;
    const secs = Number(now - this.t0) / 1e9;
    process.stderr.write(
      `\r\x1b[K${(icount / 1e6).toFixed(0)}M instructions, ${(this.session.guestTimeNs() / 1e9).toFixed(2)} s guest, ` +
        `${secs.toFixed(0)} s host, ${(icount / secs / 1e6).toFixed(1)} MIPS`,
    );
  }

  clear(): void {
    process.stderr.write("\r\x1b[K");
  }
}

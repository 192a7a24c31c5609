// The host side of the guest's serial console: guest output to stdout, and stdin typed into the
// guest. A terminal is put in raw mode and passed through byte by byte, as QEMU's -nographic does
// (Ctrl-A x quits, Ctrl-A s shows the run's summary, Ctrl-A Ctrl-A sends a Ctrl-A). Piped input is typed a line at a time whenever
// the guest sits idle with its serial driver listening, the way a person waits for the prompt
// before typing — piped all at once it would be lost in the FIFO long before a shell reads it.

const CTRL_A = 0x01;
const QUIT_SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** Marks an EPIPE on stdout that a run took as its cue to quit, so that main.ts leaves it be. */
export const RUN_QUITS = Symbol("a run quits on it");
const LF = 0x0a;

export interface ConsoleTarget {
  consoleInput(bytes: Uint8Array): number;
  consoleListening(): boolean;
}

export class HostConsole {
  /** Set when the user asked to quit (Ctrl-A x). */
  quit = false;
  /** Set when the user asked for the run's summary (Ctrl-A s); the runner clears it. */
  summaryWanted = false;
  /** The signal that asked to quit (Ctrl-C where the terminal is not raw, kill, a closed terminal), when one did. */
  signal: NodeJS.Signals | undefined;
  private readonly out: number[] = [];
  private pending: number[] = [];
  private ended = false;
  private escape = false;
  private lastByte = LF;
  private wake: (() => void) | undefined;
  private readonly tty: boolean;
  private readonly listening: boolean;
  private readonly onData = (chunk: Buffer) => this.take(chunk);
  private readonly onEnd = () => {
    this.ended = true;
    this.wake?.();
  };

  /** With `input: false` (a replay: history cannot change) the console only prints. */
  constructor(
    private readonly stdin: NodeJS.ReadStream = process.stdin,
    opts: { input?: boolean } = {},
  ) {
    this.listening = opts.input !== false;
    this.tty = this.listening && stdin.isTTY === true;
    if (!this.listening) return;
    if (this.tty) stdin.setRawMode(true);
    stdin.on("data", this.onData);
    stdin.on("end", this.onEnd);
    stdin.on("error", this.onEnd);
  }

  /** A byte the guest sent to its console. */
  output(byte: number): void {
    this.out.push(byte);
    this.lastByte = byte;
    if (byte === LF || this.out.length >= 4096) this.flush();
  }

  /** How a host line on stderr ends: a raw terminal needs the carriage return. */
  lineEnd(): string {
    return this.tty ? "\r\n" : "\n";
  }

  /** Whether the last byte written ended a line (so a status line can follow without a break). */
  atLineStart(): boolean {
    return this.lastByte === LF || this.signal === "SIGPIPE";
  }

  flush(): void {
    // Nobody reads stdout any more: the guest's output goes nowhere while the run ends.
    if (this.signal === "SIGPIPE") this.out.length = 0;
    if (this.out.length > 0) process.stdout.write(Buffer.from(this.out));
    this.out.length = 0;
  }

  /** Types what the terminal has sent, as far as the UART has room; true when anything went in. */
  feedTyped(target: ConsoleTarget): boolean {
    return this.tty ? this.feed(target, this.pending.length) : false;
  }

  /**
   * The guest is idle: a terminal's bytes go in as they are; piped input goes in a line at a
   * time, once the guest listens (or, when `stuck`, because nothing else could ever wake it).
   */
  feedIdle(target: ConsoleTarget, stuck = false): boolean {
    if (this.pending.length === 0) return false;
    if (this.tty) return this.feed(target, this.pending.length);
    if (!stuck && !target.consoleListening()) return false;
    const nl = this.pending.indexOf(LF);
    return this.feed(target, nl < 0 ? this.pending.length : nl + 1);
  }

  /** Whether more input may still be typed: some is pending, or stdin is open (a terminal, a pipe not yet closed). */
  inputOpen(): boolean {
    return this.pending.length > 0 || (this.listening && !this.ended && !this.quit);
  }

  /** Resolves when there is input to type (true), or when none will ever come or the user quit (false). */
  async waitForInput(): Promise<boolean> {
    while (this.pending.length === 0 && !this.ended && !this.quit) {
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    return this.pending.length > 0 && !this.quit;
  }

  /**
   * Until the returned function is called, SIGINT, SIGTERM and SIGHUP ask to quit as Ctrl-A x
   * does, so that a run ends between slices with its summary and a recording with its end record
   * (Ctrl-C is a signal when stdin is not a raw terminal: a pipe, a script, `timeout`). A second
   * signal of the same kind ends the process as the signal would have, for a run that cannot stop.
   */
  quitOnSignals(): () => void {
    const handlers = QUIT_SIGNALS.map((sig) => {
      const handler = () => {
        if (this.signal === sig) {
          uninstall();
          process.kill(process.pid, sig);
          return;
        }
        this.signal ??= sig;
        this.quit = true;
        this.wake?.();
      };
      process.on(sig, handler);
      return [sig, handler] as const;
    });
    // stdout's reader gone (`afterglow record | head`): quit as on a signal, as SIGPIPE would
    // have ended the process, but with the run's end written.
    const onPipe = (err: NodeJS.ErrnoException & { [RUN_QUITS]?: boolean }) => {
      if (err.code !== "EPIPE") return;
      err[RUN_QUITS] = true;
      this.signal ??= "SIGPIPE";
      this.quit = true;
      this.wake?.();
    };
    process.stdout.prependListener("error", onPipe);
    const uninstall = () => {
      for (const [sig, handler] of handlers) process.off(sig, handler);
      process.stdout.off("error", onPipe);
    };
    return uninstall;
  }

  close(): void {
    this.flush();
    if (!this.listening) return;
    this.stdin.off("data", this.onData);
    this.stdin.off("end", this.onEnd);
    this.stdin.off("error", this.onEnd);
    if (this.tty) this.stdin.setRawMode(false);
    this.stdin.pause();
    this.stdin.unref?.();
  }

  private feed(target: ConsoleTarget, n: number): boolean {
    if (n === 0) return false;
    const took = target.consoleInput(Uint8Array.from(this.pending.slice(0, n)));
    this.pending = this.pending.slice(took);
    return took > 0;
  }

  private take(chunk: Buffer): void {
    for (const b of chunk) {
      if (this.tty && this.escape) {
        this.escape = false;
        if (b === 0x78 /* x */) {
          this.quit = true;
          break;
        }
        if (b === 0x73 /* s */) {
          this.summaryWanted = true;
          continue;
        }
        if (b !== CTRL_A) continue;
      } else if (this.tty && b === CTRL_A) {
        this.escape = true;
        continue;
      }
      this.pending.push(b);
    }
    this.wake?.();
  }
}

// The one thing of the TUI the rest of the CLI needs at start: its error for a missing terminal.
// Apart from ./main.ts so that a command that never opens the TUI does not load ink and React
// (most of the CLI's start-up time).

/** The TUI cannot run here (no terminal): the user's to fix, told in one line. */
export class TerminalError extends Error {
  override name = "TerminalError";
}

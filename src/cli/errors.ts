// Errors as the user reads them. Bad input (an option, a file, a recording, a kernel the loader
// cannot boot) is the user's to fix: one line saying what is wrong. Anything else that reaches the
// top is afterglow's bug, and says so: one line that it is an internal error, the stack with
// --debug. Each kind of bad input has its class; a plain Error is never taken for one.

import { CommanderError, InvalidArgumentError } from "commander";
import { ListenError } from "../gdbstub/listen.js";
import { DivergenceError } from "../replay/session.js";
import { RecordingError } from "../replay/recording.js";
import { LinuxBootError } from "../x86/linux-boot.js";
import { ElfError } from "../x86/elf32.js";
import { TerminalError } from "../tui/terminal-error.js";

/** The user asked for something that cannot be: a bad option value, a missing or unfit file. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Exit status of an internal error (sysexits.h's EX_SOFTWARE). */
export const EXIT_INTERNAL = 70;

/** Whether `err` is bad input, told in its message, rather than a bug. */
export function isUserError(err: unknown): err is Error {
  return (
    err instanceof UsageError ||
    err instanceof RecordingError ||
    err instanceof LinuxBootError ||
    err instanceof ElfError ||
    err instanceof TerminalError ||
    err instanceof DivergenceError ||
    err instanceof InvalidArgumentError ||
    err instanceof ListenError
  );
}

/** What to print for an error that ended the command, and the exit status. */
export function reportOf(err: unknown, debug: boolean): { text: string; status: number } {
  if (err instanceof CommanderError) return { text: "", status: err.exitCode };
  if (isUserError(err)) return { text: `afterglow: ${err.message}\n`, status: 1 };
  const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const stack = err instanceof Error && err.stack ? err.stack : what;
  return {
    text: debug
      ? `afterglow: internal error (a bug in afterglow, not in what you asked): ${stack}\n`
      : `afterglow: internal error (a bug in afterglow, not in what you asked): ${what.split("\n")[0]}\n` +
        `afterglow: run the same command with --debug for the stack, and please report it\n`,
    status: EXIT_INTERNAL,
  };
}

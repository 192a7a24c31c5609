// `afterglow tui`: the replay in its worker (../replay/remote), the App painted by ink on this
// terminal's alternate screen (the shell's scrollback stays as it was), until q.

import { createElement as h } from "react";
import { render } from "ink";
import { RemoteReplay } from "./worker/client.js";
import type { OpenReplay, ReplayInfo } from "../replay/remote/protocol.js";
import { App } from "./app.js";
import { TerminalError } from "./terminal-error.js";

const ALT_SCREEN_ON = "\x1b[?1049h";
const ALT_SCREEN_OFF = "\x1b[?1049l";

/** Whether the user asked for no colour (https://no-color.org: NO_COLOR set and not empty). */
export function monochrome(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.NO_COLOR !== undefined && env.NO_COLOR !== "";
}

/**
 * Opens the replay and runs the TUI until the user quits; rejects when the replay cannot start.
 * `onOpened` sees the replay once it runs (gdb beside it listening), before the TUI takes the screen.
 */
export async function runTui(open: OpenReplay, onOpened?: (info: ReplayInfo) => void): Promise<void> {
  if (process.stdin.isTTY !== true || process.stdout.isTTY !== true) throw new TerminalError("the TUI needs a terminal: its input and output must be a TTY");
  const replay = await RemoteReplay.open(open);
  onOpened?.(replay.info);
  process.stdout.write(ALT_SCREEN_ON);
  let quitting: Promise<void> | undefined;
  const app = render(h(App, { replay, mono: monochrome(), onQuit: () => (quitting = replay.close()) }), { exitOnCtrlC: false, patchConsole: false });
  try {
    await app.waitUntilExit();
    await quitting;
  } finally {
    process.stdout.write(ALT_SCREEN_OFF);
  }
}

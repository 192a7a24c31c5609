// The `afterglow` command. Each subcommand lives in its own module and registers itself here.
import { constants as osConstants } from "node:os";
import { Command } from "commander";
import { registerChaos } from "./chaos.js";
import { registerDisasm } from "./disasm.js";
import { registerExplain } from "./explain.js";
import { RUN_QUITS } from "./console.js";
import { reportOf } from "./errors.js";
import { registerGdb } from "./gdb.js";
import { registerGuest } from "./guest.js";
import { registerReplay } from "./replay.js";
import { registerRun } from "./run.js";
import { registerTui } from "./tui.js";
import { registerTriage } from "./triage.js";
import { tuneV8 } from "./v8-tuning.js";

tuneV8();

const program = new Command("afterglow")
  .description("Deterministic record/replay debugger for an emulated IA32 PC")
  .version("0.1.0")
  .option("--debug", "on an internal error, print its stack (it may go anywhere on the command line)")
  // A mistake on the command line is its one line and where the help is, not the whole help,
  // on every command (each inherits this when it is made; `gdb` says more).
  .showHelpAfterError("(--help after the command lists its options)")
  .exitOverride();

registerRun(program);
registerReplay(program);
registerGdb(program);
registerExplain(program);
registerTriage(program);
registerChaos(program);
registerDisasm(program);
registerGuest(program);
registerTui(program);
// Each command took the hint above when it was made; a mistake in afterglow's own arguments
// points at the list of commands.
program.showHelpAfterError("(afterglow --help lists the commands)");

// --debug anywhere before a `--` (after it, arguments are for gdb).
const argv = process.argv.slice(2);
const dashes = argv.indexOf("--");
const ours = dashes < 0 ? argv : argv.slice(0, dashes);
const debug = ours.includes("--debug");
const args = [...ours.filter((a) => a !== "--debug"), ...(dashes < 0 ? [] : argv.slice(dashes))];

// A reader that stops reading (`afterglow disasm vmlinux | head`) is done with the output: end
// quietly with the status of a process SIGPIPE ended, as cat and git do, not with Node's
// unhandled EPIPE and its stack; a run or record first ends as on Ctrl-C, its recording whole.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
    // A run took it to quit (HostConsole.quitOnSignals): it ends its recording first.
    if ((err as { [RUN_QUITS]?: boolean })[RUN_QUITS] === true) return;
    process.exit(128 + osConstants.signals.SIGPIPE);
  });
}

try {
  await program.parseAsync(args, { from: "user" });
} catch (err) {
  // Bad input is reported in one line, never as a stack trace; a bug says it is one.
  const { text, status } = reportOf(err, debug);
  process.stderr.write(text);
  process.exit(status);
}

// The `afterglow` command. Each subcommand lives in its own module and registers itself here.
import { Command, CommanderError } from "commander";
import { registerDisasm } from "./disasm.js";
import { registerExplain } from "./explain.js";
import { registerGdb } from "./gdb.js";
import { registerGuest } from "./guest.js";
import { registerReplay } from "./replay.js";
import { registerRun } from "./run.js";
import { registerTui } from "./tui.js";

const program = new Command("afterglow")
  .description("Deterministic record/replay debugger for an emulated IA32 PC")
  .version("0.1.0")
  .showHelpAfterError()
  .exitOverride();

registerRun(program);
registerReplay(program);
registerGdb(program);
registerExplain(program);
registerDisasm(program);
registerGuest(program);
registerTui(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  // Bad input is reported in one line, never as a stack trace.
  console.error(`afterglow: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

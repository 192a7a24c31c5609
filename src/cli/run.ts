import type { Command } from "commander";

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("run the built-in default guest")
    .action(() => {
      throw new Error("run: not yet implemented");
    });
}

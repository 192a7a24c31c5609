import type { Command } from "commander";

export function registerDisasm(program: Command): void {
  program
    .command("disasm <file>")
    .description("disassemble a flat binary or an ELF file's code, in objdump's -M intel layout")
    .action(() => {
      throw new Error("disasm: not yet implemented");
    });
}

// `afterglow explain-exit FILE N [--depth D]`: how the VMM handled VM exit N, line by line, through
// the V8 inspector (src/inspect/explain.ts).

import type { Command } from "commander";
import { ExplainError, explainExit } from "../inspect/explain.js";
import { parsePositive } from "./options.js";
import { UsageError } from "./errors.js";

export function registerExplain(program: Command): void {
  program
    .command("explain-exit")
    .argument("<file>", "a recording of the stack")
    .argument("<n>", "the VM exit's number (as `monitor exits` and `afterglow info` count them)")
    .description("replay to just before VM exit N and step through the VMM's handling of it: each TypeScript line, the arguments, the locals that changed")
    .option("--depth <d>", "calls below the VMM's exit dispatch to step into (default 1)", (v) => parsePositive(v, "--depth"))
    .option("--image <file>", "the boot image, when the recording does not carry it")
    .option("--kernel <file>", "the kernel, when the recording does not carry it")
    .option("--initrd <file>", "the initrd, when the recording does not carry it")
    .action(async (file: string, n: string, opts: { depth?: number; image?: string; kernel?: string; initrd?: string }) => {
      if (!/^\d+$/.test(n)) throw new UsageError(`explain-exit: the exit number must be a whole number from 0 up, not "${n}"`);
      // Past 2^53 the number would reach the replay rounded, or as one its seek refuses to parse.
      if (!Number.isSafeInteger(Number(n))) throw new UsageError(`explain-exit: there is no exit ${n}: no recording has that many VM exits`);
      const args: string[] = [];
      for (const k of ["image", "kernel", "initrd"] as const) if (opts[k] !== undefined) args.push(`--${k}`, opts[k]!);
      try {
        const lines = await explainExit(file, Number(n), { depth: opts.depth, args });
        process.stdout.write(lines.join("\n") + "\n");
      } catch (e) {
        if (e instanceof ExplainError) throw new UsageError(`explain-exit: ${e.message}`);
        throw e;
      }
    });
}

import type { Command } from "commander";
import { Session, Stop } from "../replay/session.js";
import { builtinGuestPath, readImage } from "./images.js";

const STOP_NAMES: Record<Stop, string> = {
  [Stop.BUDGET]: "instruction limit reached",
  [Stop.HALT]: "guest halted",
  [Stop.EXCEPTION]: "unhandled exception",
  [Stop.SHUTDOWN]: "triple fault (shutdown)",
  [Stop.REQUEST]: "stopped on request",
  [Stop.RESET]: "guest rebooted",
};

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("run a guest (default: the built-in guest) and print a summary")
    .option("--image <file>", "flat boot image loaded at 0x7c00 in real mode (default: built-in guest)")
    .option("--max-insns <n>", "stop after this many instructions", (v) => parsePositive(v, "--max-insns"))
    .option("--ram <MiB>", "RAM size in MiB", (v) => parsePositive(v, "--ram"), 32)
    .action((opts: { image?: string; maxInsns?: number; ram: number }) => {
      const image = readImage(opts.image ?? builtinGuestPath());
      const out: number[] = [];
      const session = new Session({
        bootImage: image,
        ramSize: opts.ram << 20,
        rtcEpochSeconds: Math.floor(Date.now() / 1000),
        console: (b) => {
          out.push(b);
          if (b === 10 || out.length >= 4096) flush(out);
        },
      });
      const t0 = process.hrtime.bigint();
      const stop = session.run({ maxInsns: opts.maxInsns });
      flush(out);
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      const pos = session.position();
      const where = `${pos.cs.toString(16).padStart(4, "0")}:${pos.eip.toString(16).padStart(8, "0")}`;
      let line = `afterglow: ${STOP_NAMES[stop]} at ${where} after ${pos.icount.toLocaleString("en-US")} instructions`;
      if (stop === Stop.EXCEPTION) {
        const e = session.lastException();
        line += ` (vector ${e.vector}${e.errorCode >= 0 ? `, error code 0x${e.errorCode.toString(16)}` : ""})`;
      }
      line += `, ${secs.toFixed(2)} s host, ${(pos.icount / Math.max(secs, 1e-9) / 1e6).toFixed(1)} MIPS`;
      process.stderr.write(line + "\n");
      if (stop !== Stop.HALT && stop !== Stop.RESET) process.exitCode = 2;
    });
}

function flush(out: number[]): void {
  if (out.length > 0) process.stdout.write(Buffer.from(out));
  out.length = 0;
}

function parsePositive(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name} wants a positive integer, not "${v}"`);
  return n;
}

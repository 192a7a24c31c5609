// Real gdb in batch mode on a replay served by `afterglow replay FILE --gdb`, for tests that read
// gdb's transcript.

import { execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../layers.js";

const MAIN = join(ROOT, "dist", "src", "cli", "main.js");

/** gdb in batch mode on `afterglow replay REC --gdb 0 …flags` (no checkpoint cache): the commands, then kill; gdb's transcript. */
export async function gdbOnReplay(rec: string, flags: string[], commands: string[]): Promise<string> {
  const server = spawn(process.execPath, [MAIN, "replay", rec, "--gdb", "127.0.0.1:0", ...flags], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, AFTERGLOW_CACHE: "off" } });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let err = "";
      server.stderr!.on("data", (d: Buffer) => {
        err += d.toString();
        const m = /target remote 127\.0\.0\.1:(\d+)/.exec(err);
        if (m) resolve(Number(m[1]));
      });
      server.on("exit", (code) => reject(new Error(`afterglow replay exited (${code}): ${err}`)));
    });
    const args = ["-batch", "-nx", "-ex", "set pagination off", "-ex", "set remotetimeout 600", "-ex", `target remote 127.0.0.1:${port}`];
    for (const c of [...commands, "kill"]) args.push("-ex", c);
    return await new Promise((resolve, reject) =>
      execFile(process.env.GDB ?? "gdb", args, { timeout: 600_000, maxBuffer: 1 << 24 }, (err, stdout, stderr) => (err?.killed ? reject(err) : resolve(stdout + stderr))),
    );
  } finally {
    server.kill();
  }
}

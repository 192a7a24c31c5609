// `npm run bench`, the peer: the Debian guest of ./linux.ts booted in v86 (the x86-to-WebAssembly
// PC emulator, from npm) on the same machine, to the same marker, so that the bare boot's time
// stands beside a peer's measured in the same conditions rather than a figure quoted from another
// machine (issue 13's target: the bare boot within 2x of v86's). v86 runs in a child process
// (./v86-child.ts) whose own CPU time is taken, since v86 compiles on threads of its own. It boots
// through SeaBIOS, whose images come from Debian's `seabios` package (SEABIOS_DIR picks another
// folder); without them this part is skipped with a line that says what to install.

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface PeerBoot {
  name: string;
  cpuSecs: number;
  hostSecs: number;
  /** Instructions the peer retired to the marker. */
  instructions: number;
}

const TIMEOUT_MS = 600_000;

/** Boots `kernel` with `initrd` in v86 until `marker`; a reason string when it cannot or did not. */
export function bootV86(kernelPath: string, initrdPath: string, cmdline: string, marker: string): PeerBoot | string {
  const biosDir = process.env.SEABIOS_DIR ?? "/usr/share/seabios";
  if (!existsSync(join(biosDir, "bios.bin")) || !existsSync(join(biosDir, "vgabios-stdvga.bin"))) {
    return `skipped (no SeaBIOS in ${biosDir}: \`apt-get install seabios\`)`;
  }
  const require = createRequire(import.meta.url);
  const version = (JSON.parse(readFileSync(require.resolve("v86/package.json"), "utf8")) as { version: string }).version;
  const child = fileURLToPath(new URL("./v86-child.js", import.meta.url));
  const r = spawnSync(process.execPath, [child, kernelPath, initrdPath, biosDir, cmdline, marker], { encoding: "utf8", timeout: TIMEOUT_MS });
  const name = `v86 ${version.split("+")[0]}`;
  if (r.error !== undefined) return `${name}: no ${marker} (${r.error.message})`;
  const report = r.stdout.trim().split("\n").pop() ?? "";
  if (r.status !== 0 || !report.startsWith("{")) {
    const why = r.stderr.trim().split("\n").pop() ?? `exit code ${r.status}`;
    return `${name}: no ${marker} (${why})`;
  }
  const { cpuSecs, hostSecs, instructions } = JSON.parse(report) as { cpuSecs: number; hostSecs: number; instructions: number };
  return { name, cpuSecs, hostSecs, instructions };
}

// `afterglow explain-exit` on the built-in guest's recording: for one exit of each reason it has,
// the VMM's handling as the inspector stepped it, the same on two runs, entering the handler that
// the VMM's own dispatch table names for the reason.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../test/layers.js";
import { gdbOnReplay } from "../../test/support/gdb-batch.js";
import { exitName } from "../l4/api.js";
import { readRecording } from "../replay/recording.js";
import { Session } from "../replay/session.js";
import { EXIT_HANDLERS } from "../vmm/index.js";

const REC = join(ROOT, "recordings", "hello-vm.rec");
const MAIN = join(ROOT, "dist", "src", "cli", "main.js");

function explain(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, "explain-exit", ...args], { encoding: "utf8", timeout: 120_000, env: { ...process.env, AFTERGLOW_CACHE: "off" } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The first exit of each reason in the recording, by number. */
function firstOfEachReason(): [string, number, number][] {
  const exits = Session.replay(readRecording(new Uint8Array(readFileSync(REC)), REC), () => {}).recordedExits();
  const seen = new Map<number, number>();
  for (const e of exits) if (!seen.has(e.reason)) seen.set(e.reason, e.n);
  return [...seen].map(([reason, n]) => [exitName(reason), reason, n]);
}

/** A copy of the built-in guest's recording with one byte of its first chunk flipped. */
function flipped(): string {
  const b = readFileSync(REC);
  b[400] ^= 0xff;
  const file = join(mkdtempSync(join(tmpdir(), "afterglow-explain-")), "flipped.rec");
  writeFileSync(file, b);
  return file;
}

describe("afterglow explain-exit", () => {
  it.each(firstOfEachReason())("steps through the VMM's handling of the first %s exit, the same on two runs", (_name, reason, n) => {
    const a = explain(REC, String(n));
    expect(a.stderr).toBe("");
    expect(a.status).toBe(0);
    const lines = a.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(new RegExp(`^exit #${n} `));
    expect(lines[1]).toMatch(/^ {2}runExit\(vm=Vm, x=\{reason: /);
    // Into the handler the dispatch table names for the reason, with its source lines.
    const handler = EXIT_HANDLERS[reason as keyof typeof EXIT_HANDLERS] as ((...a: unknown[]) => unknown) | undefined;
    if (handler !== undefined) expect(lines.some((l) => l.startsWith(`    ${handler.name}(`))).toBe(true);
    expect(lines.filter((l) => /^ +src\/vmm\/\w+\.ts:\d+ {2}\S/.test(l)).length).toBeGreaterThan(5);
    expect(explain(REC, String(n)).stdout).toBe(a.stdout);
  }, 300_000);

  it("says in one line that an exit past the recording's end does not exist", () => {
    const r = explain(REC, "999999");
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^afterglow: explain-exit: .*999999/);
  }, 120_000);

  it.each([
    ["a number past 2^53", "99999999999999999999", /^afterglow: explain-exit: there is no exit 99999999999999999999: no recording has that many VM exits$/],
    ["a negative number", "-1", /^afterglow: explain-exit: the exit number must be a whole number from 0 up, not "-1"$/],
  ])("says in one line that %s names no exit, and exits 1", (_what, n, message) => {
    const r = explain(REC, n);
    expect(r.stdout).toBe("");
    expect(r.stderr.trimEnd()).toMatch(message);
    expect(r.status).toBe(1);
  }, 120_000);

  // The replay in the child fails before it can be inspected: its error is this process's, said once.
  it.each([
    ["a recording that does not exist", () => "/nonexistent.rec", /^afterglow: explain-exit: cannot read \/nonexistent\.rec: no such file$/],
    ["a file that is not a recording", () => join(ROOT, "README.md"), /^afterglow: explain-exit: .*README\.md is not an afterglow recording/],
    ["a recording with a byte flipped", flipped, /^afterglow: explain-exit: .*flipped\.rec is corrupt: chunk \d+ at byte \d+ fails its checksum$/],
  ])("says in one line why it cannot replay %s, and exits 1", (_what, file, message) => {
    const r = explain(file(), "3");
    expect(r.stdout).toBe("");
    expect(r.stderr.trimEnd().split("\n"), r.stderr).toHaveLength(1);
    expect(r.stderr.trimEnd()).toMatch(message);
    expect(r.status).toBe(1);
  }, 120_000);

  // The stub runs in the process that runs the machine (under --inspect, the child), which traces
  // itself from a worker thread (./self.ts).
  it.each([[[]], [["--inspect", "127.0.0.1:0"]]])("answers monitor explain-exit in gdb as afterglow explain-exit prints it, and leaves the machine where it was (replay %j)", async (flags) => {
    const [, , n] = firstOfEachReason()[0];
    const cli = explain(REC, String(n)).stdout;
    const out = await gdbOnReplay(REC, flags, ["monitor seek exit 300", "monitor when", `monitor explain-exit ${n}`, "monitor when", "monitor explain-exit 99999"]);
    const whens = out.match(/^icount \d+ exits \d+ guest-ns \d+ eip 0x[0-9a-f]+$/gm);
    // The seek's, then monitor when's before and after the explanation.
    expect(whens, out).toHaveLength(3);
    expect(whens![2]).toBe(whens![1]);
    const at = out.indexOf(`exit #${n} `);
    expect(at, out).toBeGreaterThanOrEqual(0);
    expect(out.slice(at, at + cli.length)).toBe(cli);
    const exits = Session.replay(readRecording(new Uint8Array(readFileSync(REC)), REC), () => {}).recordedExits().length;
    expect(out).toContain(`error: the recording has ${exits} VM exits (0 to ${exits - 1}): there is no exit 99999`);
  }, 300_000);
});

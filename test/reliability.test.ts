// A host that nothing breaks, through the CLI as a user meets it: a recording killed mid-run
// replays all it holds; on the machine that made it a recording replays with no other argument;
// `record -o` will not overwrite its own input; bad input reads as the user's to fix and nothing
// else does.

import { execFileSync, spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readRecording, RecordingWriter } from "../src/replay/recording.js";
import { ROOT } from "./layers.js";

const BIN = join(ROOT, "bin", "afterglow.js");
const ECHO = join(ROOT, "guests", "builtin", "echo.bin");

function afterglow(args: string[], opts: { cwd?: string; input?: string } = {}) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 120_000, cwd: opts.cwd, input: opts.input });
}

/** No JavaScript error text, no stack frames: what a user reads. */
function expectNoRawError(stderr: string): void {
  expect(stderr).not.toMatch(/\n\s+at |TypeError|RangeError|ReferenceError|Cannot read properties|Invalid typed array|undefined/);
}

describe("a host that nothing breaks", () => {
  let dir: string;
  beforeAll(() => {
    execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT, stdio: "pipe" });
    dir = mkdtempSync(join(tmpdir(), "afterglow-reliability-"));
  }, 180_000);

  it("replays everything a recording killed with kill -9 while input arrived holds", async () => {
    // The echo guest recorded through a pipe, a line every 40 ms, killed without warning.
    const rec = join(dir, "killed.rec");
    const proc = spawn(process.execPath, [BIN, "record", "-o", rec, "--image", ECHO], { stdio: ["pipe", "pipe", "pipe"] });
    let printed = "";
    proc.stdout!.on("data", (d: Buffer) => (printed += d.toString("latin1")));
    for (let k = 0; k < 40; k++) {
      proc.stdin!.write(`line ${k}\n`);
      await new Promise((r) => setTimeout(r, 40));
    }
    proc.kill("SIGKILL");
    await new Promise((r) => proc.on("exit", r));
    expect(printed).toMatch(/LINE 3\n/);
    const info = afterglow(["info", rec]);
    expect(info.status, info.stderr).toBe(0);
    const exits = Number(/^exits +([\d,]+) VM exits$/m.exec(info.stdout)![1].replace(/,/g, ""));
    const lastRecord = Number(/last record at icount ([\d,]+)/.exec(info.stdout)![1].replace(/,/g, ""));
    expect(info.stdout).toMatch(/^inputs +\d+ console deliveries/m);
    // On this machine the recording finds its image where it was: no --image.
    const r = afterglow(["replay", rec]);
    expect(r.stderr).toMatch(/^afterglow: .*killed\.rec (is truncated at byte \d+|has no end record) \(cut off while recording\): replayed all it holds, to icount [\d,]+, guest [\d.]+ s; every state hash and all [\d,]+ VM exits matched\n$/);
    expect(r.status).toBe(1);
    const replayedExits = Number(/all ([\d,]+) VM exits/.exec(r.stderr)![1].replace(/,/g, ""));
    const reached = Number(/to icount ([\d,]+)/.exec(r.stderr)![1].replace(/,/g, ""));
    expect(replayedExits).toBe(exits);
    expect(reached).toBeGreaterThanOrEqual(lastRecord);
    // The same console: one of the two is a prefix of the other (the recorder prints as the guest
    // writes; its last slice may not have reached the file).
    const shorter = Math.min(printed.length, r.stdout.length);
    expect(r.stdout.slice(0, shorter)).toBe(printed.slice(0, shorter));
    expect(r.stdout.length).toBeGreaterThan(printed.length - 200);
  }, 120_000);

  it.each(["SIGINT", "SIGTERM"] as const)("ends a run that %s stops as Ctrl-A x does: the summary, and a recording with its end that replays", async (sig) => {
    // Ctrl-C is a signal whenever stdin is no raw terminal: a pipe, a script, `timeout`.
    const rec = join(dir, `${sig}.rec`);
    const proc = spawn(process.execPath, [BIN, "record", "-o", rec, "--image", ECHO], { stdio: ["pipe", "pipe", "pipe"] });
    let printed = "", stderr = "";
    proc.stdout!.on("data", (d: Buffer) => (printed += d.toString("latin1")));
    proc.stderr!.on("data", (d: Buffer) => (stderr += d.toString("latin1")));
    proc.stdin!.write("hello\n");
    while (!/HELLO/.test(printed)) await new Promise((r) => setTimeout(r, 20));
    proc.kill(sig);
    const status = await new Promise((r) => proc.on("exit", (code) => r(code)));
    expect(stderr).toMatch(new RegExp(`^afterglow: stopped on request at [0-9a-f:]+ after [\\d,]+ instructions \\(${sig}\\)`, "m"));
    expect(stderr).toMatch(/^VM exits /m);
    expectNoRawError(stderr);
    expect(status).toBe(sig === "SIGINT" ? 130 : 143);
    expect(afterglow(["info", rec]).stdout).toMatch(new RegExp(`^end +user-stop \\(${sig}\\) at icount`, "m"));
    const r = afterglow(["replay", rec]);
    expect(r.stderr).toMatch(new RegExp(`replayed to the recording's end \\(user-stop: ${sig}\\)`));
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(printed);
  }, 120_000);

  it("ends a run whose output's reader goes away (| head) as SIGPIPE would, but with the summary and the recording's end", () => {
    const rec = join(dir, "piped.rec");
    const lines = Array.from({ length: 3000 }, (_, k) => `line ${k}`).join("\n");
    const r = spawnSync("bash", ["-c", `"$0" "$@" 2>"${rec}.err" | head -1 >/dev/null; exit \${PIPESTATUS[0]}`, process.execPath, BIN, "record", "-o", rec, "--image", ECHO], {
      input: lines,
      timeout: 60_000,
    });
    expect(r.status).toBe(141); // 128 + SIGPIPE, as the shell reports a process SIGPIPE ended
    const stderr = readFileSync(`${rec}.err`, "utf8");
    expect(stderr).toMatch(/^afterglow: stopped on request at [0-9a-f:]+ after [\d,]+ instructions \(SIGPIPE\)/);
    expectNoRawError(stderr);
    expect(afterglow(["info", rec]).stdout).toMatch(/^end +user-stop \(SIGPIPE\) at icount/m);
    expect(afterglow(["replay", rec]).status).toBe(0);
  }, 120_000);

  it("replays a recording on the machine that made it with no other argument, checking its images by SHA-256", () => {
    const image = join(dir, "guest.bin");
    copyFileSync(ECHO, image);
    const rec = join(dir, "sub-echo.rec");
    expect(afterglow(["record", "-o", rec, "--image", image], { input: "q" }).status).toBe(0);
    // From another directory, with the image neither given nor beside the recording's name.
    const elsewhere = mkdtempSync(join(tmpdir(), "afterglow-elsewhere-"));
    copyFileSync(rec, join(elsewhere, "moved.rec"));
    const ok = afterglow(["replay", "moved.rec"], { cwd: elsewhere });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^echo: type; q quits\nQecho: bye\n$/);
    expect(afterglow(["info", rec]).stdout).toContain(`at ${image}`);
    // The image changed since: named, and not used.
    writeFileSync(image, readFileSync(join(ROOT, "guests", "builtin", "hello.bin")));
    const changed = afterglow(["replay", "moved.rec"], { cwd: elsewhere });
    expect(changed.status).toBe(1);
    expect(changed.stderr).toBe(`afterglow: moved.rec needs its boot image guest.bin (sha256 ${/sha256 ([0-9a-f]{16})/.exec(afterglow(["info", rec]).stdout)![1]}…): ${image} has changed since it was recorded; give it with --image, or replay a packed recording\n`);
  });

  it("refuses to record over one of its own input images", () => {
    const image = join(dir, "precious.bin");
    copyFileSync(ECHO, image);
    const r = afterglow(["record", "-o", image, "--image", image]);
    expect(r.stderr).toBe(`afterglow: refusing to write the recording ${image} over its own input image ${image}: choose another -o\n`);
    expect(r.status).toBe(1);
    expect(Buffer.compare(readFileSync(image), readFileSync(ECHO))).toBe(0);
    // Through another name for the same file, too.
    const r2 = afterglow(["record", "-o", "./precious.bin", "--image", image], { cwd: dir });
    expect(r2.status).toBe(1);
    expect(Buffer.compare(readFileSync(image), readFileSync(ECHO))).toBe(0);
  });

  it("reads bad input as the user's: RAM no machine has, a recording with a null field", () => {
    for (const [args, message] of [
      [["run", "--ram", "4096"], "afterglow: --ram 4096: guest RAM in a VM is 4 to 2048 MiB in multiples of 4 (or use --bare)\n"],
      [["run", "--bare", "--ram", "4096"], "afterglow: --ram 4096: guest RAM on the bare PC is 1 to 3072 MiB\n"],
      [["run", "--max-time", "soon"], 'afterglow: --max-time wants a number of seconds from 0.000000001 (1 ns) to 9007199, not "soon"\n'],
      // Beyond what guest time counts, either way: the message gives the range, not "greater than zero".
      [["run", "--max-time", "1e-12"], 'afterglow: --max-time wants a number of seconds from 0.000000001 (1 ns) to 9007199, not "1e-12"\n'],
      [["run", "--max-insns", "1e30"], 'afterglow: --max-insns wants a positive integer no larger than 9007199254740991, not "1e30"\n'],
      [["run", "--hang-time", "1e10"], 'afterglow: --hang-time wants a number of seconds from 0.000000001 (1 ns) to 9007199, not "1e10"\n'],
    ] as [string[], string][]) {
      const r = afterglow(args);
      expect(r.stderr, args.join(" ")).toBe(message);
      expect(r.status).toBe(1);
    }
    // A recording rewritten with good checksums and a null where a number belongs.
    const rec = join(dir, "null.rec");
    expect(afterglow(["record", "-o", rec, "--image", ECHO, "--embed"], { input: "q" }).status).toBe(0);
    const r0 = readRecording(new Uint8Array(readFileSync(rec)));
    const header = { ...r0.header, machine: { ...r0.header.machine, ramSize: null as unknown as number } };
    const chunks: Uint8Array[] = [];
    const w = new RecordingWriter((b) => chunks.push(Uint8Array.from(b)), header);
    for (const x of r0.records) w.add(x);
    w.flush();
    const bad = join(dir, "null-field.rec");
    writeFileSync(bad, Buffer.concat(chunks));
    for (const cmd of ["replay", "info", "triage"]) {
      const r = afterglow([cmd, bad]);
      expect(r.stderr, cmd).toMatch(/^afterglow: .*null-field\.rec is corrupt: chunk 0 at byte 8 holds a malformed record: record\.machine\.ramSize is null; it must be an integer from 1 to \d+\n$/);
      expect(r.status).toBe(1);
      expectNoRawError(r.stderr);
    }
  });

  it("takes --debug anywhere on the command line", () => {
    const r = afterglow(["run", "--debug", "--bare", "--max-insns", "100"]);
    expect(r.stderr).toMatch(/^\n?afterglow: limit reached at /);
    expect(r.status).toBe(2);
    expect(afterglow(["--debug", "info", join(ROOT, "recordings", "hello.rec")]).status).toBe(0);
  });
});

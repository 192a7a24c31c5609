// Chaos mode's demo, as a user meets it: `afterglow chaos` on the sample guest with a boot race
// (guests/chaos/race.asm) finds the race within a few dozen runs, keeps the failing runs and
// drops the others, prints a summary table; a kept run triages to the faulting instruction in the
// timer's handler and replays to the same failure, as does the committed recordings/race-chaos.rec.

import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRecording } from "../src/replay/recording.js";
import { ROOT } from "./layers.js";

const BIN = join(ROOT, "bin", "afterglow.js");
const RACE = join(ROOT, "guests", "chaos", "race.bin");
const RACE_ELF = join(ROOT, "guests", "chaos", "race.elf");

function afterglow(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 600_000 });
}

describe("chaos mode on the sample boot race", () => {
  let dir: string;
  let campaign: ReturnType<typeof afterglow>;
  beforeAll(() => {
    execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT, stdio: "pipe" });
    dir = mkdtempSync(join(tmpdir(), "afterglow-chaos-"));
    campaign = afterglow(["chaos", "--runs", "40", "--jobs", "2", "--seed", "1", "--image", RACE, "--hash-every", "1000", "--dir", dir]);
  }, 600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("finds the race within 40 runs, keeps only the failing runs, and sums the campaign up in a table", () => {
    expect(campaign.status, campaign.stderr).toBe(2);
    const kept = readdirSync(dir).sort();
    expect(kept.length).toBeGreaterThanOrEqual(2);
    expect(kept.length).toBeLessThan(20);
    expect(kept).toContain("chaos-2.rec");
    const seeds = kept.map((f) => Number(/^chaos-(\d+)\.rec$/.exec(f)![1])).sort((a, b) => a - b);
    expect(campaign.stdout).toMatch(new RegExp(`^chaos: 40 runs, ${kept.length} failed\\n {2}end +runs +share +seeds\\n`));
    expect(campaign.stdout).toMatch(new RegExp(`\\n {2}halt +${40 - kept.length} +[\\d.]+% +1 `));
    expect(campaign.stdout).toMatch(new RegExp(`\\n {2}triple-fault +${kept.length} +[\\d.]+% +${seeds.slice(0, 8).join(" ")}.*\\(failed\\)\\n`));
    for (const f of kept) {
      const rec = readRecording(new Uint8Array(readFileSync(join(dir, f))));
      // The seed in the header is the file's, and its timing is what that seed perturbed.
      expect(`chaos-${rec.header.seed}.rec`).toBe(f);
      expect(rec.header.machine.timing).toBeDefined();
      expect(rec.end).toMatchObject({ reason: "triple-fault" });
    }
  });

  it("says once, up front, what its small --hash-every costs each run", () => {
    const lines = campaign.stderr.split("\n");
    expect(lines[0]).toMatch(/^afterglow: --hash-every 1,000: each state hash costs about as much host time as 10,000 instructions, so expect each run to run up to 10x slower and write \d+ KB per million instructions/);
    expect(lines.filter((l) => l.includes("--hash-every"))).toHaveLength(1);
  });

  it("triages a kept run to the instruction in the timer's handler that faulted", () => {
    const r = afterglow(["triage", join(dir, "chaos-2.rec"), "--symbols", RACE_ELF]);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stdout).toMatch(/^end\n {2}triple-fault \(a failure\): triple fault at EIP 0x7c85\n/);
    expect(r.stdout).toMatch(/\n {2}0008:0x00007c85 {2}linear 0x00007c85 <rtc_irq\+10> {2}32-bit\n {2}26 ff 05 [0-9a-f ]+ inc +DWORD PTR es:0x[0-9a-f]+\n/);
    // The null selector in ES: the handler ran before the setup stored the timer's.
    expect(r.stdout).toMatch(/\n {2}es 0x0000 {2}cs 0x0008 {2}ss 0x0010 {2}ds 0x0010 /);
    expect(r.stdout).toMatch(/\n {2}race: boot\n/);
  });

  it("replays a kept run, and the committed one, to the same failure with every hash and exit matching", () => {
    const mine = readRecording(new Uint8Array(readFileSync(join(dir, "chaos-2.rec"))));
    const committed = readRecording(new Uint8Array(readFileSync(join(ROOT, "recordings", "race-chaos.rec"))));
    // The seed alone decides the run: a campaign of one seed made the committed recording.
    expect(committed.header.seed).toBe(2);
    expect(committed.end).toEqual(mine.end);
    for (const file of [join(dir, "chaos-2.rec"), join(ROOT, "recordings", "race-chaos.rec")]) {
      const r = afterglow(["replay", file, "--image", RACE]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe("race: boot\n");
      expect(r.stderr).toMatch(/replayed to the recording's end \(triple-fault: triple fault at EIP 0x7c85\) at icount 81,959, .*every state hash and all \d+ VM exits matched/);
    }
  });

  it("passes on the default machine, whose timing the race loses to", () => {
    const r = afterglow(["run", "--image", RACE]);
    expect(r.stdout).toBe("race: boot\nrace: ok\n");
    expect(r.status).toBe(0);
  });
});

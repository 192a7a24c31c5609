// Vitest's global setup: builds src/ into dist/ with tsc (tsconfig.build.json, incremental, so
// an unchanged tree costs a few seconds), before any test file loads, and again before each
// rerun in watch mode. The tests run that build (see vitest.config.ts), as the CLI does: what
// they check is what `afterglow` runs, never an older dist/.

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../layers.js";

function build(): void {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const r = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: ROOT, encoding: "utf8" });
  // Status 2: type errors, files emitted anyway (`npm test` type-checks first and fails on them).
  // Anything else but 0 means dist/ may not match src/: no test may run.
  if (r.status === 2) process.stderr.write(`tsc -p tsconfig.build.json reported errors; testing what it emitted:\n${r.stdout}`);
  else if (r.status !== 0) throw new Error(`tsc -p tsconfig.build.json failed (status ${r.status}):\n${r.stdout}${r.stderr}`);
}

export default function setup(project: { onTestsRerun(cb: () => void): void }): () => void {
  build();
  project.onTestsRerun(build);
  // The replays the tests start keep their checkpoints (src/cli/checkpoints.ts) in a cache of
  // the test run's own, not the user's: the test processes inherit this environment.
  const cache = mkdtempSync(join(tmpdir(), "afterglow-test-cache-"));
  process.env.AFTERGLOW_CACHE ??= cache;
  return () => rmSync(cache, { recursive: true, force: true });
}

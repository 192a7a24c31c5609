// Directories afterglow makes for what it writes: none of them may spin forever where Node's
// recursive mkdir does (a path under /proc), whether the user named it or AFTERGLOW_CACHE did.

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";

/** Runs `code` (an ES module body) in a child, past whose timeout a synchronous spin cannot hide; its stdout. */
function inChild(code: string): { stdout: string; stderr: string; signal: NodeJS.Signals | null } {
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8", timeout: 20_000 });
  return { stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

const dist = (module: string) => JSON.stringify(new URL(`../../dist/src/replay/${module}`, import.meta.url).href);

describe.skipIf(!existsSync("/proc/self"))("directories under /proc, which refuse every child with ENOENT", () => {
  it("are refused by makeDirs with node:fs's error, where Node's recursive mkdir spins forever", () => {
    const r = inChild(`import { makeDirs } from ${dist("dirs.js")}; try { makeDirs("/proc/afterglow-nowhere/a"); } catch (e) { console.log(e.code, e.syscall); }`);
    expect(r.signal, "still making the directory after 20 s").toBeNull();
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("ENOENT mkdir\n");
  }, 30_000);

  it("are refused when the checkpoint cache lives there (AFTERGLOW_CACHE), not waited for", () => {
    const r = inChild(`import { saveCheckpoints } from ${dist("checkpoint-cache.js")}; try { saveCheckpoints("/proc/afterglow-nowhere/checkpoints/x", []); } catch (e) { console.log(e.code); }`);
    expect(r.signal, "still saving after 20 s").toBeNull();
    expect(r.stdout).toBe("ENOENT\n");
  }, 30_000);
});

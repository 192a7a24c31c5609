// `afterglow replay FILE --gdb … --inspect …` on the built-in guest's recording, driven as its
// users drive it (test/support/inspect-scenario.ts): a breakpoint by TypeScript line in the VMM's
// port-I/O handler hits at the Nth serial exit with the exit's port and value in scope, and again
// with the same values after gdb's reverse-continue; then the replay runs to its end matching.
// And an inspector address that cannot be listened on is refused, as gdb's is.

import { spawnSync } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../test/layers.js";
import { breakpointHitsAgain } from "../../test/support/inspect-scenario.js";

const REC = join(ROOT, "recordings", "hello-vm.rec");
const MAIN = join(ROOT, "dist", "src", "cli", "main.js");

describe("afterglow replay --inspect with gdb", () => {
  it("a breakpoint by TypeScript line in the VMM's port-I/O handler hits again with the same values after gdb's reverse-continue", async () => {
    await breakpointHitsAgain(REC, [], { n: 3 });
  }, 120_000);
});

describe("afterglow replay --inspect on an address it cannot listen on", () => {
  /** `afterglow replay REC …flags`, which must end at once: none of these waits for a client. */
  function replay(...flags: string[]): { status: number | null; stderr: string } {
    const r = spawnSync(process.execPath, [MAIN, "replay", REC, ...flags], { encoding: "utf8", timeout: 60_000, env: { ...process.env, AFTERGLOW_CACHE: "off" } });
    return { status: r.status, stderr: r.stderr };
  }

  it.each([[[]], [["--gdb", "127.0.0.1:0"]]])("says in one line that the inspector's port is in use, and exits 1 (with %j)", async (gdb) => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    try {
      const r = replay("--inspect", `127.0.0.1:${(taken.address() as AddressInfo).port}`, ...gdb);
      expect(r.stderr).toMatch(/^afterglow: cannot listen on 127\.0\.0\.1:\d+: the address is in use \(.*\)\n$/);
      expect(r.status).toBe(1);
    } finally {
      taken.close();
    }
  }, 60_000);

  it("says in one line that this machine has no such address, and exits 1", () => {
    const r = replay("--inspect", "8.8.8.8:9333");
    expect(r.stderr).toBe("afterglow: cannot listen on 8.8.8.8:9333: this machine has no such address\n");
    expect(r.status).toBe(1);
  }, 60_000);
});

// A VM exit's path (the CPU's exit and entry, the L4 kernel's IPC, the VMM's handler and reply)
// allocates almost nothing: the VMM reuses one exit, one handler context and its reply, one job,
// and makes each system call and console item once. What is left is state the kernel and VMM keep
// between steps as plain data (an IPC's result, a reply queued behind console output). Measured
// with V8's sampling heap profiler over the serial guest, an exit every five instructions.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { allocated } from "../bench/heap.js";
import { packageRoot } from "../src/cli/images.js";
import { Session } from "../src/replay/session.js";

describe("the VM exit path", () => {
  it("allocates a few hundred bytes per exit at most, end to end", async () => {
    const image = new Uint8Array(readFileSync(join(packageRoot(), "guests", "builtin", "serial.bin")));
    const s = new Session({ guest: { kind: "image", bytes: image }, machine: "stack", ramSize: 8 << 20, console: () => {}, rtcEpochSeconds: 0 });
    // Past the start, and long enough for V8 to optimize the path.
    s.run({ maxInsns: 800_000 });
    const e0 = s.exitCount();
    const bytes = await allocated(() => s.run({ maxInsns: s.position().icount + 500_000 }));
    const exits = s.exitCount() - e0;
    expect(exits).toBeGreaterThan(50_000);
    // About 200 bytes today; 1,900 before the VMM reused its exit objects.
    expect(bytes / exits).toBeLessThan(400);
  });
});

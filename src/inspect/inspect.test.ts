// `afterglow replay FILE --gdb … --inspect …` on the built-in guest's recording, driven as its
// users drive it (test/support/inspect-scenario.ts): a breakpoint by TypeScript line in the VMM's
// port-I/O handler hits at the Nth serial exit with the exit's port and value in scope, and again
// with the same values after gdb's reverse-continue; then the replay runs to its end matching.

import { join } from "node:path";
import { describe, it } from "vitest";
import { ROOT } from "../../test/layers.js";
import { breakpointHitsAgain } from "../../test/support/inspect-scenario.js";

describe("afterglow replay --inspect with gdb", () => {
  it("a breakpoint by TypeScript line in the VMM's port-I/O handler hits again with the same values after gdb's reverse-continue", async () => {
    await breakpointHitsAgain(join(ROOT, "recordings", "hello-vm.rec"), [], { n: 3 });
  }, 120_000);
});

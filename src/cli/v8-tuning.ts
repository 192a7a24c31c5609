// V8's settings for the processes that run the machine: the CLI and the bench's.

import { setFlagsFromString } from "node:v8";

/**
 * Caps the bytecode TurboFan inlines into one function at 460, half V8's default of 920. Each
 * compiled block (../machine/cpu/jit) is a large generated function, every way out of it a call
 * TurboFan inlines, and a Linux boot optimizes some 900 of them in its first 3 G instructions:
 * with the default that took 14 s of a compiler thread's time (15 ms a block), which was never
 * idle, so blocks waited in V8's baseline tier for their optimized code. With the cap it took
 * 5.2 s. The boot takes 5 to 10% less CPU time; its host time moved by less than the machine's
 * noise (three full boots each way one after the other: 20.4 to 20.9 s against 21.2 to 22.9 s;
 * four pairs side by side: even). The compiled CPU loop runs as fast, the interpreter 4% slower.
 * V8 reads the flag at each compilation (inlinings in a boot's first 1 G instructions: 811 set
 * here, 835 set on the command line, 1,259 by default), so setting it once the process runs is in
 * time.
 */
export function tuneV8(): void {
  setFlagsFromString("--max-inlined-bytecode-size-cumulative=460");
}

// How long one execution of a repeated string instruction runs: REP_CHUNK iterations at most (one
// under single-step), after which EIP stays at it and the next fetch continues it, so interrupts
// come between chunks as a CPU takes them between iterations. The CPU (src/machine/cpu/ops/string.ts)
// and the VMM's string I/O (src/vmm/io.ts, one chunk per exit) chunk alike, so an interrupt comes at
// the same iteration bare and in a VM. The instruction retires once, when its last chunk is done.

/** Iterations of a repeated string instruction per execution. */
export const REP_CHUNK = 1024;

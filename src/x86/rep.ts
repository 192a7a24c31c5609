// How long one execution of a repeated string instruction runs: REP_CHUNK iterations at most (one
// under single-step; the CPU also never runs past its run's end), after which EIP stays at it and
// the next fetch continues it, so interrupts come between chunks as a CPU takes them between
// iterations. The CPU (src/machine/cpu/ops/string.ts) and the VMM's string I/O (src/vmm/io.ts, one
// chunk per exit) both retire each iteration, so a guest retires the same count bare and in a VM.

/** Iterations of a repeated string instruction per execution. */
export const REP_CHUNK = 1024;

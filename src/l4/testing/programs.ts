// Small user programs for driving the kernel without a CPU: a script that makes a list of system
// calls and logs every result, and an echo server. The kernel's tests use them; so can tests of
// other user tasks. They are ordinary programs over the user API.

import {
  NEVER,
  NIL_THREAD,
  ZERO,
  ipcFailed,
  msgTag,
  replyWait,
  tagLabel,
  tagT,
  tagU,
  wait,
  type ProgramTable,
  type Syscall,
  type SyscallResult,
  type ThreadId,
  type UserProgram,
  type Utcb,
} from "../api.js";
import { FakePlatform } from "./fake-platform.js";
import { Kernel, type KernelConfig } from "../kernel.js";

export interface ScriptStep {
  call: Syscall;
  /** Loaded into MR0... before the call. */
  mr?: number[];
  acceptor?: number;
}

export interface ScriptEntry {
  result: SyscallResult;
  /** For IPC results: the message received, MR0..MR(u+t). */
  mr: number[];
  errorCode: number;
}

export interface ScriptState {
  steps: ScriptStep[];
  i: number;
  log: ScriptEntry[];
}

export function script(...steps: ScriptStep[]): { name: string; state: ScriptState } {
  return { name: "script", state: { steps, i: 0, log: [] } };
}

/** Runs its steps in order, then sleeps forever (a receive from itself that never comes). */
export const SCRIPT: UserProgram<ScriptState> = {
  step(s: ScriptState, utcb: Utcb, r: SyscallResult): Syscall {
    if (r.op !== "start") {
      const n = r.op === "ipc" ? 1 + tagU(r.tag) + tagT(r.tag) : 0;
      s.log.push({ result: r, mr: Array.from(utcb.mr.subarray(0, n)), errorCode: utcb.errorCode });
    }
    if (s.i >= s.steps.length) {
      return { op: "ipc", to: NIL_THREAD, from: utcb.myGlobalId, sendTimeout: ZERO, recvTimeout: NEVER };
    }
    const st = s.steps[s.i++];
    if (st.mr) for (let k = 0; k < st.mr.length; k++) utcb.mr[k] = st.mr[k];
    if (st.acceptor !== undefined) utcb.acceptor = st.acceptor;
    return st.call;
  },
};

export interface EchoState {
  /** [sender, label] of every request served. */
  served: [ThreadId, number][];
}

/**
 * A server loop: answers each request with label + 1 and every untyped word + 1, via
 * ReplyWait. Failed receives are logged as label -1 and it waits again.
 */
export const ECHO: UserProgram<EchoState> = {
  step(s: EchoState, utcb: Utcb, r: SyscallResult): Syscall {
    if (r.op !== "ipc") return wait();
    if (ipcFailed(r.tag)) {
      s.served.push([NIL_THREAD, -1]);
      return wait();
    }
    const label = tagLabel(r.tag);
    const u = tagU(r.tag);
    s.served.push([r.from, label]);
    for (let i = 1; i <= u; i++) utcb.mr[i] = (utcb.mr[i] + 1) >>> 0;
    utcb.mr[0] = msgTag(label + 1, u, 0);
    return replyWait(r.from);
  },
};

export function echo(): { name: string; state: EchoState } {
  return { name: "echo", state: { served: [] } };
}

export const TEST_PROGRAMS: ProgramTable = { script: SCRIPT, echo: ECHO };

export const MB = 1 << 20;

/**
 * A kernel on a FakePlatform: 16 MiB of RAM with the top MiB the kernel's, 16 interrupt lines,
 * the test programs (plus any given). sigma0 is thread 32, user threads start above it.
 */
export function bootTest(extra: Partial<KernelConfig> = {}): { p: FakePlatform; k: Kernel } {
  const p = new FakePlatform(16 * MB, 16);
  const k = new Kernel(p, {
    kernelMemory: { base: 15 * MB, size: MB },
    ...extra,
    programs: { ...TEST_PROGRAMS, ...extra.programs },
  });
  return { p, k };
}

/** The log of a thread running SCRIPT. */
export function scriptLog(k: Kernel, id: ThreadId): ScriptEntry[] {
  return (k.thread(id)!.progState as ScriptState).log;
}

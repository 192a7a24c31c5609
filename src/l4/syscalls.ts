// The system-call entry (Pistachio's arch glue and kernel-interface page): a user program's next
// request, dispatched to the part of the kernel that serves it. What user code does without a
// system call is a request too: memory and port accesses through the thread's mappings (a missing
// one is a fault IPC, the access redone after its reply) and CPU exceptions.

import { L4Error, Rights, type KernelInfo, type Syscall, type SyscallResult } from "./api.js";
import { Vec } from "../x86/vectors.js";
import { COSTS } from "./costs.js";
import { doIpc, ioFault, pageFault, raise } from "./ipc.js";
import { halt, schedule, threadSwitch } from "./sched.js";
import { spaceControl, unmap } from "./space.js";
import { privileged, type KernelContext, type Tcb } from "./state.js";
import { exchangeRegisters, threadControl } from "./thread.js";

const START: SyscallResult = { op: "start" };
const WRITE_DONE: SyscallResult = { op: "write" };
const OUT_DONE: SyscallResult = { op: "out" };

/** Runs user thread t for one unit: the operation a fault interrupted, or its program's next request. */
export function runUser(k: KernelContext, t: Tcb): void {
  if (t.pendingOp) {
    const op = t.pendingOp;
    t.pendingOp = null;
    execute(k, t, op);
    return;
  }
  const prog = t.program !== null ? k.programs[t.program] : undefined;
  if (!prog) {
    halt(k, t);
    return;
  }
  const res = t.restart || t.result === null ? START : t.result;
  t.restart = false;
  t.result = null;
  const req = prog.step(t.progState, t.utcb, res);
  k.s.stats.userSteps++;
  k.platform.charge(req.work ?? COSTS.USER_STEP);
  execute(k, t, req);
}

function execute(k: KernelContext, t: Tcb, req: Syscall): void {
  const op = req.op;
  if (op !== "read" && op !== "write" && op !== "in" && op !== "out" && op !== "raise") {
    k.platform.charge(COSTS.SYSCALL);
    k.s.stats.syscalls++;
    k.observer?.syscall?.(t.id, op);
  }
  switch (req.op) {
    case "ipc":
      k.platform.charge(COSTS.IPC);
      doIpc(k, t, req.to, req.from, req.sendTimeout, req.recvTimeout);
      return;
    case "kernelInterface":
      t.result = { op: "kernelInterface", kip: kernelInfo(k) };
      return;
    case "systemClock":
      t.result = { op: "systemClock", ns: k.platform.now() };
      return;
    case "threadSwitch":
      threadSwitch(k, t, req.dest);
      return;
    case "schedule":
      schedule(k, t, req);
      return;
    case "exchangeRegisters":
      exchangeRegisters(k, t, req);
      return;
    case "threadControl":
      threadControl(k, t, req);
      return;
    case "spaceControl":
      spaceControl(k, t, req);
      return;
    case "memoryControl":
      if (!privileged(k, t)) {
        t.utcb.errorCode = L4Error.NO_PRIVILEGE;
        t.result = { op: "memoryControl", result: 0 };
      } else t.result = { op: "memoryControl", result: 1 };
      return;
    case "unmap":
      unmap(k, t, req.control);
      return;
    case "read":
    case "write":
      memAccess(k, t, req);
      return;
    case "in":
    case "out":
      portAccess(k, t, req);
      return;
    case "raise":
      raise(k, t, req.vector, req.errorCode);
      return;
    default: {
      // Not a system call: #UD to the exception handler, as an unknown trap would be.
      raise(k, t, Vec.UD, 0);
    }
  }
}

/** The kernel interface page (KernelInterface), as data. */
export function kernelInfo(k: KernelContext): KernelInfo {
  const km = k.kernelMemory;
  return {
    apiVersion: 0x84,
    apiSubversion: 0x80,
    kernelId: "Afterglow L4 (after L4Ka::Pistachio, X.2 + VT-x)",
    irqLines: k.irqLines,
    systemBase: k.irqLines,
    userBase: k.userBase,
    sigma0: k.sigma0,
    rootTask: k.rootTask,
    pageSizeMask: 0xfffff000,
    memory: [
      { base: 0, size: k.platform.memorySize, type: "conventional" },
      { base: km.base, size: km.size, type: "kernel" },
    ],
    defaultTimeslice: k.defaultTimeslice,
    vmx: true,
  };
}

function memAccess(k: KernelContext, t: Tcb, req: Syscall & { op: "read" | "write" }): void {
  const write = req.op === "write";
  const len = write ? req.data.length : req.length;
  const need = write ? Rights.W : Rights.R;
  k.platform.charge(COSTS.MEM_ACCESS + COSTS.MEM_LINE * Math.ceil(len / 64));
  const addr = req.addr >>> 0;
  for (let a = addr; a < addr + len; a = (Math.floor(a / 4096) + 1) * 4096) {
    const tr = k.mapdb.translate(t.space, false, a);
    if (!tr || (tr.rights & need) !== need) {
      pageFault(k, t, a, need, req);
      return;
    }
  }
  const out = write ? null : new Uint8Array(len);
  let done = 0;
  while (done < len) {
    const a = addr + done;
    const chunk = Math.min(len - done, 4096 - (a % 4096));
    const pa = k.mapdb.translate(t.space, false, a)!.paddr;
    if (write) k.platform.writeBytes(pa, req.data.subarray(done, done + chunk));
    else k.platform.readBytes(pa, out!.subarray(done, done + chunk));
    done += chunk;
  }
  t.result = out ? { op: "read", data: out } : WRITE_DONE;
}

function portAccess(k: KernelContext, t: Tcb, req: Syscall & { op: "in" | "out" }): void {
  k.platform.charge(COSTS.PORT_IO);
  const need = req.op === "in" ? Rights.R : Rights.W;
  for (let p = req.port; p < req.port + req.size; p++) {
    if (!k.mapdb.maps(t.space, true, p)) {
      ioFault(k, t, p, need, req);
      return;
    }
  }
  if (req.op === "in") t.result = { op: "in", value: k.platform.ioRead(req.port, req.size) };
  else {
    k.platform.ioWrite(req.port, req.size, req.value);
    t.result = OUT_DONE;
  }
}

// `monitor explain-exit N`: the VMM's handling of an exit traced in the process that runs the
// machine, as `afterglow explain-exit` traces it in a child (./explain.ts). A process cannot step
// itself with its own inspector, since a pause stops the thread that would send the next step;
// a worker thread can (node:inspector's connectToMainThread). The gdb stub's monitor commands are
// synchronous, so the main thread waits for the worker with Atomics.wait: the inspector still
// reaches it there (V8 runs inspector messages while it waits), and the worker's pauses and steps
// happen while the main thread runs the handling. Works with or without --inspect: the V8
// inspector takes more than one session.

import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import { ExplainError } from "./handler-trace.js";
import type { FromTracer, ToTracer } from "./self-worker.js";

/** How long the worker may take to start and arm, or to hand back its lines, in ms. */
const WAIT = 30_000;

let tracer: { worker: Worker; port: MessagePort } | null = null;

function started(): { worker: Worker; port: MessagePort } {
  if (tracer === null) {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(new URL("./self-worker.js", import.meta.url), { workerData: { port: port2 }, transferList: [port2] });
    // It lives as long as the process, idle between traces, and keeps nothing alive.
    worker.unref();
    port1.unref();
    tracer = { worker, port: port1 };
  }
  return tracer;
}

/**
 * The lines of the VMM's handling of an exit, `depth` calls below its dispatch: `run` runs the
 * handling (on this thread) while the worker's inspector session steps through it.
 */
export function traceHandling(depth: number, run: () => void): string[] {
  const { port } = started();
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const send = (m: ToTracer): void => port.postMessage(m);
  const answer = (): FromTracer | undefined => receiveMessageOnPort(port)?.message as FromTracer | undefined;
  send({ t: "arm", depth, flag });
  if (Atomics.wait(flag, 0, 0, WAIT) === "timed-out") throw new ExplainError("the inspector did not start");
  const failed = answer();
  if (failed !== undefined && "error" in failed) throw new ExplainError(failed.error);
  try {
    run();
  } finally {
    send({ t: "finish" });
    if (Atomics.wait(flag, 0, 1, WAIT) === "timed-out") throw new ExplainError("the inspector did not finish");
  }
  const r = answer();
  if (r === undefined) throw new ExplainError("the inspector sent no trace");
  if ("error" in r) throw new ExplainError(r.error);
  return r.lines;
}

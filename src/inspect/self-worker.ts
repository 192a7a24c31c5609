// The worker of ./self.ts: an inspector session on this process's main thread
// (connectToMainThread), which can pause and step the main thread because it runs on its own. It
// arms a HandlerTrace when told, and hands its lines back when told the handling ran; the main
// thread waits on `flag` meanwhile (1: armed, 2: done).

import { Session } from "node:inspector/promises";
import { workerData, type MessagePort } from "node:worker_threads";
import { HandlerTrace } from "./handler-trace.js";

/** From the main thread. */
export type ToTracer = { t: "arm"; depth: number; flag: Int32Array } | { t: "finish" };
/** To the main thread, once the flag says done. */
export type FromTracer = { lines: string[] } | { error: string };

const port = (workerData as { port: MessagePort }).port;
const session = new Session();
session.connectToMainThread();
let trace: HandlerTrace | null = null;
let flag: Int32Array | null = null;

function signal(f: Int32Array, v: number): void {
  Atomics.store(f, 0, v);
  Atomics.notify(f, 0);
}

port.on("message", (m: ToTracer) => {
  void (async () => {
    if (m.t === "arm") {
      flag = m.flag;
      try {
        trace = new HandlerTrace({ send: (method, params) => session.post(method, params), on: (event, listener) => session.on(event, (msg: { params: never }) => listener(msg.params)) }, m.depth);
        await trace.arm();
      } catch (e) {
        trace = null;
        port.postMessage({ error: (e as Error).message } satisfies FromTracer);
      }
      signal(m.flag, 1);
      return;
    }
    const f = flag!;
    try {
      port.postMessage({ lines: await trace!.finish() } satisfies FromTracer);
    } catch (e) {
      port.postMessage({ error: (e as Error).message } satisfies FromTracer);
    } finally {
      session.removeAllListeners();
      trace = null;
      signal(f, 2);
    }
  })();
});

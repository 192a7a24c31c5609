// The worker thread's side: a ReplayDriver (./driver.ts) on the OpenReplay it was started with,
// answering the requests of ./protocol.ts one at a time; a cancel is taken at once.

import { parentPort, workerData } from "node:worker_threads";
import { ReplayDriver } from "./driver.js";
import type { FromWorker, OpenReplay, Request } from "./protocol.js";

const port = parentPort!;
const send = (m: FromWorker): void => port.postMessage(m);

let driver: ReplayDriver;
try {
  driver = new ReplayDriver(workerData as OpenReplay, (what, p) => send({ event: "progress", what, icount: p.icount, exits: p.exits }));
  send({ event: "ready", info: driver.info, snapshot: driver.snapshot() });
} catch (e) {
  send({ event: "failed", error: (e as Error).message });
  process.exit(1);
}

let queue = Promise.resolve();
port.on("message", (req: Request) => {
  if (req.op === "cancel") {
    driver.cancel();
    return;
  }
  queue = queue.then(async () => {
    send(await driver.handle(req));
    if (req.op === "close") port.close();
  });
});

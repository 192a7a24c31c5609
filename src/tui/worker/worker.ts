// The worker thread's side: a ReplayDriver (./driver.ts) on the OpenReplay it was started with,
// answering the requests of ./protocol.ts one at a time; a cancel is taken at once. With
// OpenReplay's gdb, a gdb stub serves the same replay from this thread too (./gdb.ts).

import { parentPort, workerData } from "node:worker_threads";
import { ReplayDriver } from "../../replay/remote/driver.js";
import { ListenError } from "../../gdbstub/listen.js";
import { RecordingError } from "../../replay/recording.js";
import { serveGdbBeside } from "./gdb.js";
import type { FromWorker, OpenReplay, Request } from "../../replay/remote/protocol.js";

const port = parentPort!;
const send = (m: FromWorker): void => port.postMessage(m);
const open = workerData as OpenReplay;

let driver: ReplayDriver;
let gdb: Awaited<ReturnType<typeof serveGdbBeside>> | undefined;
try {
  driver = new ReplayDriver(open, (what, p) => send({ event: "progress", what, icount: p.icount, exits: p.exits }));
  if (open.gdb !== undefined) gdb = await serveGdbBeside(driver, open.gdb, send);
  send({ event: "ready", info: { ...driver.info, gdb: gdb?.server.address }, snapshot: driver.snapshot() });
} catch (e) {
  // The error's class does not cross to the tool's thread: its kind does, so that the CLI tells a
  // port in use or a bad recording in one line, not as a bug of afterglow's.
  const kind = e instanceof ListenError ? "listen" : e instanceof RecordingError ? "recording" : undefined;
  send({ event: "failed", error: e instanceof ListenError ? `gdb ${e.message}` : (e as Error).message, kind });
  process.exit(1);
}

let queue = Promise.resolve();
port.on("message", (req: Request) => {
  if (req.op === "cancel") {
    driver.cancel();
    gdb?.target.interruptRun();
    return;
  }
  queue = queue.then(async () => {
    if (req.op === "close") await gdb?.server.close();
    send(await driver.handle(req));
    if (req.op === "close") port.close();
  });
});

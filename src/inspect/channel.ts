// `afterglow replay FILE --inspect [HOST:]PORT`: the machine in a child process with the V8
// inspector open, gdb's connection held by this process (see README.md for why a child process).
//
// The parent listens for gdb and relays the bytes of its connection over the child's IPC channel;
// the child (`afterglow replay FILE --gdb-channel`, under `node --inspect`) runs the replay, the
// Debugger and the gdb stub as `afterglow replay --gdb` does, with its connection made of those
// messages (src/cli/gdb-serve.ts, listenGdbOnChannel). While the inspector holds the child paused
// in a handler, the parent keeps gdb's socket open and queues what gdb sends; the child takes it
// up when it runs again.

import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Socket } from "node:net";
import { fileURLToPath } from "node:url";

/** Where to listen: a host and a port (0: any free one). */
export interface ListenAddress {
  host: string;
  port: number;
}

/** From the parent to the child: a gdb client came, sent bytes (latin1), went away. */
export type ToMachine = { t: "connect"; remote: string } | { t: "data"; b: string } | { t: "disconnect"; remote: string };
/** From the child: it listens (messages before are lost), bytes for gdb, or the stub closed the connection. */
export type FromMachine = { t: "ready" } | { t: "data"; b: string } | { t: "close" };

/**
 * Sends `m` to the child unless its channel is gone. The child can exit between the check and the
 * write (gdb's kill ends it while the parent still relays gdb's last bytes or an ack): that write
 * fails with EPIPE, which Node would raise as an unhandled 'error' event without the callback.
 * Nothing is lost: a child that has exited takes no more messages, and its exit is reported.
 */
export function sendToChild(child: ChildProcess, m: ToMachine): void {
  if (child.connected) child.send(m, () => {});
}

export interface InspectOptions {
  /** gdb's address: the child serves gdb through this process. Without, the child replays waiting at its start for the inspector. */
  gdb?: ListenAddress;
  /** The child's `afterglow replay` arguments after FILE (images, --checkpoint-budget, --to …). */
  args: string[];
  /** Told gdb's address once it can attach. */
  onGdbListening?: (at: ListenAddress) => void;
}

/**
 * Runs `afterglow replay FILE …` in a child under the V8 inspector at `inspect`; resolves with
 * the child's exit code once it ended.
 */
export async function replayInspected(file: string, inspect: ListenAddress, opts: InspectOptions): Promise<number> {
  const main = fileURLToPath(new URL("../cli/main.js", import.meta.url));
  const host = inspect.host.includes(":") ? `[${inspect.host}]` : inspect.host;
  // Without gdb nothing else holds the machine at its start: the inspector's resume starts it.
  const flag = opts.gdb === undefined ? "--inspect-brk" : "--inspect";
  const start = () =>
    spawn(process.execPath, [`${flag}=${host}:${inspect.port}`, "--enable-source-maps", main, "replay", file, ...opts.args, ...(opts.gdb ? ["--gdb-channel"] : [])], {
      stdio: ["inherit", "inherit", "inherit", "ipc"],
    });
  const exitOf = (child: ReturnType<typeof start>) =>
    new Promise<number>((resolve, reject) => {
      // Only spawning can fail here: a failed send tells its callback (sendToChild).
      child.on("error", reject);
      child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  if (opts.gdb === undefined) return exitOf(start());
  let child: ReturnType<typeof start> | undefined;
  let client: Socket | undefined;
  // What gdb sends before the child listens waits for it.
  let early: ToMachine[] | null = [];
  const toChild = (m: ToMachine): void => {
    if (early !== null) early.push(m);
    else if (child !== undefined) sendToChild(child, m);
  };
  const server = createServer((socket) => {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    if (client !== undefined) {
      socket.destroy();
      return;
    }
    client = socket;
    socket.setNoDelay(true);
    toChild({ t: "connect", remote });
    socket.on("data", (chunk) => toChild({ t: "data", b: chunk.toString("latin1") }));
    socket.on("error", () => {});
    socket.on("close", () => {
      if (client === socket) client = undefined;
      toChild({ t: "disconnect", remote });
    });
  });
  // gdb's port first: if it cannot be had, no child is started to print its lines after the error.
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.gdb!.port, opts.gdb!.host, () => resolve());
  });
  child = start();
  const ended = exitOf(child);
  child.on("message", (m: FromMachine) => {
    if (m.t === "ready") {
      const queued = early ?? [];
      early = null;
      for (const q of queued) toChild(q);
    } else if (m.t === "data") client?.write(Buffer.from(m.b, "latin1"));
    else client?.end();
  });
  const bound = server.address();
  const at = { host: opts.gdb.host, port: typeof bound === "object" && bound !== null ? bound.port : opts.gdb.port };
  opts.onGdbListening?.(at);
  const code = await ended;
  client?.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return code;
}

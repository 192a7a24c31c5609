// `afterglow explain-exit FILE N [--depth D]`: how the VMM handled VM exit N, line by line. The
// replay runs in a child under the V8 inspector (./channel.ts); this process is both its gdb, over
// the child's IPC channel, and its inspector client, through chrome-remote-interface. gdb's
// `monitor seek exit N` puts the machine at the exit before the VMM handles it; the trace's
// breakpoint at the VMM's exit dispatch (./handler-trace.ts) and a continue to the next exit then
// let the inspector step through the handling. The machine is deterministic and stepping changes
// none of its state, so the output is the same on every run.

import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import CDP from "chrome-remote-interface";
import { sendToChild, type FromMachine, type ToMachine } from "./channel.js";
import { ExplainError, HandlerTrace, type Protocol } from "./handler-trace.js";
import { ROOT } from "./source-map.js";

export { ExplainError };

/** How long the child may take to save its checkpoints once told to end, in ms. */
const SAVE_WAIT = 60_000;

/** gdb remote protocol over the child's channel: one request at a time, its reply (console output skipped). */
class ChannelRsp {
  private buf = "";
  private waiting: ((p: string) => void) | null = null;
  output = "";

  constructor(private readonly send: (m: ToMachine) => void) {
    send({ t: "connect", remote: "explain-exit" });
  }

  receive(m: FromMachine): void {
    if (m.t !== "data") return;
    this.buf += m.b;
    for (;;) {
      this.buf = this.buf.replace(/^\++/, "");
      const p = /^\$([^#]*)#[0-9a-f]{2}/.exec(this.buf);
      if (!p) return;
      this.buf = this.buf.slice(p[0].length);
      this.send({ t: "data", b: "+" });
      if (p[1].startsWith("O") && p[1] !== "OK") {
        this.output += Buffer.from(p[1].slice(1), "hex").toString();
        continue;
      }
      const w = this.waiting;
      this.waiting = null;
      w?.(p[1]);
    }
  }

  request(payload: string): Promise<string> {
    let sum = 0;
    for (const ch of payload) sum = (sum + ch.charCodeAt(0)) & 0xff;
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.send({ t: "data", b: `$${payload}#${sum.toString(16).padStart(2, "0")}` });
    });
  }

  /** A monitor command's output; an error reply as an ExplainError with the stub's message. */
  async monitor(cmd: string): Promise<string> {
    this.output = "";
    const r = await this.request("qRcmd," + Buffer.from(cmd).toString("hex"));
    // The stub says a command's error as its output (src/gdbstub/stub.ts).
    if (r !== "OK" || this.output.startsWith("error: ")) throw new ExplainError(this.output.replace(/^error: /, "").trim() || `${cmd}: ${r}`);
    return this.output;
  }
}

export interface ExplainOptions {
  /** Calls below runExit to step into (default 1: runExit and the handler it dispatches to). */
  depth?: number;
  /** The child's `afterglow replay` arguments after FILE (images). */
  args?: string[];
}

/** The explanation of exit `n` of the recording `file`, as lines of text. */
export async function explainExit(file: string, n: number, opts: ExplainOptions = {}): Promise<string[]> {
  const depth = opts.depth ?? 1;
  const main = join(ROOT, "dist", "src", "cli", "main.js");
  const child = spawn(process.execPath, ["--inspect=127.0.0.1:0", main, "replay", file, ...(opts.args ?? []), "--gdb-channel"], {
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  // 'close', not 'exit': by then the child's stderr is read to its end, its error line with it.
  let status: number | undefined;
  const exited = new Promise<number>((resolve) => child.on("close", (code) => resolve((status = code ?? 1))));
  // The child ending before the trace has its lines is the failure, in the child's own words (a
  // recording it cannot read, an image it cannot find …). The trace races it: nothing else would
  // settle a wait on a child that is gone, and Node would end this process silently, with status
  // 13 for the unsettled top-level await.
  const failed = new Promise<never>((_resolve, reject) => {
    child.on("error", (e) => reject(new ExplainError(`cannot start the replay: ${e.message}`)));
    void exited.then((code) => reject(new ExplainError(childError(stderr) ?? `the replay ended (exit status ${code}) before it could be inspected`)));
  });
  failed.catch(() => {});
  let lines: string[] | undefined;
  let error: unknown;
  try {
    lines = await Promise.race([failed, traceChild(child, () => stderr, n, depth)]);
  } catch (e) {
    error = e;
  }
  // The trace ends the session with gdb's kill: the child saves its checkpoints for the next
  // session on the recording, as every replay that travels does, and exits.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, SAVE_WAIT)))]);
  clearTimeout(timer);
  child.kill();
  if (lines !== undefined) return lines;
  // The inspector's socket closes as the child dies, maybe before its end is seen here: a trace cut
  // short that way is the child's failure, said in its words.
  if (!(error instanceof ExplainError) && status !== undefined && status !== 0) await failed.catch((e: unknown) => (error = e));
  throw error;
}

/** The child's error line (its `afterglow: ` prefix taken off), if it wrote one. */
function childError(stderr: string): string | undefined {
  return stderr.split("\n").find((l) => l.startsWith("afterglow:"))?.replace(/^afterglow: /, "");
}

/** This process as the child's gdb and its inspector client: the trace of exit `n`, then gdb's kill. */
async function traceChild(child: ChildProcess, stderr: () => string, n: number, depth: number): Promise<string[]> {
  const ready = new Promise<void>((resolve) => child.on("message", (m: FromMachine) => m.t === "ready" && resolve()));
  const port = await new Promise<number>((resolve) => {
    const listening = (): void => {
      const m = /Debugger listening on ws:\/\/[^:]+:(\d+)\//.exec(stderr());
      if (m === null) return;
      child.stderr!.off("data", listening);
      resolve(Number(m[1]));
    };
    child.stderr!.on("data", listening);
  });
  await ready;
  const rsp = new ChannelRsp((m) => sendToChild(child, m));
  child.on("message", (m: FromMachine) => rsp.receive(m));
  const cdp = await CDP({ host: "127.0.0.1", port });
  try {
    return await trace(cdp, rsp, n, depth);
  } finally {
    await cdp.close();
    // No reply: the child exits.
    void rsp.request("k");
  }
}

async function trace(cdp: CDP.Client, rsp: ChannelRsp, n: number, depth: number): Promise<string[]> {
  const protocol: Protocol = {
    send: (method, params) => (cdp.send as (m: string, p?: object) => Promise<unknown>)(method, params),
    on: (event, listener) => cdp.on(event, listener as (p: object) => void),
  };
  const t = new HandlerTrace(protocol, depth);
  await rsp.monitor(`seek exit ${n}`);
  const at = (await rsp.monitor("exits 1")).trim();
  await rsp.monitor("break-exit any");
  await t.arm();
  const stop = await rsp.request("c");
  const out = [`exit ${at}`, ...(await t.finish())];
  if (!stop.startsWith("T")) out.push(`(the replay stopped: ${stop})`);
  return out;
}

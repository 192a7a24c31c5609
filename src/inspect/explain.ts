// `afterglow explain-exit FILE N [--depth D]`: how the VMM handled VM exit N, line by line. The
// replay runs in a child under the V8 inspector (./channel.ts); this process is both its gdb, over
// the child's IPC channel, and its inspector client, through chrome-remote-interface. gdb's
// `monitor seek exit N` puts the machine at the exit before the VMM handles it; a breakpoint at the
// start of the VMM's exit dispatch (src/vmm/exits.ts, runExit) and a continue to the next exit
// then let the inspector step through the handling: each TypeScript line run (file:line and the
// line), each function's arguments as it is entered, the locals each step changed, down to
// `depth` calls below runExit. The machine is deterministic and stepping changes none of its
// state, so the output is the same on every run.

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import CDP from "chrome-remote-interface";
import type { FromMachine, ToMachine } from "./channel.js";
import { jsLocationOf, ROOT, tsLocationOf } from "./source-map.js";

const DISPATCH_TS = "src/vmm/exits.ts";
/** How long the child may take to save its checkpoints once told to end, in ms. */
const SAVE_WAIT = 60_000;
/** Steps at most: a handler that loops longer is cut short (said in the output). */
const MAX_STEPS = 5000;

export class ExplainError extends Error {
  override name = "ExplainError";
}

/** The line of the VMM's exit dispatch where handling starts (the first statement of runExit). */
function dispatchLine(): number {
  const lines = readFileSync(join(ROOT, DISPATCH_TS), "utf8").split("\n");
  const i = lines.findIndex((l) => l.startsWith("export function runExit("));
  if (i < 0) throw new ExplainError(`${DISPATCH_TS} has no runExit`);
  return i + 2;
}

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

type Props = Map<string, string>;

/** What this reads of the protocol's Runtime.RemoteObject, Debugger.CallFrame and Debugger.paused. */
interface RemoteObject {
  type: string;
  subtype?: string;
  className?: string;
  value?: unknown;
  unserializableValue?: string;
  description?: string;
  objectId?: string;
}
interface CallFrame {
  functionName: string;
  location: { scriptId: string; lineNumber: number; columnNumber?: number };
  scopeChain: { type: string; object: RemoteObject }[];
}
interface PausedEvent {
  callFrames: CallFrame[];
}

/** A value as one short, stable word: primitives as they are (integers also in hex), objects by their class. */
function show(v: RemoteObject | undefined): string {
  if (v === undefined) return "?";
  if (v.type === "number" && Number.isInteger(v.value) && Math.abs(v.value as number) >= 10) return `${v.value} (0x${((v.value as number) >>> 0).toString(16)})`;
  if (v.type === "string") return JSON.stringify(v.value);
  if (v.type === "object" || v.type === "function") return v.description ?? v.type;
  return v.unserializableValue ?? String(v.value);
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
  const ready = new Promise<void>((resolve) => child.on("message", (m: FromMachine) => m.t === "ready" && resolve()));
  const exited = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? 1)));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stderr!.on("data", (d: Buffer) => {
        stderr += d.toString();
        const m = /Debugger listening on ws:\/\/[^:]+:(\d+)\//.exec(stderr);
        if (m) resolve(Number(m[1]));
      });
      void exited.then(() => reject(new ExplainError(stderr.split("\n").find((l) => l.startsWith("afterglow:"))?.replace(/^afterglow: /, "") ?? "the replay ended before it could be inspected")));
    });
    await ready;
    const rsp = new ChannelRsp((m) => {
      if (child.connected) child.send(m);
    });
    child.on("message", (m: FromMachine) => rsp.receive(m));
    const cdp = await CDP({ host: "127.0.0.1", port });
    try {
      return await trace(cdp, rsp, n, depth);
    } finally {
      await cdp.close();
      // gdb's kill ends the session (no reply): the child saves its checkpoints for the next
      // session on the recording, as every replay that travels does, and exits.
      void rsp.request("k");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, SAVE_WAIT).unref())]);
    }
  } finally {
    child.kill();
  }
}

async function trace(cdp: CDP.Client, rsp: ChannelRsp, n: number, depth: number): Promise<string[]> {
  const urls = new Map<string, string>();
  cdp.on("Debugger.scriptParsed", (p) => urls.set(p.scriptId, p.url));
  await cdp.Debugger.enable({});
  await rsp.monitor(`seek exit ${n}`);
  const at = (await rsp.monitor("exits 1")).trim();
  await rsp.monitor("break-exit any");
  const loc = jsLocationOf(DISPATCH_TS, dispatchLine());
  if (loc === null) throw new ExplainError(`no code for ${DISPATCH_TS}:${dispatchLine()} in the build`);
  const { breakpointId, locations } = await cdp.Debugger.setBreakpointByUrl({ url: loc.url, lineNumber: loc.lineNumber });

  const out: string[] = [`exit ${at}`];
  const sources = new Map<string, string[]>();
  const lineOf = (file: string, line: number): string => {
    if (!sources.has(file)) sources.set(file, readFileSync(join(ROOT, file), "utf8").split("\n"));
    return (sources.get(file)![line - 1] ?? "").trim();
  };
  /** The locals last seen in each frame on the stack, outermost first. */
  const seen: Props[] = [];
  let base = -1;
  let steps = 0;
  let last = "";

  const locals = async (frame: CallFrame): Promise<Props> => {
    const scope = frame.scopeChain.find((s) => s.type === "local");
    const props = new Map<string, string>();
    if (scope?.object.objectId === undefined) return props;
    const r = await cdp.Runtime.getProperties({ objectId: scope.object.objectId, ownProperties: true });
    for (const p of r.result) props.set(p.name, p.value?.className === "Object" ? await plain(p.value) : show(p.value));
    return props;
  };

  /** A plain object (an exit message, a decoded qualification) by its fields, one level deep. */
  const plain = async (o: RemoteObject): Promise<string> => {
    if (o.objectId === undefined) return show(o);
    const r = await cdp.Runtime.getProperties({ objectId: o.objectId, ownProperties: true });
    return `{${r.result.filter((p) => p.value !== undefined && p.enumerable).map((p) => `${p.name}: ${show(p.value)}`).join(", ")}}`;
  };

  const onPaused = async (p: PausedEvent): Promise<void> => {
    const frames = p.callFrames;
    const top = frames[0];
    if (base < 0) base = frames.length;
    const level = frames.length - base;
    const ts = tsLocationOf(urls.get(top.location.scriptId) ?? "", top.location.lineNumber, top.location.columnNumber ?? 0);
    if (level < 0 || ts === null) {
      // Back out of runExit (or outside our code): run on to the next exit, or the next call of runExit.
      seen.length = 0;
      base = -1;
      await cdp.Debugger.resume({});
      return;
    }
    const indent = "  ".repeat(level + 1);
    const now = await locals(top);
    seen.length = Math.min(seen.length, level + 1);
    const before = seen[level];
    if (before === undefined) {
      out.push(`${indent}${top.functionName || "(anonymous)"}(${[...now].filter(([, v]) => v !== "undefined").map(([k, v]) => `${k}=${v}`).join(", ")})`);
    } else {
      const changed = [...now].filter(([k, v]) => before.get(k) !== v).map(([k, v]) => `${k}=${v}`);
      if (changed.length > 0) out.push(`${indent}  => ${changed.join(", ")}`);
    }
    seen[level] = now;
    // A line with several statements pauses at each: it is shown once.
    const where = `${level} ${ts.file}:${ts.line}`;
    if (where !== last) out.push(`${indent}${ts.file}:${ts.line}  ${lineOf(ts.file, ts.line)}`);
    last = where;
    if (++steps >= MAX_STEPS) {
      out.push(`${indent}(stopped after ${MAX_STEPS} steps)`);
      await cdp.Debugger.removeBreakpoint({ breakpointId });
      await cdp.Debugger.resume({});
      return;
    }
    if (level < depth) await cdp.Debugger.stepInto({});
    else await cdp.Debugger.stepOver({});
  };
  let chain = Promise.resolve();
  cdp.on("Debugger.paused", (p) => {
    chain = chain.then(() => onPaused(p));
  });
  const stop = await rsp.request("c");
  await chain;
  if (!stop.startsWith("T")) out.push(`(the replay stopped: ${stop})`);
  return out;
}

// How the VMM handled one VM exit, line by line, through the Chrome DevTools Protocol: a breakpoint
// at the start of the VMM's exit dispatch (src/vmm/exits.ts, runExit), then, while the machine
// runs the handling, a step at each pause: each TypeScript line run (file:line and the line), each
// function's arguments as it is entered and the locals each step changed, down to `depth` calls
// below runExit. The protocol is spoken to another process (`afterglow explain-exit`, through
// chrome-remote-interface: ./explain.ts) or to this one's main thread from a worker
// (`monitor explain-exit`: ./self.ts); both print the same lines. Values are shown as plain data
// (numbers, strings, a plain object's fields one level deep, other objects by their class), so
// the output is the same on every run.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { jsLocationOf, ROOT, tsLocationOf } from "./source-map.js";

const DISPATCH_TS = "src/vmm/exits.ts";
/** Steps at most: a handler that loops longer is cut short (said in the output). */
const MAX_STEPS = 5000;

export class ExplainError extends Error {
  override name = "ExplainError";
}

/** The part of the protocol a trace speaks: commands, and the events of the Debugger domain. */
export interface Protocol {
  send(method: string, params?: object): Promise<unknown>;
  on(event: "Debugger.paused" | "Debugger.scriptParsed", listener: (params: never) => void): void;
}

/** The line of the VMM's exit dispatch where handling starts (the first statement of runExit). */
function dispatchLine(): number {
  const lines = readFileSync(join(ROOT, DISPATCH_TS), "utf8").split("\n");
  const i = lines.findIndex((l) => l.startsWith("export function runExit("));
  if (i < 0) throw new ExplainError(`${DISPATCH_TS} has no runExit`);
  return i + 2;
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
interface Properties {
  result: { name: string; enumerable?: boolean; value?: RemoteObject }[];
}

/** A value as one short, stable word: primitives as they are (integers also in hex), objects by their class. */
function show(v: RemoteObject | undefined): string {
  if (v === undefined) return "?";
  if (v.type === "number" && Number.isInteger(v.value) && Math.abs(v.value as number) >= 10) return `${v.value} (0x${((v.value as number) >>> 0).toString(16)})`;
  if (v.type === "string") return JSON.stringify(v.value);
  if (v.type === "object" || v.type === "function") return v.description ?? v.type;
  return v.unserializableValue ?? String(v.value);
}

/**
 * One exit's handling, traced: arm() before the machine runs the handling, finish() once it ran
 * (the lines, indented by call depth below runExit).
 */
export class HandlerTrace {
  private readonly urls = new Map<string, string>();
  private readonly out: string[] = [];
  private readonly sources = new Map<string, string[]>();
  /** The locals last seen in each frame on the stack, outermost first. */
  private readonly seen: Props[] = [];
  private base = -1;
  private steps = 0;
  private last = "";
  private breakpointId: string | null = null;
  private chain = Promise.resolve();
  private failure: unknown = null;

  constructor(private readonly p: Protocol, private readonly depth: number) {
    p.on("Debugger.scriptParsed", (e: { scriptId: string; url: string }) => this.urls.set(e.scriptId, e.url));
    p.on("Debugger.paused", (e: PausedEvent) => {
      this.chain = this.chain.then(() => this.onPaused(e)).catch((err: unknown) => {
        this.failure ??= err;
        return this.p.send("Debugger.resume").then(() => undefined, () => undefined);
      });
    });
  }

  async arm(): Promise<void> {
    await this.p.send("Debugger.enable");
    const loc = jsLocationOf(DISPATCH_TS, dispatchLine());
    if (loc === null) throw new ExplainError(`no code for ${DISPATCH_TS}:${dispatchLine()} in the build`);
    const r = (await this.p.send("Debugger.setBreakpointByUrl", { url: loc.url, lineNumber: loc.lineNumber })) as { breakpointId: string };
    this.breakpointId = r.breakpointId;
  }

  /** The trace's lines, once the machine ran the handling; the inspector is left as it was found. */
  async finish(): Promise<string[]> {
    await this.chain;
    await this.disarm();
    await this.p.send("Debugger.disable");
    if (this.failure !== null) throw this.failure;
    return this.out;
  }

  private async disarm(): Promise<void> {
    if (this.breakpointId === null) return;
    const id = this.breakpointId;
    this.breakpointId = null;
    await this.p.send("Debugger.removeBreakpoint", { breakpointId: id });
  }

  private lineOf(file: string, line: number): string {
    if (!this.sources.has(file)) this.sources.set(file, readFileSync(join(ROOT, file), "utf8").split("\n"));
    return (this.sources.get(file)![line - 1] ?? "").trim();
  }

  private async locals(frame: CallFrame): Promise<Props> {
    const scope = frame.scopeChain.find((s) => s.type === "local");
    const props = new Map<string, string>();
    if (scope?.object.objectId === undefined) return props;
    const r = (await this.p.send("Runtime.getProperties", { objectId: scope.object.objectId, ownProperties: true })) as Properties;
    for (const q of r.result) props.set(q.name, q.value?.className === "Object" ? await this.plain(q.value) : show(q.value));
    return props;
  }

  /** A plain object (an exit message, a decoded qualification) by its fields, one level deep. */
  private async plain(o: RemoteObject): Promise<string> {
    if (o.objectId === undefined) return show(o);
    const r = (await this.p.send("Runtime.getProperties", { objectId: o.objectId, ownProperties: true })) as Properties;
    return `{${r.result.filter((q) => q.value !== undefined && q.enumerable).map((q) => `${q.name}: ${show(q.value)}`).join(", ")}}`;
  }

  private async onPaused(p: PausedEvent): Promise<void> {
    const frames = p.callFrames;
    const top = frames[0];
    if (this.base < 0) this.base = frames.length;
    const level = frames.length - this.base;
    const ts = tsLocationOf(this.urls.get(top.location.scriptId) ?? "", top.location.lineNumber, top.location.columnNumber ?? 0);
    if (level < 0 || ts === null) {
      // Back out of runExit (or outside our code): run on to the next exit, or the next call of runExit.
      this.seen.length = 0;
      this.base = -1;
      await this.p.send("Debugger.resume");
      return;
    }
    const indent = "  ".repeat(level + 1);
    const now = await this.locals(top);
    this.seen.length = Math.min(this.seen.length, level + 1);
    const before = this.seen[level];
    if (before === undefined) {
      this.out.push(`${indent}${top.functionName || "(anonymous)"}(${[...now].filter(([, v]) => v !== "undefined").map(([k, v]) => `${k}=${v}`).join(", ")})`);
    } else {
      const changed = [...now].filter(([k, v]) => before.get(k) !== v).map(([k, v]) => `${k}=${v}`);
      if (changed.length > 0) this.out.push(`${indent}  => ${changed.join(", ")}`);
    }
    this.seen[level] = now;
    // A line with several statements pauses at each: it is shown once.
    const where = `${level} ${ts.file}:${ts.line}`;
    if (where !== this.last) this.out.push(`${indent}${ts.file}:${ts.line}  ${this.lineOf(ts.file, ts.line)}`);
    this.last = where;
    if (++this.steps >= MAX_STEPS) {
      this.out.push(`${indent}(stopped after ${MAX_STEPS} steps)`);
      await this.disarm();
      await this.p.send("Debugger.resume");
      return;
    }
    await this.p.send(level < this.depth ? "Debugger.stepInto" : "Debugger.stepOver");
  }
}

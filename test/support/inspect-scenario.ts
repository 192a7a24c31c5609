// `afterglow replay FILE --gdb … --inspect …` driven as its users drive it: the V8 inspector through
// chrome-remote-interface (a breakpoint by TypeScript line in the VMM's port-I/O handler), gdb
// through the remote protocol on the same replay. The handler's breakpoint hits at the Nth serial
// exit with the exit's port and value in the paused frame's scope; gdb reverse-continues to
// before that exit and continues, and the breakpoint hits again with the same values; then the
// replay runs to the end of the recording, every state hash and exit matching: stepping in the
// handler changed nothing of the machine. On the built-in guest's recording in
// src/inspect/inspect.test.ts, on a Linux boot's in test/linux/layers.test.ts.

import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import CDP from "chrome-remote-interface";
import { afterEach, expect } from "vitest";
import { ROOT } from "../layers.js";
import { checksum } from "../../src/gdbstub/packet.js";
import { jsLocationOf, tsLocationOf } from "../../src/inspect/source-map.js";

const MAIN = join(ROOT, "dist", "src", "cli", "main.js");
/** The line of the VMM's port-output handler that first sees the port and the value. */
const IO_TS = "src/vmm/io.ts";
const PORT_OUT_LINE = readFileSync(join(ROOT, IO_TS), "utf8").split("\n").findIndex((l, i, all) => all[i - 1]?.startsWith("export function portOut(") && l.includes("value")) + 1;

let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill();
  child = undefined;
});

/** Starts the replay under the inspector and gdb; resolves with both ports once both are announced. */
function start(rec: string, images: string[]): Promise<{ gdb: number; inspector: number; stderr: () => string }> {
  const c = spawn(process.execPath, [MAIN, "replay", rec, ...images, "--gdb", "127.0.0.1:0", "--inspect", "127.0.0.1:0"], {
    env: { ...process.env, AFTERGLOW_CACHE: "off" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  child = c;
  let err = "";
  return new Promise((resolve, reject) => {
    c.on("exit", (code) => reject(new Error(`afterglow exited (${code}): ${err}`)));
    c.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const g = /target remote 127\.0\.0\.1:(\d+)/.exec(err);
      const i = /Debugger listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(err);
      if (g && i) resolve({ gdb: Number(g[1]), inspector: Number(i[1]), stderr: () => err });
    });
  });
}

/** A gdb remote protocol client: one request at a time, its reply (console output packets skipped). */
class Rsp {
  private buf = "";
  private waiting: ((p: string) => void) | null = null;
  output = "";
  private constructor(private readonly s: Socket) {
    s.on("data", (d) => {
      this.buf += d.toString("latin1");
      this.pump();
    });
  }

  static open(port: number): Promise<Rsp> {
    return new Promise((resolve, reject) => {
      const s = connect(port, "127.0.0.1", () => resolve(new Rsp(s)));
      s.on("error", reject);
    });
  }

  private pump(): void {
    for (;;) {
      this.buf = this.buf.replace(/^\++/, "");
      const m = /^\$([^#]*)#([0-9a-f]{2})/.exec(this.buf);
      if (!m) return;
      this.buf = this.buf.slice(m[0].length);
      this.s.write("+");
      const body = m[1];
      if (body.startsWith("O") && body !== "OK") {
        this.output += Buffer.from(body.slice(1), "hex").toString();
        continue;
      }
      const w = this.waiting;
      this.waiting = null;
      w?.(body);
    }
  }

  request(payload: string): Promise<string> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.s.write(`$${payload}#${checksum(payload).toString(16).padStart(2, "0")}`);
    });
  }

  monitor(cmd: string): Promise<string> {
    this.output = "";
    return this.request("qRcmd," + Buffer.from(cmd).toString("hex")).then(() => this.output);
  }

  close(): void {
    this.s.destroy();
  }
}

interface Hit {
  file: string;
  line: number;
  port: number;
  value: number;
}

/**
 * The scenario on the recording `rec` (with the `afterglow replay` arguments `images`): the Nth
 * serial exit's handling after `seekExit` (when given), back before it and on again, then to the end.
 */
export async function breakpointHitsAgain(rec: string, images: string[], opts: { n: number; seekExit?: number }): Promise<void> {
  expect(PORT_OUT_LINE).toBeGreaterThan(0);
  const { gdb, inspector, stderr } = await start(rec, images);
  const cdp = await CDP({ host: "127.0.0.1", port: inspector });
  const urls = new Map<string, string>();
  cdp.on("Debugger.scriptParsed", (p) => urls.set(p.scriptId, p.url));
  const hits: Hit[] = [];
  let onHit: ((h: Hit) => void) | null = null;
  /** Step over this many lines at the next hit before resuming; the steps left. */
  let stepAtHit = 0;
  let stepping = 0;
  cdp.on("Debugger.paused", (p) => {
    void (async () => {
      if (stepping > 0) {
        stepping--;
        await (stepping > 0 ? cdp.Debugger.stepOver({}) : cdp.Debugger.resume({}));
        return;
      }
      const f = p.callFrames[0];
      const at = tsLocationOf(urls.get(f.location.scriptId) ?? "", f.location.lineNumber, f.location.columnNumber ?? 0);
      const local = f.scopeChain.find((s) => s.type === "local")!;
      const props = await cdp.Runtime.getProperties({ objectId: local.object.objectId!, ownProperties: true });
      const v = (name: string): number => props.result.find((r) => r.name === name)?.value?.value as number;
      const h = { file: at?.file ?? "?", line: at?.line ?? -1, port: v("port"), value: v("value") };
      hits.push(h);
      onHit?.(h);
      if (stepAtHit > 0) {
        stepping = stepAtHit;
        stepAtHit = 0;
        await cdp.Debugger.stepOver({});
      } else await cdp.Debugger.resume({});
    })();
  });
  await cdp.Debugger.enable({});
  const rsp = await Rsp.open(gdb);
  try {
    expect(await rsp.request("?")).toMatch(/^T05/);
    // Deep into the recording first: the handler's breakpoint is set once there.
    if (opts.seekExit !== undefined) expect(await rsp.monitor(`seek exit ${opts.seekExit}`)).toMatch(/^icount \d+ exits /);
    const loc = jsLocationOf(IO_TS, PORT_OUT_LINE)!;
    const { breakpointId } = await cdp.Debugger.setBreakpointByUrl({ url: loc.url, lineNumber: loc.lineNumber, condition: "port === 0x3f8" });
    await rsp.monitor("break-exit io 0x3f8 out");
    const N = opts.n;
    const whens: string[] = [];
    for (let k = 0; k < N; k++) {
      expect(await rsp.request("c")).toMatch(/^T05/);
      whens.push(await rsp.monitor("when"));
    }
    // The VMM handles exit N: the handler's breakpoint, with the exit's port and value; a few
    // steps through the handler there change nothing of the machine (checked at the end).
    stepAtHit = 4;
    const before = hits.length;
    expect(await rsp.request("c")).toMatch(/^T05/);
    expect(hits.length).toBe(before + 1);
    const first = hits.at(-1)!;
    expect(first).toMatchObject({ file: IO_TS, line: PORT_OUT_LINE, port: 0x3f8 });
    expect(first.value).toBeTypeOf("number");
    // Back to before that exit: gdb's reverse-continue stops at the previous exit breakpoint hit.
    expect(await rsp.request("bc")).toMatch(/^T05/);
    expect(await rsp.monitor("when")).toBe(whens[N - 1]);
    // And on: the same execution, the same handler, the same values.
    const again = new Promise<Hit>((resolve) => (onHit = resolve));
    expect(await rsp.request("c")).toMatch(/^T05/);
    expect(await again).toEqual(first);
    // To the end of the recording, with every state hash and exit checked on the way.
    await rsp.monitor("break-exit clear");
    // Without the handler's breakpoint, which would pause at every serial exit on the way.
    await cdp.Debugger.removeBreakpoint({ breakpointId });
    onHit = null;
    expect(await rsp.request("c")).toMatch(/^T05replaylog:end;/);
    expect(stderr()).not.toMatch(/diverged/);
  } finally {
    rsp.close();
    await cdp.close();
  }
}

// The tool's side: starts a replay in a worker thread (./worker.ts) and speaks ./protocol.ts to it.
// A request is a promise of its reply; progress comes to a listener; cancel stops the move under
// way. The tool's thread never runs the machine, so it stays free to draw and to read keys.

import { Worker } from "node:worker_threads";
import { ListenError } from "../../gdbstub/listen.js";
import { RecordingError } from "../../replay/recording.js";
import type { Event, FromWorker, OpenReplay, Reply, ReplayInfo, Request, Snapshot } from "../../replay/remote/protocol.js";

type Ask = Request extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

export class RemoteReplay {
  private readonly pending = new Map<number, (r: Reply) => void>();
  private nextId = 1;
  private closed = false;
  onProgress: (e: Extract<Event, { event: "progress" }>) => void = () => {};
  /** gdb beside the replay (OpenReplay's gdb): its clients, runs and stops. */
  onGdb: (e: Extract<Event, { event: "gdb" }>) => void = () => {};

  private constructor(private readonly worker: Worker, readonly info: ReplayInfo, readonly first: Snapshot) {
    // A worker that dies answers what it owed with why, once: the tool says so and can quit.
    const died = (why: string): void => {
      this.closed = true;
      for (const [id, done] of this.pending) done({ id, ok: false, error: why });
      this.pending.clear();
    };
    worker.on("error", (e: Error) => died(`the replay's worker failed: ${e.message}`));
    worker.on("exit", (code) => died(`the replay's worker ended (exit code ${code})`));
    worker.on("message", (m: FromWorker) => {
      if ("event" in m) {
        if (m.event === "progress") this.onProgress(m);
        else if (m.event === "gdb") this.onGdb(m);
        return;
      }
      const done = this.pending.get(m.id);
      this.pending.delete(m.id);
      done?.(m);
    });
  }

  /** Starts the replay; rejects with the worker's one-line reason when it cannot. */
  static open(open: OpenReplay): Promise<RemoteReplay> {
    const worker = new Worker(new URL("./worker.js", import.meta.url), { workerData: open });
    return new Promise((resolve, reject) => {
      const first = (m: FromWorker): void => {
        if (!("event" in m)) return;
        if (m.event === "ready") {
          worker.off("message", first);
          resolve(new RemoteReplay(worker, m.info, m.snapshot));
        } else if (m.event === "failed") {
          worker.off("message", first);
          reject(m.kind === "listen" ? new ListenError(m.error) : m.kind === "recording" ? new RecordingError(m.error) : new Error(m.error));
        }
      };
      worker.on("message", first);
      worker.once("error", reject);
    });
  }

  request(r: Ask): Promise<Reply> {
    if (this.closed) return Promise.resolve({ id: 0, ok: false, error: "the replay is closed" });
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.worker.postMessage({ ...r, id } as Request);
    });
  }

  /** Stops the move under way (its reply then says "cancelled"). */
  cancel(): void {
    if (!this.closed) this.worker.postMessage({ op: "cancel" } satisfies Request);
  }

  /** Saves the checkpoints and ends the worker. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.request({ op: "close" });
    this.closed = true;
    await this.worker.terminate();
  }
}

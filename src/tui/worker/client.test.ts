import { readFileSync } from "node:fs";
import type { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createServer } from "node:net";
import { ListenError } from "../../gdbstub/listen.js";
import { RecordingError } from "../../replay/recording.js";
import { RemoteReplay } from "./client.js";

const REC = fileURLToPath(new URL("../../../recordings/hello-vm.rec", import.meta.url));

describe("a replay in a worker thread", () => {
  it("runs a long move in the worker, reports its progress, and takes a cancel while it runs", async () => {
    const r = await RemoteReplay.open({ recording: readFileSync(REC), name: "hello-vm.rec", images: {}, slice: 5_000 });
    try {
      const progress: number[] = [];
      r.onProgress = (e) => {
        progress.push(e.icount);
        if (progress.length === 3) r.cancel();
      };
      const reply = await r.request({ op: "continue" });
      expect(reply.ok && reply.note).toBe("cancelled");
      expect(progress.length).toBeGreaterThanOrEqual(3);
      expect(reply.snapshot!.pos.icount).toBeLessThan(r.info.endIcount);
    } finally {
      await r.close();
    }
  });

  it("answers the requests a dead worker owed, and those after, with why", async () => {
    const r = await RemoteReplay.open({ recording: readFileSync(REC), name: "hello-vm.rec", images: {}, slice: 1_000 });
    const moving = r.request({ op: "continue" });
    // As a crash would: the worker ends under the request.
    await (r as unknown as { worker: Worker }).worker.terminate();
    expect(await moving).toMatchObject({ ok: false, error: "the replay's worker ended (exit code 1)" });
    expect(await r.request({ op: "step" })).toMatchObject({ ok: false, error: "the replay is closed" });
  });

  it("fails to open with one line when the bytes are not a recording, as the user's error it is", async () => {
    const open = RemoteReplay.open({ recording: new Uint8Array(16), name: "junk.rec", images: {} });
    await expect(open).rejects.toThrow("junk.rec is not an afterglow recording (no AGLOWREC signature)");
    await expect(open).rejects.toBeInstanceOf(RecordingError);
  });

  it("fails to open with gdb's port taken as a ListenError, which the CLI tells in one line, not as a bug", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", () => r()));
    const port = (taken.address() as { port: number }).port;
    try {
      const open = RemoteReplay.open({ recording: readFileSync(REC), name: "hello-vm.rec", images: {}, gdb: { host: "127.0.0.1", port } });
      await expect(open).rejects.toBeInstanceOf(ListenError);
      await expect(open).rejects.toThrow(`gdb cannot listen on 127.0.0.1:${port}: the address is in use`);
    } finally {
      taken.close();
    }
  });
});

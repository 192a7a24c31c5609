import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { decodeExits } from "../exit-log.js";
import { describeL4Event } from "../l4-events.js";
import { readRecording, type Record } from "../recording.js";
import { ReplayDriver } from "./driver.js";
import type { Reply, Request } from "./protocol.js";

const REC = fileURLToPath(new URL("../../../recordings/hello-vm.rec", import.meta.url));
const bytes = readFileSync(REC);
const recordedExits = decodeExits(readRecording(bytes).records.filter((r): r is Extract<Record, { t: "exits" }> => r.t === "exits"));

let id = 0;
async function ask(d: ReplayDriver, r: Request extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never): Promise<Extract<Reply, { ok: true }>> {
  const reply = await d.handle({ ...r, id: ++id } as Exclude<Request, { op: "cancel" }>);
  if (!reply.ok) throw new Error(reply.error);
  return reply;
}

const open = (slice?: number) => new ReplayDriver({ recording: bytes, name: "hello-vm.rec", images: {}, slice });

describe("the replay driver", () => {
  it("describes the recording: its end, its exits and their density along it", () => {
    const d = open();
    expect(d.info.exits).toBe(recordedExits.length);
    expect(d.info.endIcount).toBe(readRecording(bytes).end!.icount);
    expect(d.info.density.reduce((a, b) => a + b, 0)).toBe(recordedExits.length);
    d.close();
  });

  it("goes to exit N: at the recording's exit N, before the VMM handles it", async () => {
    const d = open();
    for (const n of [100, 5, 700]) {
      const { snapshot: s } = await ask(d, { op: "go", to: { kind: "exit", n } });
      expect(s.atExit).toBe(true);
      expect(s.exit?.exit).toEqual(recordedExits[n]);
      expect(s.pos).toMatchObject({ icount: recordedExits[n].icount, exits: n + 1, at: "exit" });
    }
    d.close();
  });

  it("goes to the instant a console line was printed: one step back, the line is not yet whole", async () => {
    const d = open();
    const at = await ask(d, { op: "go", to: { kind: "console", text: "crc32(" } });
    expect(at.snapshot.console.endsWith("crc32(123456789): 0xcbf43926\n")).toBe(true);
    const before = await ask(d, { op: "reverse-step" });
    expect(before.snapshot.console.endsWith("crc32(123456789): 0xcbf43926\n")).toBe(false);
    expect(before.snapshot.console.endsWith("crc32(123456789): 0xcbf43926")).toBe(true);
    d.close();
  });

  it("goes to a guest time: the first instruction boundary at or past it", async () => {
    const d = open();
    const at = await ask(d, { op: "go", to: { kind: "ns", n: 5_000_000 } });
    expect(at.snapshot.pos.ns).toBeGreaterThanOrEqual(5_000_000);
    const before = await ask(d, { op: "reverse-step" });
    expect(before.snapshot.pos.ns).toBeLessThan(5_000_000);
    d.close();
  });

  it("goes to a share of the recording's instructions", async () => {
    const d = open();
    const half = await ask(d, { op: "go", to: { kind: "percent", p: 50 } });
    expect(half.snapshot.pos.icount).toBe(Math.round(d.info.endIcount / 2));
    // A share the timeline's arrows computed is said as a person would write it.
    expect((await ask(d, { op: "go", to: { kind: "percent", p: 1.2500494159928124 } })).note).toBe("at 1.25%");
    d.close();
  });

  it("steps next and previous exits in the recording's order", async () => {
    const d = open();
    await ask(d, { op: "go", to: { kind: "exit", n: 40 } });
    expect((await ask(d, { op: "next-exit" })).snapshot.exit?.exit.n).toBe(41);
    expect((await ask(d, { op: "previous-exit" })).snapshot.exit?.exit.n).toBe(40);
    await ask(d, { op: "step" });
    // From after exit 40: the previous exit is 40 itself.
    expect((await ask(d, { op: "previous-exit" })).snapshot.exit?.exit.n).toBe(40);
    d.close();
  });

  it("names a watchpoint's stop by its symbol, as a breakpoint's", async () => {
    const stack = { name: "stack_top", value: 0x8fff0, size: 16, type: 1, global: true, weak: false, sectionEnd: 0x90000 };
    const d = new ReplayDriver({ recording: bytes, name: "hello-vm.rec", images: {}, symbols: [stack] });
    await ask(d, { op: "watch", at: "0x8fffc", length: 4 });
    expect((await ask(d, { op: "continue" })).note).toBe("watchpoint (write) at 0x8fffc <stack_top+12>");
    d.close();
  });

  it("says there is no VM exit after the last one as it says there is none before the first", async () => {
    const d = open();
    expect(await d.handle({ id: 1, op: "previous-exit" })).toMatchObject({ ok: false, error: "no VM exit before this position" });
    await ask(d, { op: "go", to: { kind: "exit", n: recordedExits.length - 1 } });
    await ask(d, { op: "step" });
    expect(await d.handle({ id: 2, op: "next-exit" })).toMatchObject({ ok: false, error: "no VM exit after this position" });
    d.close();
  });

  it("shows the VMM's reply once a step from an exit has it: the IN's result and EIP past it, an injected interrupt", async () => {
    const d = open();
    await ask(d, { op: "go", to: { kind: "exit", n: 100 } });
    const io = await ask(d, { op: "step" });
    // Exit 100 is `in al,dx` (one byte, ec) at 0x802c.
    expect(io.snapshot.reply?.exit).toBe(100);
    expect(io.snapshot.reply?.registers.map((r) => r.name)).toEqual(["eax", "eip"]);
    expect(io.snapshot.reply?.registers.find((r) => r.name === "eip")?.value).toBe(recordedExits[100].eip + 1);
    // Its reply is shown until the next move.
    expect((await ask(d, { op: "snapshot" })).snapshot.reply?.exit).toBe(100);
    expect((await ask(d, { op: "step" })).snapshot.reply).toBeNull();
    await ask(d, { op: "break-exit", filter: "intwin" });
    const win = await ask(d, { op: "continue" });
    expect(win.snapshot.exit?.reason).toBe("INTERRUPT_WINDOW");
    const injected = await ask(d, { op: "step" });
    // The guest programmed its PIC's base at 0x20: the timer's IRQ 0 is vector 0x20.
    expect(injected.snapshot.reply?.injected).toEqual([0x20]);
    d.close();
  });

  it("shows the kernel's last IPCs up to here, as gdb's monitor l4 ipc lists them", async () => {
    const d = open();
    const ref = open();
    for (const n of [100, 400, 40]) {
      const { snapshot: s } = await ask(d, { op: "go", to: { kind: "exit", n } });
      ref["dbg"].seek({ at: "exit", exits: n + 1 });
      const log = ref["dbg"].ipcLog(12);
      if ("error" in log) throw new Error(log.message);
      expect(s.ipcs).toEqual(log.map((e) => describeL4Event(e).replace(/^ipc /, "")));
      expect(s.ipcs).toHaveLength(12);
      expect(s.ipcs.at(-1)).toMatch(new RegExp(`^#${s.kernel!.ipcs}: `));
    }
    ref.close();
    d.close();
  });

  it("names the last IPCs from what its runs passed, without replaying history again", async () => {
    const d = open();
    await ask(d, { op: "go", to: { kind: "exit", n: 300 } });
    const tl = d["tl"];
    const work = tl.work;
    const { snapshot: s } = await ask(d, { op: "next-exit" });
    expect(s.ipcs.at(-1)).toMatch(new RegExp(`^#${s.kernel!.ipcs}: `));
    // Only the run to the next exit: no replay from a checkpoint for the log.
    expect(tl.work - work).toBe(s.pos.icount - recordedExits[300].icount);
    d.close();
  });

  it("shows the VMM's reply as soon as its handler has sent it, before the guest runs on", async () => {
    const d = open();
    const at = await ask(d, { op: "go", to: { kind: "exit", n: 100 } });
    // At the exit, before any run has passed the handler: not known yet.
    expect(at.snapshot.vmmReply).toBeNull();
    // The VMM (thread 34) answers the VCPU (36): a stop at that IPC is inside the handling.
    await ask(d, { op: "break-l4", filter: "ipc from 34 to 36" });
    const sent = await ask(d, { op: "continue" });
    expect(sent.snapshot.pos).toMatchObject({ at: "event", exits: at.snapshot.pos.exits });
    expect(sent.snapshot.vmmReply).toMatchObject({ exit: 100, sent: true });
    // `in al,dx` at 0x802c: EAX's low byte read from the UART, and EIP past the one-byte IN.
    expect(sent.snapshot.vmmReply?.text).toContain(`0x${(recordedExits[100].eip + 1).toString(16)}`);
    // Back at the exit, the reply is ahead in history, and known: a run passed it.
    const back = await ask(d, { op: "go", to: { kind: "exit", n: 100 } });
    expect(back.snapshot.vmmReply).toEqual({ ...sent.snapshot.vmmReply, sent: false });
    d.close();
  });

  it("stops after an exit's handling with break-exit … after, its reply sent", async () => {
    const d = open();
    await ask(d, { op: "break-exit", filter: "io 0x3fd in after" });
    const r = await ask(d, { op: "continue" });
    expect(r.snapshot.atExit).toBe(false);
    expect(r.snapshot.vmmReply?.sent).toBe(true);
    expect(r.snapshot.vmmReply?.exit).toBe(r.snapshot.exit?.exit.n);
    d.close();
  });

  it("shows the VMM's virtual chips as the guest programmed them (guests/builtin/hello.asm)", async () => {
    const d = open();
    const later = await ask(d, { op: "go", to: { kind: "exit", n: 400 } });
    // Vectors 0x20/0x28, all masked but IRQ0; channel 0 in mode 2 at 1193 ticks.
    expect(later.snapshot.devices.slice(0, 2)).toEqual(["pic imr fe/ff irr 00/00 isr 00/00", "pit0 mode 2 count 1193"]);
    d.close();
  });

  it("continues to a breakpoint on an exit reason and reverse continues to the one before", async () => {
    const d = open();
    await ask(d, { op: "break-exit", filter: "hlt" });
    const hlts = recordedExits.filter((e) => e.reason === 12);
    const first = await ask(d, { op: "continue" });
    expect(first.snapshot.exit?.exit).toEqual(hlts[0]);
    const second = await ask(d, { op: "continue" });
    expect(second.snapshot.exit?.exit).toEqual(hlts[1]);
    const back = await ask(d, { op: "reverse-continue" });
    expect(back.snapshot.exit?.exit).toEqual(hlts[0]);
    expect(back.snapshot.marks.hits).toContain(hlts[1].icount);
    d.close();
  });

  it("stops a cancelled continue at a slice's end, from where it goes on to the same stop", async () => {
    const d = open(10_000);
    const moving = d.handle({ id: 1, op: "continue" });
    d.cancel();
    const r = await moving;
    expect(r.ok && r.note).toBe("cancelled");
    expect(r.snapshot!.pos.icount).toBeLessThan(d.info.endIcount);
    expect(r.snapshot!.pos.icount).toBeGreaterThan(0);
    const end = await ask(d, { op: "continue" });
    expect(end.note).toMatch(/the guest stopped|the end of the recording/);
    expect(end.snapshot.pos.icount).toBe(d.info.endIcount);
    d.close();
  });

  it("refuses what does not exist in one line, and stays where it was", async () => {
    const d = open();
    const r = await d.handle({ id: 1, op: "go", to: { kind: "exit", n: 5000 } });
    expect(r.ok).toBe(false);
    const n = recordedExits.length;
    expect(!r.ok && r.error).toBe(`the recording has ${n} VM exits (0 to ${n - 1}): there is no exit 5000`);
    expect(r.snapshot?.pos.icount).toBe(0);
    const b = await d.handle({ id: 2, op: "break", at: "no_such_symbol" });
    expect(!b.ok && b.error).toMatch(/is not an address/);
    d.close();
  });

  it("refuses an icount or a guest time past the end by what was asked, after slices, and comes back", async () => {
    const d = open(10_000);
    const here = (await ask(d, { op: "go", to: { kind: "exit", n: 5 } })).snapshot.pos;
    const far = await d.handle({ id: 1, op: "go", to: { kind: "icount", n: 99_999_999_999 } });
    expect(!far.ok && far.error).toMatch(/^cannot reach icount 99999999999: the replay came to icount \d+ exits \d+ guest-ns \d+$/);
    expect(far.snapshot?.pos).toEqual(here);
    const late = await d.handle({ id: 2, op: "go", to: { kind: "ns", n: 99_999_999_999_999 } });
    expect(!late.ok && late.error).toMatch(/^cannot reach guest time 99999999999999 ns: /);
    expect(late.snapshot?.pos).toEqual(here);
    d.close();
  });
});

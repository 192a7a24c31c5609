// Triage, section by section, on both machines: the end and its cause (each failure end, a
// divergence, a cut recording), the last console lines, the last VM exits (against the
// recording's own exit log), the instruction and registers the guest stopped at, the L4 threads,
// a kernel's panic line, oops and call trace, and the position before the failure (a replay run
// to it stands just before the failure).

import { describe, expect, it } from "vitest";
import { nasm } from "../../test/support/cpu.js";
import { DEFAULT_HANG_NS, EndWatch, runScripted, ScriptedInput } from "./ends.js";
import { decodeExits, type ExitsRecord } from "./exit-log.js";
import { readRecording } from "./recording.js";
import { Session, type MachineKind } from "./session.js";
import { triage } from "./triage.js";

const MiB = 2 ** 20;

/** Records `image` on `machine` to its end; the recording's bytes and the console. */
function record(image: Uint8Array, machine: MachineKind, hashEvery?: number, maxInsns?: number): { file: Uint8Array; chunks: Uint8Array[]; out: string } {
  const chunks: Uint8Array[] = [];
  const out: number[] = [];
  let watch: EndWatch | undefined;
  const session = new Session(
    { guest: { kind: "image", bytes: image }, machine, ramSize: 8 * MiB, rtcEpochSeconds: 1_700_000_000, console: (b) => (watch?.output(b), out.push(b)) },
    { sink: (b) => chunks.push(Uint8Array.from(b)), argv: [], tool: "test", embedImages: true, hashEvery },
  );
  watch = new EndWatch(session, { hangNs: DEFAULT_HANG_NS, maxInsns });
  const end = runScripted(session, watch, new ScriptedInput(new Uint8Array(0), [0]));
  session.end(end.reason, end.detail);
  return { file: Buffer.concat(chunks), chunks, out: Buffer.from(out).toString("latin1") };
}

/** Prints `text` on the debug console port (0xe9) in 16-bit code. */
function print16(text: string): string {
  return [...text].map((c) => `mov al, ${c.charCodeAt(0)}\nout 0xe9, al`).join("\n");
}

const LINES = Array.from({ length: 30 }, (_, k) => `line ${k}\n`).join("");
/** Thirty lines, registers set to known values, an empty IDT, then a divide by zero: a triple fault. */
const TRIPLE = nasm(
  `${print16(LINES)}
  lidt [cs:idt]
  mov eax, 0x11223344
  mov ebx, 0x55667788
  mov ecx, 0x0badf00d
  xor edx, edx
  mov esi, 0
  div esi
  idt: dw 0, 0, 0`,
  16,
  0x7c00,
);
const PANIC_TEXT = [
  "[    0.500000] BUG: unable to handle page fault for address: 00000000",
  "[    0.500001] Oops: 0002 [#1] SMP",
  "[    0.500002] EIP: do_mount+0x12/0x80",
  "[    0.600000] Kernel panic - not syncing: Fatal exception",
  "[    0.600001] CPU: 0 PID: 1 Comm: swapper Not tainted",
  "[    0.600002] Call Trace:",
  "[    0.600003]  dump_stack+0x10/0x20",
  "[    0.600004]  panic+0xc1/0x2a0",
  "[    0.600005]  ? do_exit+0x5/0x100",
  "[    0.600006] Kernel Offset: disabled",
].join("\n") + "\n";
const PANIC = nasm(`${print16("booting\n")}\n${print16(PANIC_TEXT)}\ncli\nhlt`, 16, 0x7c00);
const STI_HLT = nasm(`${print16("waiting\n")}\nsti\nhlt\njmp $`, 16, 0x7c00);
const LOOP = nasm(`${print16("looping\n")}\nspin: inc eax\njmp spin`, 16, 0x7c00);

describe.each(["stack", "bare"] as const)("triage on the %s machine", (machine) => {
  it("reports a triple fault with the faulting instruction, the registers and the last console lines", () => {
    const r = record(TRIPLE, machine);
    const t = triage(readRecording(r.file), {}, { lines: 5 });
    expect(t.cause).toMatchObject({ kind: "end", reason: "triple-fault" });
    expect(t.machine).toBe(machine);
    expect(t.console).toEqual(["line 25", "line 26", "line 27", "line 28", "line 29"]);
    expect(t.consoleLines).toBe(30);
    expect(t.instruction).toMatchObject({ cs: 0, bits: 16, text: "div    esi", bytes: new Uint8Array([0x66, 0xf7, 0xf6]) });
    expect(t.instruction!.linear).toBe(0x7c00 + TRIPLE.indexOf(0xf6) - 2);
    expect(t.registers).toMatchObject({ eax: 0x11223344, ebx: 0x55667788, ecx: 0x0badf00d, edx: 0, esi: 0, eip: t.instruction!.eip });
    expect(t.beforeWhy).toBe("before the instruction that faulted");
    // A replay run to the position triage names stands at the faulting instruction, not past it.
    const s = Session.replay(readRecording(r.file), () => {});
    s.run({ maxInsns: t.before });
    expect(s.position().icount).toBe(t.before);
    expect(s.position().eip).toBe(t.instruction!.eip);
    expect(t.panic).toBeNull();
  });

  it("tells its caller how the replay is going while it runs, for a status line, and reports the same", () => {
    const rec = readRecording(record(TRIPLE, machine).file);
    const seen: number[] = [];
    const t = triage(rec, {}, { onProgress: (s) => seen.push(s.position().icount) });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((icount) => icount <= t.at.icount)).toBe(true);
    expect(t).toEqual(triage(rec, {}));
  });

  it("lists the last VM exits as the recording logged them, and the L4 threads, only under the stack", () => {
    const r = record(TRIPLE, machine);
    const rec = readRecording(r.file);
    const t = triage(rec, {}, { exits: 7 });
    if (machine === "bare") {
      expect(t.exits).toBeNull();
      expect(t.threads).toBeNull();
      return;
    }
    const logged = decodeExits(rec.records.filter((x): x is ExitsRecord => x.t === "exits"));
    expect(logged.length).toBeGreaterThan(30);
    expect(t.exits).toEqual(logged.slice(-7));
    expect(t.at.exits).toBe(logged.length);
    expect(t.threads!.map((x) => x.program)).toEqual(expect.arrayContaining(["sigma0", "vmm", "vmm-irq"]));
    expect(t.threads!.filter((x) => x.kind === "vcpu")).toHaveLength(1);
  });

  it("finds a kernel panic's line, the oops before it and its call trace, and names the instant its line began", () => {
    const r = record(PANIC, machine);
    const t = triage(readRecording(r.file), {});
    expect(t.cause).toMatchObject({ kind: "end", reason: "panic" });
    expect(t.panic).toMatchObject({
      line: "Kernel panic - not syncing: Fatal exception",
      cause: "Oops: 0002 [#1] SMP",
      trace: ["dump_stack+0x10/0x20", "panic+0xc1/0x2a0", "? do_exit+0x5/0x100"],
    });
    expect(t.beforeWhy).toBe("as the kernel began to print its panic line");
    // Replayed to that instant, the console holds everything before the panic line and none of it.
    const out: number[] = [];
    const s = Session.replay(readRecording(r.file), (b) => out.push(b));
    s.run({ maxInsns: t.before });
    const text = Buffer.from(out).toString("latin1");
    expect(text.endsWith("EIP: do_mount+0x12/0x80\n")).toBe(true);
    s.run({ maxInsns: t.before + 2 });
    expect(Buffer.from(out).toString("latin1").endsWith("\n[")).toBe(true);
  });

  it("reports a hang with where the guest halted", () => {
    const r = record(STI_HLT, machine);
    const t = triage(readRecording(r.file), {});
    expect(t.cause).toMatchObject({ kind: "end", reason: "hang" });
    expect(t.instruction!.text).toBe("jmp    0x" + (t.instruction!.linear >>> 0).toString(16));
    expect(t.console).toEqual(["waiting"]);
  });

  it("reports a replay divergence, with where it departed", () => {
    const r = record(LOOP, machine, 20_000, 200_000);
    const rec = readRecording(r.file);
    // The third hash forged: the replay departs there.
    const hashes = rec.records.filter((x) => x.t === "hash");
    expect(hashes.length).toBeGreaterThan(3);
    const forged = { ...rec, records: rec.records.map((x) => (x === hashes[2] ? { ...x, hash: "0".repeat(32) } : x)) };
    const t = triage(forged, {});
    expect(t.cause.kind).toBe("divergence");
    expect(t.cause.kind === "divergence" && t.cause.message).toMatch(/^replay diverged at icount \d+/);
    expect(t.at.icount).toBe(hashes[2].icount);
    expect(t.beforeWhy).toBe("where the replay departed from the recording");
  });

  it("reports a recording cut off as one, having replayed all it holds", () => {
    // Run in pieces, as a host does between looks at its console: each piece ends a chunk.
    const chunks: Uint8Array[] = [];
    const session = new Session(
      { guest: { kind: "image", bytes: LOOP }, machine, ramSize: 8 * MiB, rtcEpochSeconds: 1_700_000_000, console: () => {} },
      { sink: (b) => chunks.push(Uint8Array.from(b)), argv: [], tool: "test", embedImages: true, hashEvery: 5_000 },
    );
    for (let k = 1; k <= 6; k++) session.run({ maxInsns: k * 20_000 });
    session.end("limit", "test");
    // Cut in the middle of the chunk of the fourth piece: the first three are whole.
    // (The writer's sink hears the signature, the header's chunk, a chunk a piece and the end's.)
    expect(chunks).toHaveLength(2 + 6 + 1);
    const at = 2 + 3;
    const cut = readRecording(Buffer.concat([...chunks.slice(0, at), chunks[at].subarray(0, chunks[at].length >> 1)]));
    expect(cut.end).toBeUndefined();
    expect(cut.truncatedAt).toBe(Buffer.concat(chunks.slice(0, at)).length);
    expect(cut.records.at(-1)).toMatchObject({ t: "pos", icount: 60_000 });
    const t = triage(cut, {});
    expect(t.cause).toEqual({ kind: "cut" });
    expect(t.at.icount).toBe(60_000);
  });
});

import { describe, expect, it } from "vitest";
import { DATA, FakeMachine, PROGRAM } from "../../test/gdb/fake-machine.js";
import { hexOfText, textOfHex, u32le } from "./hex.js";
import { PacketDecoder, escapeBinary, frame } from "./packet.js";
import { REGISTER_BYTES, REGS, targetXml } from "./registers.js";
import { GdbConnection, stopReply, type StubOptions } from "./stub.js";
import type { TargetError } from "./target.js";

const bytes = (s: string) => Uint8Array.from(Buffer.from(s, "latin1"));
/** A stop reply without its expedited registers (`04:f08f0000;`...), which one test checks on its own. */
const plain = (reply: string) => reply.replace(/[0-9a-f]{2}:[0-9a-f]{8};/g, "");

/** A gdb stand-in talking to a GdbConnection in memory: what it sends, what comes back. */
function client(target = new FakeMachine(), options: StubOptions = {}) {
  const decoder = new PacketDecoder(1 << 20);
  const replies: string[] = [];
  const raw: string[] = [];
  const state = { closed: false, killed: false };
  const conn = new GdbConnection(
    target,
    {
      send: (b) => {
        raw.push(Buffer.from(b).toString("latin1"));
        for (const ev of decoder.feed(b)) if (ev.type === "packet") replies.push(ev.payload);
      },
      close: () => (state.closed = true),
      kill: () => (state.killed = true),
    },
    { sliceBudget: 3, ...options },
  );
  const send = (text: string) => conn.receive(bytes(text));
  /** Sends one packet and returns the replies that came back synchronously. */
  const ask = (payload: string): string[] => {
    replies.length = 0;
    send(frame(payload));
    return replies.splice(0);
  };
  const one = (payload: string): string => {
    const r = ask(payload);
    expect(r, payload).toHaveLength(1);
    return r[0];
  };
  /** Sends a resume packet and waits for its stop reply (without the expedited registers), which may come after many slices. */
  const resume = async (payload: string, then?: () => void): Promise<string> => plain(await resumeRaw(payload, then));
  const resumeRaw = async (payload: string, then?: () => void): Promise<string> => {
    replies.length = 0;
    send(frame(payload));
    then?.();
    for (let i = 0; i < 1000 && replies.length === 0; i++) await new Promise((r) => setImmediate(r));
    expect(replies, payload).toHaveLength(1);
    return replies.splice(0)[0];
  };
  return { target, conn, send, ask, one, resume, resumeRaw, raw, replies, state };
}

const eipOf = (c: ReturnType<typeof client>) => c.one("p8");

describe("gdb stub: queries", () => {
  it("offers the features gdb negotiates in qSupported", () => {
    const r = client().one("qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;vContSupported+");
    expect(r.split(";")).toEqual(
      expect.arrayContaining(["PacketSize=4000", "qXfer:features:read+", "swbreak+", "hwbreak+", "vContSupported+", "QStartNoAckMode+"]),
    );
    expect(r).not.toContain("Reverse");
  });

  it("serves the target description in pieces that reassemble to the whole XML", () => {
    const c = client();
    let xml = "";
    for (let off = 0; ; ) {
      const r = c.one(`qXfer:features:read:target.xml:${off.toString(16)},80`);
      expect(r[0]).toMatch(/[ml]/);
      xml += r.slice(1);
      off += r.length - 1;
      if (r[0] === "l") break;
    }
    expect(xml).toBe(targetXml());
    expect(xml).toContain('<feature name="org.gnu.gdb.i386.core">');
    for (const n of ["eax", "eip", "eflags", "gs", "st0", "st7", "fctrl", "fop"]) expect(xml).toContain(`name="${n}"`);
    expect(c.one("qXfer:features:read:other.xml:0,100")).toBe("E00");
    expect(c.one("qXfer:features:read:target.xml:zz,100")).toBe("E16");
  });

  it("describes registers in the order of QEMU's i386 target, with x87 data registers of 80 bits", () => {
    expect(REGS.map((r) => r.name).slice(0, 25)).toEqual([
      "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags", "cs", "ss", "ds", "es", "fs", "gs",
      "fs_base", "gs_base", "k_gs_base", "cr0", "cr2", "cr3", "cr4", "cr8", "efer",
    ]);
    expect(REGS.slice(25, 33).every((r) => r.size === 10)).toBe(true);
    expect(REGS.slice(33).map((r) => r.name)).toEqual([
      "fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop", "gdtr_base", "gdtr_limit", "idtr_base", "idtr_limit",
    ]);
    expect(REGISTER_BYTES).toBe(25 * 4 + 8 * 10 + 12 * 4);
    expect(targetXml()).toMatch(/<reg name="cr0" bitsize="32" type="i386_cr0" regnum="19"\/>/);
    expect(targetXml()).toMatch(/<flags id="i386_cr0" size="4">\n\s*<field name="PG" start="31" end="31"\/>/);
  });

  it("answers the thread queries for its one thread", () => {
    const c = client();
    expect(c.one("qAttached")).toBe("1");
    expect(c.one("qC")).toBe("QC1");
    expect(c.one("qfThreadInfo")).toBe("m1");
    expect(c.one("qsThreadInfo")).toBe("l");
    expect(c.one("Hg0")).toBe("OK");
    expect(c.one("Hc-1")).toBe("OK");
    expect(c.one("T1")).toBe("OK");
    expect(c.one("Hq1")).toBe("E16");
  });

  it("answers unknown packets with the empty reply", () => {
    const c = client();
    for (const p of ["qTStatus", "vMustReplyEmpty", "!", "qOffsets", "jfoo", "vFile:open:0"]) expect(c.one(p)).toBe("");
  });

  it("switches m, M and X to physical addresses with QEMU's Qqemu.PhyMemMode, when the target has physical memory", () => {
    expect(client().one("Qqemu.PhyMemMode:1")).toBe("");
    const physical = new Uint8Array(0x100).map((_, i) => i);
    const target = Object.assign(new FakeMachine(), { readPhysical: (addr: number, len: number) => physical.slice(addr, addr + len) });
    const c = client(target);
    expect(c.one("qqemu.PhyMemMode")).toBe("0");
    expect(c.one("m10,4")).toBe("E0e"); // virtual 0x10 is unmapped on the toy machine
    expect(c.one("Qqemu.PhyMemMode:1")).toBe("OK");
    expect(c.one("qqemu.PhyMemMode")).toBe("1");
    expect(c.one("m10,4")).toBe("10111213");
    expect(c.one("mfe,4")).toBe("feff");
    expect(c.one("M10,1:00")).toBe("E.physical memory is read-only here");
    expect(c.one("Qqemu.PhyMemMode:2")).toBe("E16");
    expect(c.one("Qqemu.PhyMemMode:0")).toBe("OK");
    expect(c.one(`m${DATA.toString(16)},4`)).toBe(u32le(0xdeadbeef));
  });

  it("tells gdb how far the target moved its symbol file's sections with qOffsets", () => {
    const target = Object.assign(new FakeMachine(), { sectionOffsets: () => 0x5000000 });
    expect(client(target).one("qOffsets")).toBe("Text=5000000;Data=5000000;Bss=5000000");
  });

  it("refuses reverse execution when the target cannot do it", () => {
    const c = client();
    expect(c.one("bc")).toBe("");
    expect(c.one("bs")).toBe("");
  });

  it("offers and drives reverse execution when the target can do it", async () => {
    const t = new FakeMachine();
    Object.assign(t, { capabilities: { reverse: true } });
    const requests: string[] = [];
    t.resume = (req) => {
      requests.push(`${req.action} ${req.direction}`);
      return { state: "stopped", stop: { kind: "historyEdge", edge: "begin" } };
    };
    const c = client(t);
    expect(c.one("qSupported").split(";")).toEqual(expect.arrayContaining(["ReverseStep+", "ReverseContinue+"]));
    expect(await c.resume("bs")).toBe("T05replaylog:begin;thread:1;");
    expect(await c.resume("bc")).toBe("T05replaylog:begin;thread:1;");
    expect(requests).toEqual(["step reverse", "continue reverse"]);
  });

  it("reports the stop reason for ?", () => {
    expect(plain(client().one("?"))).toBe("T05thread:1;");
  });
});

describe("gdb stub: registers and memory", () => {
  it("reads all registers in the g layout", () => {
    const g = client().one("g");
    expect(g).toHaveLength(REGISTER_BYTES * 2);
    expect(g.slice(8 * 8, 9 * 8)).toBe(u32le(PROGRAM.movEax)); // eip
    expect(g.slice(9 * 8, 10 * 8)).toBe(u32le(0x202)); // eflags
    expect(g.slice(10 * 8, 11 * 8)).toBe(u32le(8)); // cs
  });

  it("writes registers with G and P and reads them back with p", () => {
    const c = client();
    const g = c.one("g");
    expect(c.one("G" + u32le(0x11223344) + g.slice(8))).toBe("OK");
    expect(c.one("p0")).toBe(u32le(0x11223344));
    expect(c.one("P3=" + u32le(0xcafe))).toBe("OK");
    expect(c.target.regs.ebx).toBe(0xcafe);
    expect(c.one("P19=" + "00".repeat(9) + "40")).toBe("OK"); // st0
    expect(c.one("p19")).toBe("00".repeat(9) + "40");
  });

  it("answers malformed register packets with an error", () => {
    const c = client();
    expect(c.one("p99")).toBe("E16");
    expect(c.one("pxyz")).toBe("E16");
    expect(c.one("P0=1234")).toBe("E16");
    expect(c.one("P0")).toBe("E16");
    expect(c.one("G123")).toBe("E16");
    expect(c.one("G" + "00".repeat(REGISTER_BYTES + 1))).toBe("E16");
  });

  it("reads memory, short at the end of a mapping, and fails on an unmapped address", () => {
    const c = client();
    expect(c.one(`m${DATA.toString(16)},8`)).toBe(u32le(0xdeadbeef) + u32le(0xcafebabe));
    expect(c.one(`m${(DATA + 0xffe).toString(16)},4`)).toBe("0000");
    expect(c.one("m5000,4")).toBe("E0e");
    expect(c.one("mffffffff,2")).toBe("E0e");
    expect(c.one("m1000")).toBe("E16");
    expect(c.one("m1000,zz")).toBe("E16");
    expect(c.one("m123456789,1")).toBe("E16");
  });

  it("caps a large read at what one reply can carry", () => {
    const c = client(new FakeMachine(), { maxPacket: 256 });
    expect(c.one(`m${DATA.toString(16)},1000`)).toHaveLength(256);
  });

  it("writes memory with M (hex) and X (binary)", () => {
    const c = client();
    expect(c.one(`M${DATA.toString(16)},2:abcd`)).toBe("OK");
    expect(c.one(`m${DATA.toString(16)},2`)).toBe("abcd");
    const data = Uint8Array.of(0x23, 0x24, 0x7d, 0x2a);
    expect(c.one(`X${DATA.toString(16)},4:` + escapeBinary(data))).toBe("OK");
    expect(c.one(`m${DATA.toString(16)},4`)).toBe("23247d2a");
    expect(c.one(`X${DATA.toString(16)},0:`)).toBe("OK");
  });

  it("refuses memory writes with wrong lengths, bad hex or unmapped addresses", () => {
    const c = client();
    expect(c.one("M2000,2:abcdef")).toBe("E16");
    expect(c.one("M2000,2:zzzz")).toBe("E16");
    expect(c.one("M2000,2")).toBe("E16");
    expect(c.one("X2000,2:a")).toBe("E16");
    expect(c.one("X2000,1:}")).toBe("E16");
    expect(c.one("M5000,1:00")).toBe("E0e");
  });

  it("answers every write the target refuses with E. and its reason, which gdb prints", async () => {
    const target = new FakeMachine();
    const no: TargetError = { error: "refused", message: "a replay cannot change history: $state# is read-only" };
    target.writeMemory = () => no;
    target.writeRegisters = () => no;
    const c = client(target);
    const reply = "E.a replay cannot change history: ?state? is read-only";
    expect(c.one(`M${DATA.toString(16)},2:abcd`)).toBe(reply);
    expect(c.one(`X${DATA.toString(16)},1:a`)).toBe(reply);
    expect(c.one("P0=01000000")).toBe(reply);
    expect(c.one("G" + "00".repeat(REGISTER_BYTES))).toBe(reply);
    expect(c.one("c2000")).toBe(reply);
    target.writeMemory = () => ({ error: "refused" });
    expect(c.one(`M${DATA.toString(16)},1:ab`)).toBe("E0d");
  });
});

describe("gdb stub: running", () => {
  it("single-steps with s and reports SIGTRAP", async () => {
    const c = client();
    expect(await c.resume("s")).toBe("T05thread:1;");
    expect(eipOf(c)).toBe(u32le(PROGRAM.incEax));
    expect(c.one("p0")).toBe(u32le(0x12345678));
  });

  it("expedites esp, ebp and eip in every stop reply, as gdbserver does on i386", async () => {
    const c = client();
    c.target.regs.ebp = 0x8fe0;
    const esp = REGS.findIndex((r) => r.name === "esp"), ebp = esp + 1, eip = REGS.findIndex((r) => r.name === "eip");
    expect([esp, ebp, eip]).toEqual([4, 5, 8]);
    expect(await c.resumeRaw("s")).toBe(`T0504:${u32le(0x8ff0)};05:${u32le(0x8fe0)};08:${u32le(PROGRAM.incEax)};thread:1;`);
    c.one(`Z0,${PROGRAM.store.toString(16)},1`);
    expect(await c.resumeRaw("c")).toBe(`T05swbreak:;04:${u32le(0x8ff0)};05:${u32le(0x8fe0)};08:${u32le(PROGRAM.store)};thread:1;`);
    expect(c.one("?")).toBe(`T05swbreak:;04:${u32le(0x8ff0)};05:${u32le(0x8fe0)};08:${u32le(PROGRAM.store)};thread:1;`);
  });

  it("range-steps with vCont;r until the eip leaves the range, or a breakpoint inside it stops it", async () => {
    const c = client();
    // mov eax; inc eax; inc ebx; fld1 lie in [movEax, store): four instructions, then out of the range.
    expect(await c.resume(`vCont;r${PROGRAM.movEax.toString(16)},${PROGRAM.store.toString(16)}:1;c`)).toBe("T05thread:1;");
    expect(eipOf(c)).toBe(u32le(PROGRAM.store));
    c.target.reset();
    c.one(`Z0,${PROGRAM.incEbx.toString(16)},1`);
    expect(await c.resume(`vCont;r${PROGRAM.movEax.toString(16)},${PROGRAM.store.toString(16)}`)).toBe("T05swbreak:;thread:1;");
    expect(eipOf(c)).toBe(u32le(PROGRAM.incEbx));
    // A range that does not hold the eip: one instruction, as a plain step.
    c.target.reset();
    expect(await c.resume("vCont;r2000,2010:1")).toBe("T05thread:1;");
    expect(eipOf(c)).toBe(u32le(PROGRAM.incEax));
    expect(c.one("vCont;rxyz,10")).toBe("E16");
  });

  it("steps and continues through vCont", async () => {
    const c = client();
    expect(c.one("vCont?")).toBe("vCont;c;C;s;S;r");
    expect(await c.resume("vCont;s:1")).toBe("T05thread:1;");
    expect(eipOf(c)).toBe(u32le(PROGRAM.incEax));
    expect(await c.resume("vCont;s:1;c")).toBe("T05thread:1;");
    expect(await c.resume("vCont;c")).toBe("T00thread:1;"); // runs to the hlt
    expect(c.one("vCont;x")).toBe("E16");
  });

  it("stops at a software breakpoint without patching memory", async () => {
    const c = client();
    expect(c.one(`Z0,${PROGRAM.store.toString(16)},1`)).toBe("OK");
    expect(c.one(`m${PROGRAM.store.toString(16)},1`)).toBe("a3");
    expect(await c.resume("c")).toBe("T05swbreak:;thread:1;");
    expect(eipOf(c)).toBe(u32le(PROGRAM.store));
    expect(c.one(`z0,${PROGRAM.store.toString(16)},1`)).toBe("OK");
    expect(await c.resume("c")).toBe("T00thread:1;");
  });

  it("continues from a breakpoint it just reported instead of stopping again", async () => {
    const c = client();
    c.one(`Z0,${PROGRAM.incEbx.toString(16)},1`);
    expect(await c.resume("c")).toBe("T05swbreak:;thread:1;");
    expect(await c.resume("c")).toBe("T00thread:1;");
  });

  it("stops at a hardware breakpoint", async () => {
    const c = client();
    expect(c.one(`Z1,${PROGRAM.nop.toString(16)},1`)).toBe("OK");
    expect(await c.resume("c")).toBe("T05hwbreak:;thread:1;");
    expect(eipOf(c)).toBe(u32le(PROGRAM.nop));
  });

  it("reports write, read and access watchpoints with the watched address", async () => {
    const c = client();
    expect(c.one(`Z2,${DATA.toString(16)},4`)).toBe("OK");
    expect(await c.resume("c")).toBe(`T05watch:${DATA.toString(16)};thread:1;`);
    expect(eipOf(c)).toBe(u32le(PROGRAM.load)); // after the store
    expect(c.one(`z2,${DATA.toString(16)},4`)).toBe("OK");
    expect(c.one(`Z3,${(DATA + 4).toString(16)},4`)).toBe("OK");
    expect(await c.resume("c")).toBe(`T05rwatch:${(DATA + 4).toString(16)};thread:1;`);
    c.target.reset();
    const d = client(c.target);
    expect(d.one(`Z4,${DATA.toString(16)},1`)).toBe("OK");
    expect(await d.resume("c")).toBe(`T05awatch:${DATA.toString(16)};thread:1;`);
  });

  it("rejects malformed breakpoint packets", () => {
    const c = client();
    expect(c.one("Z5,1000,1")).toBe("E16");
    expect(c.one("Z0,1000")).toBe("E16");
    expect(c.one("Z0,xyz,1")).toBe("E16");
    expect(c.one("Z0,1000,1;X2,0a")).toBe("OK"); // a condition list is ignored, not an error
  });

  it("continues from a given address with c ADDR", async () => {
    const c = client();
    expect(await c.resume(`c${PROGRAM.nop.toString(16)}`)).toBe("T00thread:1;");
    expect(eipOf(c)).toBe(u32le(PROGRAM.hlt + 1));
  });

  it("runs in bounded slices and stops on Ctrl-C", async () => {
    const c = client();
    const stop = await c.resume(`c${PROGRAM.loop.toString(16)}`, () => {
      expect(c.conn.isRunning).toBe(true); // still running after the first slice: the loop never ends
      setTimeout(() => c.send("\x03"), 20);
    });
    expect(stop).toBe("T02thread:1;");
    expect(c.target.log.filter((l) => l.startsWith("continue")).length).toBeGreaterThan(1);
    expect(c.target.log.filter((l) => l.endsWith("first"))).toHaveLength(1);
    expect(plain(c.one("?"))).toBe("T02thread:1;");
  });

  it("answers packets that arrive during a run after the stop reply", async () => {
    const c = client();
    c.send(frame(`c${PROGRAM.loop.toString(16)}`) + frame("qC"));
    expect(c.replies).toEqual([]);
    c.send("\x03");
    for (let i = 0; i < 100 && c.replies.length < 2; i++) await new Promise((r) => setImmediate(r));
    expect(c.replies.map(plain)).toEqual(["T02thread:1;", "QC1"]);
  });

  it("stops on a Ctrl-C that arrives in the same chunk as the continue", async () => {
    const c = client();
    c.send(frame(`c${PROGRAM.loop.toString(16)}`) + "\x03");
    for (let i = 0; i < 100 && c.replies.length < 1; i++) await new Promise((r) => setImmediate(r));
    expect(c.replies.map(plain)).toEqual(["T02thread:1;"]);
  });

  it("reports an illegal instruction and a fetch from unmapped memory as signals", async () => {
    const c = client();
    expect(await c.resume("c3000")).toBe("T0bthread:1;");
    c.one(`M${DATA.toString(16)},1:0f`);
    expect(await c.resume(`c${DATA.toString(16)}`)).toBe("T04thread:1;");
  });

  it("ignores a Ctrl-C while stopped", () => {
    const c = client();
    c.send("\x03");
    expect(c.replies).toEqual([]);
    expect(plain(c.one("?"))).toBe("T05thread:1;");
  });
});

describe("gdb stub: stop replies", () => {
  it("formats each stop reason", () => {
    expect(stopReply({ kind: "signal", signal: 11 })).toBe("T0bthread:1;");
    expect(stopReply({ kind: "watch", watch: "access", addr: 0xc0001000 })).toBe("T05awatch:c0001000;thread:1;");
    expect(stopReply({ kind: "exited", code: 0 })).toBe("W00");
    expect(stopReply({ kind: "historyEdge", edge: "begin" })).toBe("T05replaylog:begin;thread:1;");
  });
});

describe("gdb stub: monitor commands", () => {
  it("passes qRcmd to the target and returns its output as console packets", () => {
    const r = client().ask("qRcmd," + hexOfText("help"));
    expect(r.at(-1)).toBe("OK");
    const text = r.slice(0, -1).map((o) => textOfHex(o.slice(1))).join("");
    expect(text).toMatch(/^help\s+list the monitor commands\nwhen\s+the instruction count\n$/);
  });

  it("shows a target's error for an unknown command", () => {
    const r = client().ask("qRcmd," + hexOfText("frobnicate"));
    expect(textOfHex(r[0].slice(1))).toBe('error: unknown monitor command "frobnicate"; try "monitor help"\n');
    expect(r[1]).toBe("OK");
  });

  it("splits long output over several packets", () => {
    const t = new FakeMachine();
    t.monitor = () => "x".repeat(1000);
    const r = client(t, { maxPacket: 256 }).ask("qRcmd," + hexOfText("long"));
    expect(r.length).toBeGreaterThan(4);
    expect(r.slice(0, -1).map((o) => textOfHex(o.slice(1))).join("")).toBe("x".repeat(1000));
  });

  it("rejects a command that is not hex", () => {
    expect(client().one("qRcmd,zz")).toBe("E16");
  });
});

describe("gdb stub: the protocol around the packets", () => {
  it("acknowledges each packet and resends its last reply on a nack", () => {
    const c = client();
    c.raw.length = 0;
    c.send(frame("qC"));
    expect(c.raw).toEqual(["+", frame("QC1")]);
    c.send("-");
    expect(c.raw.at(-1)).toBe(frame("QC1"));
  });

  it("asks for a resend of a packet with a bad checksum", () => {
    const c = client();
    c.raw.length = 0;
    c.send("$qC#00");
    expect(c.raw).toEqual(["-"]);
  });

  it("stops acknowledging after QStartNoAckMode", () => {
    const c = client();
    expect(c.one("QStartNoAckMode")).toBe("OK");
    c.raw.length = 0;
    c.send(frame("qC"));
    expect(c.raw).toEqual([frame("QC1")]);
    c.send("-");
    expect(c.raw).toHaveLength(1);
  });

  it("answers an oversized packet with an error and carries on", () => {
    const c = client(new FakeMachine(), { maxPacket: 64 });
    expect(c.one("M2000,40:" + "00".repeat(0x40))).toBe("E07");
    expect(plain(c.one("?"))).toBe("T05thread:1;");
  });

  it("answers broken run-length encoding with an error", () => {
    expect(client().one("*!")).toBe("E16");
  });

  it("run-length encodes replies when asked to", () => {
    const c = client(new FakeMachine(), { runLength: true });
    c.raw.length = 0;
    const g = c.one("g");
    expect(g).toHaveLength(REGISTER_BYTES * 2);
    expect(c.raw.join("").length).toBeLessThan(REGISTER_BYTES);
  });

  it("survives a target that throws, with an error reply", () => {
    const c = client();
    c.target.throwOn = "readRegisters";
    expect(c.one("g")).toBe("E01");
    c.target.throwOn = undefined;
    expect(c.one("g")).toHaveLength(REGISTER_BYTES * 2);
  });

  it("detaches with D: OK, breakpoints removed, connection closed", () => {
    const c = client();
    c.one("Z0,1005,1");
    c.one("Z2,2000,4");
    expect(c.one("D")).toBe("OK");
    expect(c.state.closed).toBe(true);
    expect(c.target.swBreaks.size).toBe(0);
    expect(c.target.watches).toHaveLength(0);
    expect(c.ask("?")).toEqual([]);
  });

  it("sends nothing after D, even for packets in the same chunk", () => {
    const c = client();
    c.raw.length = 0;
    c.send(frame("D") + frame("qC") + "-");
    expect(c.raw).toEqual(["+", frame("OK")]);
  });

  it("ends the session on k without a reply", () => {
    const c = client();
    expect(c.ask("k")).toEqual([]);
    expect(c.state.killed).toBe(true);
    expect(c.state.closed).toBe(true);
  });

  it("removes a vanished client's breakpoints when it is disposed", () => {
    const c = client();
    c.one("Z1,1005,1");
    c.conn.dispose();
    expect(c.target.hwBreaks.size).toBe(0);
  });
});

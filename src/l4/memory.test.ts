import { describe, expect, it } from "vitest";
import {
  COMPLETE_FPAGE,
  Label,
  Rights,
  acceptor,
  call,
  fpage,
  globalId,
  ioFpage,
  isPageFaultLabel,
  msgTag,
  putMapItem,
  receive,
  replyWait,
  send,
  tagLabel,
  unmapControl,
  wait,
  type Syscall,
  type SyscallResult,
  type UserProgram,
  type Utcb,
} from "./api.js";
import { bootTest, scriptLog, script } from "./testing/programs.js";

const tid = (no: number) => globalId(no, 1);
const A = tid(40);
const B = tid(41);
const C = tid(42);
const P = tid(43);
const WHOLE = acceptor(COMPLETE_FPAGE);

function mapMsg(f: number, sndBase: number, grant = false, label = 0): number[] {
  const mr = new Uint32Array(3);
  mr[0] = msgTag(label, 0, 2);
  putMapItem(mr, 1, f, sndBase, grant);
  return Array.from(mr);
}

/** A sigma0 request: MR1 the fpage wanted. */
function sigma0Request(f: number): number[] {
  return [msgTag(Label.SIGMA0, 2, 0), f, 0];
}

describe("sigma0 and the mapping database", () => {
  it("sigma0 hands out physical memory idempotently, once", () => {
    const { k } = bootTest();
    const ask = { call: call(k.sigma0), mr: sigma0Request(fpage(0x200000, 16, Rights.RWX)), acceptor: WHOLE };
    k.spawn(40, { program: script(ask), pager: k.sigma0 });
    k.spawn(41, { program: script(ask), pager: k.sigma0, priority: 50 });
    k.run(1_000_000);
    expect(k.translate(A, 0x20abcd)).toEqual({ paddr: 0x20abcd, rights: Rights.RWX });
    expect(k.mappings(A, 0x200000, 16).map((n) => [n.vaddr, n.log2, n.parent])).toEqual([[0x200000, 16, 0]]);
    // The second asker gets a nil fpage: the memory is A's.
    expect(k.translate(B, 0x200000)).toBeNull();
    expect(scriptLog(k, B)[0].mr[2]).toBe(0);
  });

  it("sigma0 never gives out the kernel's memory", () => {
    const { k } = bootTest();
    k.spawn(40, { program: script({ call: call(k.sigma0), mr: sigma0Request(fpage(15 << 20, 20, Rights.RWX)), acceptor: WHOLE }) });
    k.run(1_000_000);
    expect(k.translate(A, 15 << 20)).toBeNull();
  });

  it("maps, grants and unmaps recursively through the mapping database", () => {
    const { k } = bootTest();
    k.spawn(40, {
      priority: 100,
      program: script(
        { call: call(k.sigma0), mr: sigma0Request(fpage(0x200000, 16, Rights.RWX)), acceptor: WHOLE },
        // 16 KiB, read-write, into B's 1 MiB window at 8 MiB.
        { call: send(B), mr: mapMsg(fpage(0x204000, 14, Rights.RW), 0x204000) },
        { call: receive(C) },
        { call: { op: "unmap", control: unmapControl(1, false) }, mr: [fpage(0x204000, 14, Rights.RWX)] },
        { call: { op: "unmap", control: unmapControl(1, true) }, mr: [fpage(0x200000, 12, Rights.RWX)] },
      ),
    });
    k.spawn(41, {
      priority: 90,
      program: script(
        { call: receive(A), acceptor: acceptor(fpage(0x800000, 20)) },
        { call: send(C), mr: mapMsg(fpage(0x805000, 12, Rights.R), 0x805000) },
        { call: send(C), mr: mapMsg(fpage(0x806000, 12, Rights.RW), 0x306000, true) },
      ),
    });
    k.spawn(42, {
      priority: 80,
      program: script(
        { call: receive(B), acceptor: WHOLE },
        { call: receive(B) },
        { call: send(A), mr: [msgTag(0, 0, 0)] },
      ),
    });
    // Run until C has both mappings, before A unmaps.
    while (scriptLog(k, C).length < 2) k.step();
    expect(k.translate(B, 0x804123)).toEqual({ paddr: 0x204123, rights: Rights.RW });
    expect(k.translate(B, 0x807000)).toEqual({ paddr: 0x207000, rights: Rights.RW });
    expect(k.translate(C, 0x805000)).toEqual({ paddr: 0x205000, rights: Rights.R });
    // The grant moved B's page to C.
    expect(k.translate(B, 0x806000)).toBeNull();
    expect(k.translate(C, 0x306000)).toEqual({ paddr: 0x206000, rights: Rights.RW });
    // Everything derives from A's node.
    const aNode = k.mappings(A, 0x204000, 14)[0];
    const granted = k.mappings(C, 0x306000, 12)[0];
    expect(k.mappings(B, 0x806000, 12)).toEqual([]);
    expect(granted.parent).not.toBe(0);

    k.run(k.platform.now() + 1_000_000);
    expect(scriptLog(k, A).map((e) => e.result.op)).toEqual(["ipc", "ipc", "ipc", "unmap", "unmap"]);
    // The first unmap took back everything derived from A's 16 KiB, in B and in C, granted or not.
    for (const [id, a] of [[B, 0x804000], [B, 0x807000], [C, 0x805000], [C, 0x306000]] as const) expect(k.translate(id, a)).toBeNull();
    expect(k.translate(A, 0x204000)).toEqual({ paddr: 0x204000, rights: Rights.RWX });
    expect(aNode.children.length).toBeGreaterThan(0);
    // The second one (with the flush bit) took A's own first page too, and only that page.
    expect(k.translate(A, 0x200000)).toBeNull();
    expect(k.translate(A, 0x201000)).not.toBeNull();
    expect(k.translate(A, 0x20f000)).not.toBeNull();
  });

  it("unmapping part of a large mapping splits it and keeps the rest", () => {
    const { k } = bootTest();
    k.spawn(40, {
      priority: 100,
      program: script(
        { call: call(k.sigma0), mr: sigma0Request(fpage(0x400000, 22, Rights.RWX)), acceptor: WHOLE },
        { call: send(B), mr: mapMsg(fpage(0x400000, 22, Rights.RWX), 0x400000) },
        { call: { op: "unmap", control: unmapControl(1, false) }, mr: [fpage(0x401000, 12, Rights.RWX)] },
        { call: { op: "unmap", control: unmapControl(1, false) }, mr: [fpage(0x600000, 21, Rights.W)] },
      ),
    });
    k.spawn(41, { priority: 90, program: script({ call: receive(A), acceptor: WHOLE }) });
    k.run(1_000_000);
    expect(k.translate(B, 0x400000)).toEqual({ paddr: 0x400000, rights: Rights.RWX });
    expect(k.translate(B, 0x401000)).toBeNull();
    expect(k.translate(B, 0x402000)).toEqual({ paddr: 0x402000, rights: Rights.RWX });
    // Revoking only W leaves the upper 2 MiB readable and executable.
    expect(k.translate(B, 0x7ff000)).toEqual({ paddr: 0x7ff000, rights: Rights.RX });
    // 4 MiB less one page is nodes of 2 MiB, 1 MiB, ..., 8 KiB, and the other 4 KiB page.
    expect(k.mappings(B, 0x400000, 22).map((n) => n.log2).sort((x, y) => x - y)).toEqual([12, 13, 14, 15, 16, 17, 18, 19, 20, 21]);
    // A keeps all of it.
    expect(k.translate(A, 0x401000)).toEqual({ paddr: 0x401000, rights: Rights.RWX });
  });

  it("places a small fpage in a larger receive window at the send base's offset, and cuts a large one to the window", () => {
    const { k } = bootTest();
    k.spawn(40, {
      priority: 100,
      program: script(
        { call: call(k.sigma0), mr: sigma0Request(fpage(0x400000, 20, Rights.RWX)), acceptor: WHOLE },
        { call: send(B), mr: mapMsg(fpage(0x410000, 12, Rights.RW), 0x123000) },
        { call: send(B), mr: mapMsg(fpage(0x400000, 20, Rights.RW), 0x00d000) },
      ),
    });
    k.spawn(41, {
      priority: 90,
      program: script(
        { call: receive(A), acceptor: acceptor(fpage(0x1000000, 24)) },
        { call: receive(A), acceptor: acceptor(fpage(0x2000000, 14)) },
      ),
    });
    k.run(1_000_000);
    expect(k.translate(B, 0x1123000)?.paddr).toBe(0x410000);
    // sndBase 0xd000 in a 1 MiB fpage with a 16 KiB window: the 16 KiB piece at offset 0xc000.
    expect(k.translate(B, 0x2000000)?.paddr).toBe(0x40c000);
    expect(k.translate(B, 0x2003000)?.paddr).toBe(0x40f000);
    expect(k.translate(B, 0x2004000)).toBeNull();
  });
});

/** A pager that backs faults from its own 1 MiB at 4 MiB: fault page x gets 0x400000 + (x mod 1 MiB). */
interface PagerState {
  faults: [number, number, number][];
}

const PAGER: UserProgram<PagerState> = {
  step(s: PagerState, utcb: Utcb, r: SyscallResult): Syscall {
    if (r.op === "start") {
      utcb.mr[0] = msgTag(Label.SIGMA0, 2, 0);
      utcb.mr[1] = fpage(0x400000, 20, Rights.RWX);
      utcb.mr[2] = 0;
      utcb.acceptor = WHOLE;
      return call(globalId(32, 1));
    }
    if (r.op !== "ipc" || !isPageFaultLabel(tagLabel(r.tag))) return wait();
    const addr = utcb.mr[1];
    s.faults.push([r.from, addr, tagLabel(r.tag) & 7]);
    const page = Math.floor(addr / 4096) * 4096;
    utcb.mr[0] = msgTag(0, 0, 2);
    putMapItem(utcb.mr, 1, fpage(0x400000 + (page % (1 << 20)), 12, Rights.RWX), page);
    return replyWait(r.from);
  },
};

describe("page faults and the pager protocol", () => {
  it("a fault blocks the thread, IPCs its pager, and the access completes once the pager mapped the page", () => {
    const { k, p } = bootTest();
    k.spawn(40, {
      pager: k.sigma0,
      program: script(
        { call: { op: "write", addr: 0x300ffe, data: new Uint8Array([1, 2, 3, 4]) }, mr: [msgTag(9, 1, 0), 0x1234] },
        { call: { op: "read", addr: 0x300ffe, length: 4 } },
        { call: send(B) },
      ),
    });
    k.spawn(41, { priority: 50, program: script({ call: receive(A) }) });
    k.run(1_000_000);
    const l = scriptLog(k, A);
    expect(l.map((e) => e.result.op)).toEqual(["write", "read", "ipc"]);
    expect(Array.from((l[1].result as { data: Uint8Array }).data)).toEqual([1, 2, 3, 4]);
    expect(Array.from(p.s.mem.subarray(0x300ffe, 0x301002))).toEqual([1, 2, 3, 4]);
    // The write straddled two pages: two faults, both answered by sigma0; the read faulted no more.
    expect(k.stats.pageFaults).toBe(2);
    // The faults did not disturb A's message registers: B got what A loaded before the write.
    expect(scriptLog(k, B)[0].mr).toEqual([msgTag(9, 1, 0), 0x1234]);
  });

  it("a user-level pager maps its own memory where the faulting thread wants it", () => {
    const { k, p } = bootTest({ programs: { pager: PAGER } });
    k.spawn(43, { pager: k.sigma0, priority: 200, program: { name: "pager", state: { faults: [] } } });
    k.spawn(40, { pager: P, program: script({ call: { op: "write", addr: 0x10010, data: new Uint8Array([0xaa]) } }, { call: { op: "read", addr: 0x10010, length: 1 } }) });
    k.run(1_000_000);
    expect((k.thread(P)!.progState as PagerState).faults).toEqual([[A, 0x10010, Rights.W]]);
    expect(p.s.mem[0x410010]).toBe(0xaa);
    expect(k.translate(A, 0x10010)).toEqual({ paddr: 0x410010, rights: Rights.RWX });
    expect(Array.from((scriptLog(k, A)[1].result as { data: Uint8Array }).data)).toEqual([0xaa]);
  });

  it("a port access without the port faults to the pager, which maps an I/O fpage", () => {
    const { k, p } = bootTest({ reservedPorts: [[0x20, 2]] });
    k.spawn(40, {
      pager: k.sigma0,
      program: script({ call: { op: "out", port: 0x3f8, size: 1, value: 0x41 } }, { call: { op: "in", port: 0x3f8, size: 1 } }),
    });
    k.run(1_000_000);
    expect(p.s.portLog).toEqual([["out", 0x3f8, 1, 0x41], ["in", 0x3f8, 1, 0x41]]);
    expect(k.stats.ioFaults).toBe(1);
    expect(k.translate(A, 0x3f8, true)).not.toBeNull();
    expect(k.translate(A, 0x3f9, true)).toBeNull();
    expect(ioFpage(0x3f8, 0) >>> 16).toBe(0x3f8);
  });

  it("a fault with no pager halts the thread", () => {
    const { k } = bootTest();
    k.spawn(40, { program: script({ call: { op: "read", addr: 0x5000, length: 4 } }) });
    k.run(1_000_000);
    expect(k.threadState(A)).toBe("halted");
    expect(k.stats.orphanFaults).toBe(1);
  });
});

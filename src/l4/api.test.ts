import { describe, expect, it } from "vitest";
import {
  COMPLETE_FPAGE,
  EventType,
  GuestField,
  IpcError,
  Label,
  Rights,
  XFER_ALL,
  XFER_GROUP_FIRST,
  XFER_GROUPS,
  Xfer,
  acceptor,
  decodeIoQualification,
  exitReasonName,
  fpage,
  fpageBase,
  fpageLog2,
  fpageRights,
  globalId,
  injectionInfo,
  ioFpage,
  ioFpageLog2,
  ioFpagePort,
  ipcErrorCode,
  ipcErrorInReceive,
  ipcErrorKind,
  ipcFailed,
  isIoFpage,
  isPageFaultLabel,
  isVfaultLabel,
  itemSndBase,
  itemType,
  msgTag,
  putMapItem,
  tagFlags,
  tagLabel,
  tagT,
  tagU,
  threadNo,
  threadVersion,
  vfaultLabel,
  vfaultReason,
  withRights,
  xferGroupOf,
  xferIndex,
  xferWords,
} from "./api.js";

// Layouts as Pistachio's user/include/l4/{types,message}.h define them on ia32 (32-bit words).
describe("the X.2 word layouts", () => {
  it("global thread ids are thread number << 14 | version", () => {
    const t = globalId(0x2abcd, 0x1234);
    expect(t).toBe(((0x2abcd << 14) | 0x1234) >>> 0);
    expect([threadNo(t), threadVersion(t)]).toEqual([0x2abcd, 0x1234]);
  });

  it("a message tag is label:16 flags:4 t:6 u:6", () => {
    const tag = msgTag(0xffe6, 2, 4, 8);
    expect(tag).toBe(0xffe68102);
    expect([tagLabel(tag), tagFlags(tag), tagT(tag), tagU(tag), ipcFailed(tag)]).toEqual([0xffe6, 8, 4, 2, true]);
    expect(isPageFaultLabel(tagLabel(tag))).toBe(true);
  });

  it("a flexpage is base | s << 4 | rwx; s = 1 at base 0 is the whole space", () => {
    const f = fpage(0x12345000, 12, Rights.RW);
    expect(f).toBe(0x123450c6);
    expect([fpageBase(f), fpageLog2(f), fpageRights(f)]).toEqual([0x12345000, 12, Rights.RW]);
    expect(fpageBase(fpage(0x400000, 22))).toBe(0x400000);
    expect(fpageLog2(COMPLETE_FPAGE)).toBe(32);
    expect(fpageBase(COMPLETE_FPAGE)).toBe(0);
    expect(withRights(f, 0)).toBe(0x123450c0);
  });

  it("an I/O fpage is port << 16 | s << 10 | 2 << 4 | rwx, and never mistaken for memory", () => {
    const f = ioFpage(0x3f8, 3, Rights.RW);
    expect(f).toBe(0x03f80c26);
    expect([isIoFpage(f), ioFpagePort(f), ioFpageLog2(f)]).toEqual([true, 0x3f8, 3]);
    expect(isIoFpage(fpage(0x1000, 12))).toBe(false);
  });

  it("map and grant items are snd_base | type << 1, then the fpage", () => {
    const mr = new Uint32Array(4);
    expect(putMapItem(mr, 1, fpage(0x5000, 12, 7), 0x80005000)).toBe(3);
    expect([mr[1], mr[2]]).toEqual([0x80005008, 0x50c7]);
    putMapItem(mr, 1, fpage(0x5000, 12, 7), 0x5000, true);
    expect([itemType(mr[1]), itemSndBase(mr[1])]).toEqual([5, 0x5000]);
  });

  it("an acceptor is the receive window with its low bits clear", () => {
    expect(acceptor(fpage(0x800000, 20, 7))).toBe(0x800140);
    expect(acceptor(COMPLETE_FPAGE)).toBe(0x10);
  });

  it("IPC error codes are offset << 4 | err << 1 | phase", () => {
    const e = ipcErrorCode(IpcError.MSG_OVERFLOW, true, 3);
    expect(e).toBe(0x39);
    expect([ipcErrorKind(e), ipcErrorInReceive(e)]).toEqual([IpcError.MSG_OVERFLOW, true]);
  });
});

describe("the virtualization extension's layouts", () => {
  it("a vfault label carries the exit reason", () => {
    expect(vfaultLabel(30)).toBe(0xf81e);
    expect([isVfaultLabel(0xf81e), vfaultReason(0xf81e)]).toEqual([true, 30]);
    expect(isVfaultLabel(Label.PAGE_FAULT)).toBe(false);
  });

  it("transfer groups tile the guest-state words in order", () => {
    expect(XFER_GROUP_FIRST).toHaveLength(XFER_GROUPS + 1);
    expect(XFER_GROUP_FIRST[XFER_GROUPS]).toBe(GuestField.COUNT);
    for (let g = 0; g < XFER_GROUPS; g++) expect(XFER_GROUP_FIRST[g + 1]).toBeGreaterThan(XFER_GROUP_FIRST[g]);
    expect(xferWords(XFER_ALL)).toBe(GuestField.COUNT);
    expect(xferWords(Xfer.GPR_ACDB | Xfer.EIP | Xfer.CS_SS)).toBe(4 + 1 + 8);
    expect(xferGroupOf(GuestField.SS_ATTR)).toBe(7);
  });

  it("finds a field's word in a block laid out by a mask", () => {
    const mask = Xfer.GPR_ACDB | Xfer.EIP | Xfer.CR | Xfer.INJ;
    expect(xferIndex(mask, GuestField.EAX)).toBe(0);
    expect(xferIndex(mask, GuestField.EBX)).toBe(3);
    expect(xferIndex(mask, GuestField.EIP)).toBe(4);
    expect(xferIndex(mask, GuestField.CR3)).toBe(7);
    expect(xferIndex(mask, GuestField.ENTRY_ERROR_CODE)).toBe(10);
    expect(xferIndex(mask, GuestField.ESP)).toBe(-1);
  });

  it("gives the VMM src/vmx's decoders for what a vfault carries", () => {
    // out dx, al to 0x3f8 (SDM table 27-5): size 0 (1 byte), direction 0 (out), DX, port 31:16.
    expect(decodeIoQualification(0x03f80000)).toMatchObject({ port: 0x3f8, size: 1, input: false, string: false });
    expect(exitReasonName(30)).toBe("IO_INSTRUCTION");
  });

  it("builds VM-entry interruption information", () => {
    expect(injectionInfo(14, EventType.HARDWARE_EXCEPTION, true)).toBe(0x80000b0e);
    expect(injectionInfo(0x30, EventType.EXTERNAL)).toBe(0x80000030);
  });
});

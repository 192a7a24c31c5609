// I/O instruction exits (reason 30): IN, OUT, INS and OUTS, with or without REP, go to the
// virtual chips (devices.ts). A port no chip claims reads as all ones and ignores writes, like an
// empty ISA bus; both are counted.

import { GuestField, IoQualBit, Rights, decodeIoQualification, ioFpage, ioQualPort, ioQualSize, type IoQual } from "../l4/api.js";
import type { AccessSize } from "../devices/port.js";
import { Flag } from "../x86/eflags.js";
import { Reg } from "../x86/insn.js";
import { REP_CHUNK } from "../x86/rep.js";
import { Outcome, type ExitCtx } from "./context.js";
import { Dev, deviceAt, isTimedDevice } from "./devices.js";
import { isFault, readLinear, writeLinear, type PageFault } from "./memory.js";
import type { Exit } from "./message.js";

const SIZE_MASK = [0, 0xff, 0xffff, 0, 0xffffffff];

/** Whether an I/O exit reaches a chip that runs on guest time (it needs the clock first). */
export function ioNeedsClock(x: Exit, uartTimed: boolean): boolean {
  return isTimedDevice(deviceAt(ioQualPort(x.qualification)), uartTimed);
}

function count(c: ExitCtx, port: number, input: boolean, n = 1): void {
  const e = (c.s.stats.io[port] ??= [0, 0]);
  e[input ? 0 : 1] += n;
}

/** An IN from the guest's point of view: a chip's answer, or all ones. */
export function portIn(c: ExitCtx, port: number, size: AccessSize): number {
  const v = c.dev.read(port, size);
  if (v === undefined) {
    c.s.stats.unknownPortReads++;
    return SIZE_MASK[size];
  }
  // Reading the UART may have made room in its FIFO for input that waits.
  if (deviceAt(port) === Dev.UART) c.vm.feedInput();
  return v & SIZE_MASK[size];
}

export function portOut(c: ExitCtx, port: number, size: AccessSize, value: number): void {
  const v = value & SIZE_MASK[size];
  if (!c.dev.write(port, size, v)) {
    c.s.stats.unknownPortWrites++;
    return;
  }
  const d = deviceAt(port);
  if (d === Dev.POST) c.s.stats.postCode = v & 0xff;
  else if (d === Dev.UART) c.vm.feedInput();
}

export function ioExit(c: ExitCtx): Outcome {
  const q = c.x.qualification;
  if ((q & IoQualBit.STRING) !== 0) return stringIo(c, decodeIoQualification(q));
  // IN and OUT, most of all exits: read field by field, with no object made.
  const port = ioQualPort(q), size = ioQualSize(q), input = (q & IoQualBit.INPUT) !== 0;
  count(c, port, input);
  if (size === 1 && passThrough(c, port)) return Outcome.REPLY;
  const m = SIZE_MASK[size];
  if (input) {
    const v = portIn(c, port, size);
    c.setGpr(Reg.EAX, ((c.gpr(Reg.EAX) & ~m) | v) >>> 0);
  } else {
    portOut(c, port, size, c.gpr(Reg.EAX) & m);
  }
  return c.advance();
}

/**
 * The first access to a port the VMM passes through: the reply maps it into the VM (the kernel
 * clears it in the VM's I/O bitmaps) and the guest runs the instruction again, now on the port
 * itself, as it retries an access to RAM after an EPT violation. False for any other port.
 */
function passThrough(c: ExitCtx, port: number): boolean {
  const s = c.s;
  const i = s.passable.indexOf(port);
  if (i < 0) return false;
  s.passable.splice(i, 1);
  s.passed.push(port);
  c.reply.map(ioFpage(port, 0, Rights.RWX), 0);
  return true;
}

/**
 * INS/OUTS: the first element's linear address is the exit's guest-linear address; the address
 * size (which of CX/ECX, SI/ESI, DI/EDI count) comes from decoding the instruction. A REP moves
 * one chunk per exit (REP_CHUNK elements at most, 4 KiB, as the CPU runs one per execution); with
 * more to do EIP stays on the instruction, so the guest runs it again (and can take an interrupt
 * in between). Each element moved retires, as each iteration does on the CPU (a REP with a count
 * of zero retires once). An element whose page is not present ends the chunk with #PF after the
 * elements before it, their registers committed and retired.
 */
function stringIo(c: ExitCtx, q: IoQual): Outcome {
  const insn = c.instruction();
  if (insn === null) return Outcome.NEED;
  if (isFault(insn)) return c.pageFault(insn.fault, false);
  const a32 = insn.adsize === 32;
  const amask = a32 ? 0xffffffff : 0xffff;
  const ecx = c.gpr(Reg.ECX);
  const total = q.rep ? (ecx & amask) >>> 0 : 1;
  if (total === 0) return c.advance();
  const size = q.size;
  const down = (c.get(GuestField.EFLAGS) & Flag.DF) !== 0;
  const lin = c.get(GuestField.GUEST_LINEAR);
  const p = c.paging();
  /** Linear address of element k (the order the instruction moves them). */
  const at = (k: number) => (lin + (down ? -k : k) * size) >>> 0;
  /** The lowest address of elements 0..n-1. */
  const low = (n: number) => (down ? at(n - 1) : lin);
  // Whether `len` bytes at `a` can be moved: their bytes (OUTS), true (INS: translations only,
  // nothing written yet), null while reads are missing, or the page fault.
  const probe = (a: number, len: number): Uint8Array | true | null | PageFault => {
    if (!q.input) return readLinear(c.mem, p, a, len);
    const r = writeLinear(c.mem, p, a, new Uint8Array(len));
    c.mem.writes.length = 0;
    return r;
  };

  // The elements of this chunk whose pages are there, in order: all, or those before a fault.
  const chunk = Math.min(total, REP_CHUNK);
  let n = chunk;
  let fault: PageFault | null = null;
  const whole = probe(low(chunk), chunk * size);
  if (whole === null) return Outcome.NEED;
  if (isFault(whole)) {
    for (n = 0; n < chunk; n++) {
      const e = probe(at(n), size);
      if (e === null) return Outcome.NEED;
      if (isFault(e)) {
        fault = e;
        break;
      }
    }
  }
  if (n > 0) {
    const span = n * size;
    /** Byte offset of element k in [low(n), low(n) + span). */
    const off = (k: number) => (down ? (n - 1 - k) * size : k * size);
    if (!q.input) {
      const bytes = n === chunk ? (whole as Uint8Array) : (readLinear(c.mem, p, low(n), span) as Uint8Array);
      for (let k = 0; k < n; k++) {
        let v = 0;
        for (let i = size - 1; i >= 0; i--) v = (v << 8) | bytes[off(k) + i];
        portOut(c, q.port, size, v >>> 0);
      }
    } else {
      // Every translation was made before the first port read: reads from a chip cannot be taken back.
      const bytes = new Uint8Array(span);
      for (let k = 0; k < n; k++) {
        const v = portIn(c, q.port, size);
        for (let i = 0; i < size; i++) bytes[off(k) + i] = (v >>> (8 * i)) & 0xff;
      }
      writeLinear(c.mem, p, low(n), bytes);
    }
  }
  count(c, q.port, q.input, n);
  c.s.stats.stringIo++;
  c.s.stats.stringElements += n;

  const idx = q.input ? Reg.EDI : Reg.ESI;
  const old = c.gpr(idx);
  c.setGpr(idx, ((old & ~amask) | ((old + (down ? -n : n) * size) & amask)) >>> 0);
  const left = total - n;
  if (q.rep) c.setGpr(Reg.ECX, ((ecx & ~amask) | (left & amask)) >>> 0);
  if (fault === null && left === 0) return c.advance(undefined, n);
  // Not done: EIP stays on the instruction; the elements moved retire.
  if (n > 0) c.retire(n);
  if (fault) return c.pageFault(fault.fault, q.input);
  return Outcome.REPLY;
}

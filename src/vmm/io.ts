// I/O instruction exits (reason 30): IN, OUT, INS and OUTS, with or without REP, go to the
// virtual chips (devices.ts). A port no chip claims reads as all ones and ignores writes, like an
// empty ISA bus; both are counted.

import { GuestField, Rights, decodeIoQualification, ioFpage, type IoQual } from "../l4/api.js";
import type { AccessSize } from "../devices/port.js";
import { Flag } from "../x86/eflags.js";
import { Reg } from "../x86/insn.js";
import { Outcome, type ExitCtx } from "./context.js";
import { Dev, deviceAt, isTimedDevice } from "./devices.js";
import { isFault, readLinear, writeLinear } from "./memory.js";
import type { Exit } from "./message.js";

/** Most bytes one string I/O exit moves; a longer REP goes on after the guest re-executes it. */
export const STRING_IO_CHUNK = 4096;

const SIZE_MASK = [0, 0xff, 0xffff, 0, 0xffffffff];

/** Whether an I/O exit reaches a chip that runs on guest time (it needs the clock first). */
export function ioNeedsClock(x: Exit): boolean {
  return isTimedDevice(deviceAt(decodeIoQualification(x.qualification).port));
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
  const q = decodeIoQualification(c.x.qualification);
  if (q.string) return stringIo(c, q);
  count(c, q.port, q.input);
  if (q.size === 1 && passThrough(c, q.port)) return Outcome.REPLY;
  const m = SIZE_MASK[q.size];
  if (q.input) {
    const v = portIn(c, q.port, q.size);
    c.setGpr(Reg.EAX, ((c.gpr(Reg.EAX) & ~m) | v) >>> 0);
  } else {
    portOut(c, q.port, q.size, c.gpr(Reg.EAX) & m);
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
 * size (which of CX/ECX, SI/ESI, DI/EDI count) comes from decoding the instruction. Up to
 * STRING_IO_CHUNK bytes move per exit; a REP with more to do leaves EIP on the instruction, so
 * the guest runs it again (and can take an interrupt in between, as on the CPU).
 */
function stringIo(c: ExitCtx, q: IoQual): Outcome {
  const insn = c.instruction();
  if (insn === null) return Outcome.NEED;
  if (isFault(insn)) return c.pageFault(insn.fault, false);
  const a32 = insn.adsize === 32;
  const amask = a32 ? 0xffffffff : 0xffff;
  const ecx = c.gpr(Reg.ECX);
  const total = q.rep ? ecx & amask : 1;
  if (total === 0) return c.advance();
  const size = q.size;
  const n = Math.min(total, Math.floor(STRING_IO_CHUNK / size));
  const down = (c.get(GuestField.EFLAGS) & Flag.DF) !== 0;
  const lin = c.get(GuestField.GUEST_LINEAR);
  const span = n * size;
  const low = (down ? lin - (n - 1) * size : lin) >>> 0;
  const p = c.paging();
  /** Byte offset in [low, low + span) of element k (the order the instruction moves them). */
  const at = (k: number) => (down ? (n - 1 - k) * size : k * size);

  if (!q.input) {
    const bytes = readLinear(c.mem, p, low, span);
    if (bytes === null) return Outcome.NEED;
    if (isFault(bytes)) return c.pageFault(bytes.fault, false);
    for (let k = 0; k < n; k++) {
      const o = at(k);
      let v = 0;
      for (let b = size - 1; b >= 0; b--) v = (v << 8) | bytes[o + b];
      portOut(c, q.port, size, v >>> 0);
    }
  } else {
    // Every translation before the first port read: reads from a chip cannot be taken back.
    const probe = writeLinear(c.mem, p, low, new Uint8Array(span));
    if (probe === null) return Outcome.NEED;
    if (isFault(probe)) return c.pageFault(probe.fault, true);
    c.mem.writes.length = 0;
    const bytes = new Uint8Array(span);
    for (let k = 0; k < n; k++) {
      const v = portIn(c, q.port, size);
      const o = at(k);
      for (let b = 0; b < size; b++) bytes[o + b] = (v >>> (8 * b)) & 0xff;
    }
    writeLinear(c.mem, p, low, bytes);
  }
  count(c, q.port, q.input, n);
  c.s.stats.stringIo++;
  c.s.stats.stringElements += n;

  const idx = q.input ? Reg.EDI : Reg.ESI;
  const step = down ? -span : span;
  const old = c.gpr(idx);
  c.setGpr(idx, ((old & ~amask) | ((old + step) & amask)) >>> 0);
  if (q.rep) {
    const left = total - n;
    c.setGpr(Reg.ECX, ((ecx & ~amask) | (left & amask)) >>> 0);
    if (left > 0) return Outcome.REPLY;
  }
  return c.advance();
}

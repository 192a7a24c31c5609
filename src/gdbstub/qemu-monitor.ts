// The machine as QEMU's monitor shows it, for gdb's `monitor`: `info registers` in the layout of
// QEMU's x86_cpu_dump_state (target/i386/cpu-dump.c, 32-bit, with the x87), `xp` as QEMU's
// physical memory dump, and the VCPU's VMCS by field name. Pure formatting of what the Session's
// debugger reads; session-target.ts puts them in its monitor table.

import type { GuestRegisters, SegmentCache, SystemRegisters, VmcsDump } from "../replay/debug.js";
import type { TargetError } from "./target.js";

const hex = (v: number, digits: number) => (v >>> 0).toString(16).padStart(digits, "0");

// Access-rights bits (the VMX layout SegmentCache.attr has).
const AR_TYPE = 0xf, AR_S = 0x10, AR_P = 0x80, AR_DB = 0x4000, AR_G = 0x8000;
const CODE = 8, CONFORMING = 4, READABLE = 2, EXPAND_DOWN = 4, WRITABLE = 2, ACCESSED = 1;
const CR0_PE = 1;
/** QEMU's names of system descriptor types in 32-bit mode. */
const SYSTEM_TYPES = [
  "Reserved", "TSS16-avl", "LDT", "TSS16-busy", "CallGate16", "TaskGate", "IntGate16", "TrapGate16",
  "Reserved", "TSS32-avl", "Reserved", "TSS32-busy", "CallGate32", "Reserved", "IntGate32", "TrapGate32",
];

/**
 * A segment line: selector, base, limit and the descriptor's flags as QEMU keeps them (the high
 * doubleword's bits 23:8: type, S, DPL, P, limit 19:16, AVL, D/B, G), then what they mean.
 */
function segmentLine(name: string, s: SegmentCache, protectedMode: boolean): string {
  const rawLimit = (s.attr & AR_G) !== 0 ? s.limit >>> 12 : s.limit;
  const flags = ((s.attr & 0xff) << 8) | (((rawLimit >>> 16) & 0xf) << 16) | ((s.attr & 0xf000) << 8);
  let line = `${name.padEnd(3)}=${hex(s.sel, 4)} ${hex(s.base, 8)} ${hex(s.limit, 8)} ${hex(flags, 8)}`;
  if (!protectedMode || (s.attr & AR_P) === 0) return line;
  line += ` DPL=${(s.attr >>> 5) & 3} `;
  const type = s.attr & AR_TYPE;
  if ((s.attr & AR_S) === 0) return line + SYSTEM_TYPES[type];
  if ((type & CODE) !== 0) {
    line += (s.attr & AR_DB) !== 0 ? "CS32" : "CS16";
    line += ` [${(type & CONFORMING) !== 0 ? "C" : "-"}${(type & READABLE) !== 0 ? "R" : "-"}`;
  } else {
    line += (s.attr & AR_DB) !== 0 ? "DS  " : "DS16";
    line += ` [${(type & EXPAND_DOWN) !== 0 ? "E" : "-"}${(type & WRITABLE) !== 0 ? "W" : "-"}`;
  }
  return line + `${(type & ACCESSED) !== 0 ? "A" : "-"}]`;
}

/** An 80-bit register as QEMU prints it: the 64-bit significand, then sign and exponent. */
function f80(b: Uint8Array): string {
  const dv = new DataView(b.buffer, b.byteOffset, 10);
  return `${dv.getBigUint64(0, true).toString(16).padStart(16, "0")} ${hex(dv.getUint16(8, true), 4)}`;
}

/**
 * `info registers`: QEMU's layout for a 32-bit CPU. This CPU has no SSE, so the MXCSR and XMM
 * registers QEMU prints are left out; the TSC, which QEMU's dump does not show, follows EFER.
 */
export function infoRegisters(r: GuestRegisters, s: SystemRegisters, tsc: bigint): string {
  const fl = r.eflags;
  const bit = (mask: number, c: string) => ((fl & mask) !== 0 ? c : "-");
  const flagText = bit(0x400, "D") + bit(0x800, "O") + bit(0x80, "S") + bit(0x40, "Z") + bit(0x10, "A") + bit(0x4, "P") + bit(0x1, "C");
  const pe = (s.cr0 & CR0_PE) !== 0;
  const top = (r.fstat >>> 11) & 7;
  // The x87 registers by physical number (ST(i) is R[(TOP + i) mod 8]) and the abridged tag word.
  const phys = (k: number) => r.st[(k - top) & 7];
  let ftw = 0;
  for (let k = 0; k < 8; k++) if (((r.ftag >>> (2 * k)) & 3) !== 3) ftw |= 1 << k;
  const lines = [
    "",
    "CPU#0",
    `EAX=${hex(r.eax, 8)} EBX=${hex(r.ebx, 8)} ECX=${hex(r.ecx, 8)} EDX=${hex(r.edx, 8)}`,
    `ESI=${hex(r.esi, 8)} EDI=${hex(r.edi, 8)} EBP=${hex(r.ebp, 8)} ESP=${hex(r.esp, 8)}`,
    `EIP=${hex(r.eip, 8)} EFL=${hex(fl, 8)} [${flagText}] CPL=${s.cpl} II=${s.interruptShadow ? 1 : 0} A20=1 SMM=0 HLT=${s.halted ? 1 : 0}`,
    ...["ES", "CS", "SS", "DS", "FS", "GS"].map((n, k) => segmentLine(n, s.segs[k], pe)),
    segmentLine("LDT", s.ldtr, pe),
    segmentLine("TR", s.tr, pe),
    `GDT=     ${hex(s.gdtr.base, 8)} ${hex(s.gdtr.limit, 8)}`,
    `IDT=     ${hex(s.idtr.base, 8)} ${hex(s.idtr.limit, 8)}`,
    `CR0=${hex(s.cr0, 8)} CR2=${hex(s.cr2, 8)} CR3=${hex(s.cr3, 8)} CR4=${hex(s.cr4, 8)}`,
    s.dr.slice(0, 4).map((v, k) => `DR${k}=${hex(v, 8)} `).join(""),
    `DR6=${hex(s.dr[4], 8)} DR7=${hex(s.dr[5], 8)}`,
    `EFER=${hex(0, 8)}${hex(s.efer, 8)}`,
    `TSC=${tsc.toString(16).padStart(16, "0")}`,
    `FCW=${hex(r.fctrl, 4)} FSW=${hex(r.fstat, 4)} [ST=${top}] FTW=${hex(ftw, 2)}`,
    ...[0, 2, 4, 6].map((k) => `FPR${k}=${f80(phys(k))} FPR${k + 1}=${f80(phys(k + 1))}`),
  ];
  return lines.join("\n") + "\n";
}

/** A parsed `/NFU` format: count, format letter, unit size in bytes. */
interface DumpFormat {
  count: number;
  format: "x" | "d" | "u" | "o" | "c";
  size: 1 | 2 | 4 | 8;
}

const UNITS: { [u: string]: DumpFormat["size"] } = { b: 1, h: 2, w: 4, g: 8 };

/**
 * `xp /NFU ADDR` as QEMU parses it (count N, format x d u o c, unit b h w g; each optional, by
 * default one word in hex), or `xp ADDR [LEN]`: LEN bytes (default 16) in hex.
 */
export function parseXp(args: string[], parseNumber: (s: string | undefined) => number | undefined): { addr: number; fmt: DumpFormat } | TargetError {
  const usage: TargetError = { error: "invalid", message: "xp: expected /NFU ADDR (N count, F one of x d u o c, U one of b h w g) or ADDR [LEN]" };
  if (args[0]?.startsWith("/")) {
    const m = /^\/(\d*)([xduoc]?)([bhwg]?)$/.exec(args[0]);
    const addr = parseNumber(args[1]);
    if (!m || addr === undefined || args.length !== 2) return usage;
    const format = (m[2] || "x") as DumpFormat["format"];
    return { addr, fmt: { count: m[1] === "" ? 1 : Number(m[1]), format, size: format === "c" ? 1 : UNITS[m[3] || "w"] } };
  }
  const addr = parseNumber(args[0]);
  const len = args[1] === undefined ? 16 : parseNumber(args[1]);
  if (addr === undefined || len === undefined || args.length > 2) return usage;
  return { addr, fmt: { count: len, format: "x", size: 1 } };
}

/** The most bytes one `xp` shows. */
export const XP_MAX = 64 * 1024;

/**
 * QEMU's memory_dump of guest-physical memory: lines of 16 bytes (8 for bytes), each headed by its
 * 16-digit address; " Cannot access memory" where `bytes` (read from `addr`) ends short.
 */
export function physicalDump(addr: number, fmt: DumpFormat, bytes: Uint8Array): string {
  const { format, size } = fmt;
  const total = fmt.count * size;
  const lineSize = size === 1 ? 8 : 16;
  const digits = format === "o" ? Math.ceil((size * 8) / 3) : format === "u" || format === "d" ? Math.ceil((size * 8 * 10) / 33) : size * 2;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let out = "";
  for (let at = 0; at < total; at += lineSize) {
    out += `${(addr + at).toString(16).padStart(16, "0")}:`;
    const l = Math.min(lineSize, total - at);
    if (at + l > bytes.length) return out + " Cannot access memory\n";
    for (let i = at; i < at + l; i += size) {
      const v = size === 8 ? dv.getBigUint64(i, true) : BigInt(size === 4 ? dv.getUint32(i, true) : size === 2 ? dv.getUint16(i, true) : dv.getUint8(i));
      // QEMU loads the smaller units unsigned, so only 8-byte units print negative with d.
      const signed = size === 8 ? BigInt.asIntN(64, v) : v;
      out += " ";
      switch (format) {
        case "x": out += "0x" + v.toString(16).padStart(digits, "0"); break;
        case "o": out += (v === 0n ? "0" : "0" + v.toString(8)).padStart(digits, " "); break;
        case "u": out += v.toString().padStart(digits, " "); break;
        case "d": out += signed.toString().padStart(digits, " "); break;
        case "c": out += printable(Number(v)); break;
      }
    }
    out += "\n";
  }
  return out;
}

/** A byte as QEMU's monitor_printc shows it: 'c', or an escape. */
function printable(c: number): string {
  const named: { [c: number]: string } = { 0x27: "\\'", 0x5c: "\\\\", 0x0a: "\\n", 0x0d: "\\r" };
  if (named[c] !== undefined) return `'${named[c]}'`;
  return c >= 32 && c <= 126 ? `'${String.fromCharCode(c)}'` : `'\\x${hex(c, 2)}'`;
}

/** The VMCS, a field a line in encoding order (those whose SDM name contains `filter`, if given). */
export function vmcsLines(v: VmcsDump, filter?: string): string {
  const want = filter?.toUpperCase();
  const rows = v.fields
    .filter(({ name }) => want === undefined || name.includes(want))
    .map(({ enc, name, value }) => {
      const text = typeof value === "bigint" ? value.toString(16).padStart(16, "0") : hex(value, 8);
      return `${hex(enc, 4)} ${name.padEnd(36)} 0x${text}`;
    });
  const head = v.live
    ? "the VCPU's VMCS; the guest is in the CPU: its guest-state area as a VM exit now would leave it"
    : "the VCPU's VMCS; the guest is out of the CPU: its guest-state area as its last VM exit left it";
  // A name part that matches nothing says so: the head alone would read as an empty VMCS.
  if (rows.length === 0 && filter !== undefined) rows.push(`no field's name contains "${filter}" (monitor vmcs with no argument lists them all)`);
  return [head, ...rows].join("\n") + "\n";
}

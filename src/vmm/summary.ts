// What the VMM did, as plain data the CLI can print: exits by reason, I/O exits by port (with the
// virtual chip behind each), injections by vector, the policies' counters and how the guest ended.

import { exitName } from "../l4/api.js";
import { DEV_NAMES, deviceAt } from "./devices.js";
import type { VmmState, VmmStatus } from "./state.js";

export interface VmmSummary {
  status: VmmStatus;
  reason: string | null;
  exitCode: number;
  exits: { reason: number; name: string; count: number }[];
  totalExits: number;
  io: { port: number; device: string; ins: number; outs: number }[];
  /** Ports the guest reaches without exits (mapped into the VM at their first access). */
  passedThrough: number[];
  unknownPorts: { reads: number; writes: number };
  injections: { vector: number; count: number }[];
  reinjections: number;
  exceptions: { vector: number; count: number }[];
  msrs: { msr: number; reads: number; writes: number }[];
  counters: {
    windows: number;
    recalls: number;
    parks: number;
    wakes: number;
    cpuid: number;
    unknownMsrs: number;
    crWrites: number;
    stringIo: number;
    stringElements: number;
    ramMaps: number;
    mmio: number;
    hypercalls: number;
    ticks: number;
    inputEvents: number;
    inputBytes: number;
    inputDropped: number;
    consoleBytes: number;
    consoleDropped: number;
    memReads: number;
    memWrites: number;
    unexpected: number;
  };
  mmioAddresses: number[];
  postCode: number;
}

const byCount = <T extends { count: number }>(a: T, b: T) => b.count - a.count;

export function vmmSummary(s: VmmState): VmmSummary {
  const st = s.stats;
  const exits = Object.entries(st.exits)
    .map(([r, count]) => ({ reason: Number(r), name: exitName(Number(r)), count }))
    .sort((a, b) => byCount(a, b) || a.reason - b.reason);
  const io = Object.entries(st.io)
    .map(([p, [ins, outs]]) => ({ port: Number(p), device: DEV_NAMES[deviceAt(Number(p))], ins, outs }))
    .sort((a, b) => b.ins + b.outs - (a.ins + a.outs) || a.port - b.port);
  const vectors = (rec: Record<number, number>) =>
    Object.entries(rec)
      .map(([v, count]) => ({ vector: Number(v), count }))
      .sort((a, b) => a.vector - b.vector);
  return {
    status: s.status,
    reason: s.reason,
    exitCode: s.exitCode,
    exits,
    totalExits: exits.reduce((n, e) => n + e.count, 0),
    io,
    passedThrough: [...s.passed],
    unknownPorts: { reads: st.unknownPortReads, writes: st.unknownPortWrites },
    injections: vectors(st.injections),
    reinjections: st.reinjections,
    exceptions: vectors(st.exceptions),
    msrs: Object.entries(st.msrs)
      .map(([m, [reads, writes]]) => ({ msr: Number(m), reads, writes }))
      .sort((a, b) => a.msr - b.msr),
    counters: {
      windows: st.windows,
      recalls: st.recalls,
      parks: st.parks,
      wakes: st.wakes,
      cpuid: st.cpuid,
      unknownMsrs: st.unknownMsrs,
      crWrites: st.crWrites,
      stringIo: st.stringIo,
      stringElements: st.stringElements,
      ramMaps: st.ramMaps,
      mmio: st.mmio,
      hypercalls: st.hypercalls,
      ticks: st.ticks,
      inputEvents: st.inputEvents,
      inputBytes: st.inputBytes,
      inputDropped: st.inputDropped,
      consoleBytes: st.consoleBytes,
      consoleDropped: st.consoleDropped,
      memReads: st.memReads,
      memWrites: st.memWrites,
      unexpected: st.unexpected,
    },
    mmioAddresses: [...st.mmioAddresses],
    postCode: st.postCode,
  };
}

const hex = (n: number, w = 0) => "0x" + n.toString(16).padStart(w, "0");

/** The summary as lines of text. */
export function formatVmmSummary(v: VmmSummary): string[] {
  const out: string[] = [];
  out.push(`guest: ${v.status}${v.reason ? ` (${v.reason})` : ""}`);
  out.push(`VM exits: ${v.totalExits}`);
  for (const e of v.exits) out.push(`  ${e.name.padEnd(22)} ${String(e.count).padStart(10)}`);
  if (v.io.length > 0) {
    out.push("I/O exits by port:");
    for (const p of v.io) out.push(`  ${hex(p.port, 4)} ${p.device.padEnd(9)} in ${String(p.ins).padStart(9)}  out ${String(p.outs).padStart(9)}`);
  }
  if (v.passedThrough.length > 0) out.push(`passed through to the guest (no exits after the first): ${v.passedThrough.map((p) => hex(p, 4)).join(" ")}`);
  if (v.unknownPorts.reads || v.unknownPorts.writes) {
    out.push(`unclaimed ports: ${v.unknownPorts.reads} reads (all ones), ${v.unknownPorts.writes} writes (ignored)`);
  }
  if (v.injections.length > 0) out.push(`injected: ${v.injections.map((i) => `${hex(i.vector, 2)}×${i.count}`).join(" ")}`);
  if (v.exceptions.length > 0) out.push(`exceptions raised by the VMM: ${v.exceptions.map((i) => `#${i.vector}×${i.count}`).join(" ")}`);
  const c = v.counters;
  out.push(
    `interrupt windows ${c.windows}, recalls ${c.recalls}, HLT parks ${c.parks}, wakes ${c.wakes}, timer ticks ${c.ticks}, re-injections ${v.reinjections}`,
  );
  out.push(
    `CPUID ${c.cpuid}, MSR accesses ${v.msrs.reduce((n, m) => n + m.reads + m.writes, 0)} (unknown ${c.unknownMsrs}), CR writes ${c.crWrites}, hypercalls ${c.hypercalls}`,
  );
  out.push(`RAM maps ${c.ramMaps}, MMIO ${c.mmio}${v.mmioAddresses.length ? ` at ${v.mmioAddresses.map((a) => hex(a)).join(" ")}` : ""}, string I/O ${c.stringIo} (${c.stringElements} elements)`);
  out.push(`console: ${c.consoleBytes} bytes out${c.consoleDropped ? ` (${c.consoleDropped} dropped)` : ""}, ${c.inputBytes} bytes in${c.inputDropped ? ` (${c.inputDropped} dropped)` : ""}`);
  return out;
}

// The run's summary by layer, as `afterglow run` prints it at the end (and on Ctrl-A s): what the
// guest did (instructions, guest time), what the stack under it did for that (VM exits by reason,
// the kernel's IPCs and context switches, the VMM's work), and what it cost the host.

import type { StackSummary } from "../replay/session.js";
import { speedText } from "./progress.js";

const n = (v: number): string => v.toLocaleString("en-US");

/** Aligned lines, no trailing newline; `hostSeconds` is this process's wall time for the run. */
export function formatSummary(s: StackSummary, hostSeconds: number): string {
  const lines: string[] = [];
  const guestS = s.guestNs / 1e9;
  lines.push(
    `summary   ${n(s.instructions)} instructions, ${guestS.toFixed(3)} s guest, ${hostSeconds.toFixed(2)} s host` +
      ` (${speedText(s.instructions, hostSeconds)}, ${n(Math.round(s.totalExits / Math.max(hostSeconds, 1e-9)))} exits/s)`,
  );
  lines.push(`L4        ${n(s.ipcs)} IPCs, ${n(s.contextSwitches)} context switches, ${n(s.syscalls)} system calls, ${n(s.irqs)} interrupts`);
  const v = s.vmm;
  lines.push(
    `VMM       ${v.status}${v.reason ? ` (${v.reason})` : ""}; ${n(v.injections.reduce((a, i) => a + i.count, 0))} interrupts injected, ` +
      `${n(v.counters.consoleBytes)} console bytes out, ${n(v.counters.inputBytes)} in`,
  );
  lines.push(`VM exits  ${n(s.totalExits)}`);
  lines.push(...exitTable(s.exits));
  return lines.join("\n");
}

/** Exits by reason as aligned lines: name, count, share of all, and a bar scaled to the largest. */
export function exitTable(exits: readonly { name: string; count: number }[]): string[] {
  const total = exits.reduce((a, e) => a + e.count, 0);
  const width = Math.max(0, ...exits.map((e) => e.name.length));
  const countWidth = Math.max(0, ...exits.map((e) => n(e.count).length));
  const most = Math.max(1, ...exits.map((e) => e.count));
  return exits.map((e) => {
    const share = (100 * e.count) / Math.max(1, total);
    const bar = "#".repeat(Math.max(1, Math.round((24 * e.count) / most)));
    return `  ${e.name.padEnd(width)}  ${n(e.count).padStart(countWidth)}  ${share.toFixed(1).padStart(5)}%  ${bar}`;
  });
}

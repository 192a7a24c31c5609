import { describe, expect, it } from "vitest";
import { importsOf, read, sourceFiles, targetModuleOf, targetOf } from "./layers.js";

// Which layers each layer may import (ARCHITECTURE.md, "Layers"). Arrows point down only; the VMM
// sees the guest only through L4's interface; host-side tools go through the replay Session.
// `pkg:` entries are npm packages, `node:` the Node runtime.
const ALLOWED: Record<string, string[]> = {
  x86: ["x86"],
  devices: ["devices", "x86"],
  vmx: ["vmx", "x86"],
  machine: ["machine", "vmx", "devices", "x86"],
  // The kernel reaches the hardware only through its Platform interface, never src/machine.
  l4: ["l4", "vmx", "x86"],
  vmm: ["vmm", "l4", "devices", "x86"],
  replay: ["replay", "vmm", "l4", "machine", "vmx", "devices", "x86", "pkg:msgpackr", "node:*"],
  gdbstub: ["gdbstub", "replay", "x86", "node:*"],
  // The TUI's replay worker (src/tui/worker) serves gdb beside it (`--tui --gdb`): the stub is a
  // tool of the same rank, and both still move the machine only through the Session's Debugger.
  tui: ["tui", "replay", "gdbstub", "x86", "pkg:ink", "pkg:react", "node:*"],
  inspect: ["inspect", "replay", "pkg:chrome-remote-interface", "pkg:source-map-js", "node:*"],
  // The CLI also disassembles files, which needs only the pure ISA tables.
  cli: ["cli", "replay", "gdbstub", "tui", "inspect", "x86", "pkg:commander", "node:*"],
};

// Within an allowed layer, the only modules a layer may use, where that is narrower: the VMM is a
// user task and sees the kernel only through its one interface module.
const ONLY: Record<string, Record<string, string[]>> = {
  vmm: { l4: ["l4/api"] },
};

export function forbiddenImports(file: string, text: string): string[] {
  const layer = file.split("/")[1];
  const allowed = ALLOWED[layer];
  if (allowed === undefined) return [`${file} is in no known layer`];
  return importsOf(text)
    .map((spec) => [spec, targetOf(file, spec)] as const)
    .filter(([spec, t]) => {
      if (t.startsWith("node:")) return !allowed.includes("node:*");
      if (!allowed.includes(t)) return true;
      const only = ONLY[layer]?.[t];
      return only !== undefined && !only.includes(targetModuleOf(file, spec));
    })
    .map(([spec, t]) => `${file} imports ${spec} (${t})`);
}

describe("layer boundaries", () => {
  const files = Object.keys(ALLOWED).flatMap((l) => sourceFiles(`src/${l}`));

  it("every source file belongs to a known layer", () => {
    const all = sourceFiles("src");
    expect(all.filter((f) => ALLOWED[f.split("/")[1]] === undefined)).toEqual([]);
  });

  it.each(files)("%s imports only from the layers below it", (file) => {
    expect(forbiddenImports(file, read(file))).toEqual([]);
  });

  it("rejects a VMM that reaches into the machine or VT-x", () => {
    expect(forbiddenImports("src/vmm/exits.ts", 'import { Cpu } from "../machine/cpu/cpu.js";')).toHaveLength(1);
    expect(forbiddenImports("src/vmm/exits.ts", 'import type { Vmcs } from "../vmx/vmcs.js";')).toHaveLength(1);
    expect(forbiddenImports("src/vmm/exits.ts", 'import { ipc } from "../l4/api.js";')).toEqual([]);
  });

  it("lets the VMM see the kernel only through src/l4/api", () => {
    expect(forbiddenImports("src/vmm/exits.ts", 'import type { Kernel } from "../l4/kernel.js";')).toHaveLength(1);
    expect(forbiddenImports("src/vmm/devices/uart.ts", 'import { msgTag } from "../../l4/api.js";')).toEqual([]);
    expect(forbiddenImports("src/vmm/exits.ts", 'export { Label } from "../l4/api";')).toEqual([]);
  });

  it("keeps the kernel off the machine: it reaches hardware through its Platform", () => {
    expect(forbiddenImports("src/l4/kernel.ts", 'import { PhysMem } from "../machine/memory.js";')).toHaveLength(1);
    expect(forbiddenImports("src/l4/kernel.ts", 'import { ExitReason } from "../vmx/exits.js";')).toEqual([]);
  });

  it("rejects host-side tools that bypass the Session", () => {
    expect(forbiddenImports("src/gdbstub/target.ts", 'import { Cpu } from "../machine/cpu/cpu.js";')).toHaveLength(1);
    expect(forbiddenImports("src/cli/run.ts", 'import { Pc } from "../machine/pc.js";')).toHaveLength(1);
  });
});

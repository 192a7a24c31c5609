import { describe, expect, it } from "vitest";
import { importsOf, read, sourceFiles, targetOf } from "./layers.js";

// Which layers each layer may import (ARCHITECTURE.md, "Layers"). Arrows point down only; the VMM
// sees the guest only through L4's interface; host-side tools go through the replay Session.
// `pkg:` entries are npm packages, `node:` the Node runtime.
const ALLOWED: Record<string, string[]> = {
  x86: ["x86"],
  devices: ["devices", "x86"],
  vmx: ["vmx", "x86"],
  machine: ["machine", "vmx", "devices", "x86"],
  l4: ["l4", "machine", "vmx", "devices", "x86"],
  vmm: ["vmm", "l4", "devices", "x86"],
  replay: ["replay", "vmm", "l4", "machine", "vmx", "devices", "x86", "pkg:msgpackr", "node:*"],
  gdbstub: ["gdbstub", "replay", "x86", "node:*"],
  tui: ["tui", "replay", "x86", "pkg:ink", "pkg:react", "node:*"],
  inspect: ["inspect", "replay", "pkg:chrome-remote-interface", "node:*"],
  // The CLI also disassembles files, which needs only the pure ISA tables.
  cli: ["cli", "replay", "gdbstub", "tui", "inspect", "x86", "pkg:commander", "node:*"],
};

export function forbiddenImports(file: string, text: string): string[] {
  const layer = file.split("/")[1];
  const allowed = ALLOWED[layer];
  if (allowed === undefined) return [`${file} is in no known layer`];
  return importsOf(text)
    .map((spec) => [spec, targetOf(file, spec)] as const)
    .filter(([, t]) => !allowed.includes(t) && !(t.startsWith("node:") && allowed.includes("node:*")))
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

  it("rejects host-side tools that bypass the Session", () => {
    expect(forbiddenImports("src/gdbstub/target.ts", 'import { Cpu } from "../machine/cpu/cpu.js";')).toHaveLength(1);
    expect(forbiddenImports("src/cli/run.ts", 'import { Pc } from "../machine/pc.js";')).toHaveLength(1);
  });
});

// The native-conformance harness: loads the fixtures the host CPU produced
// (scripts/native/gen-cases.ts) and runs one case at a time against an emulator CPU through the
// small CpuUnderTest adapter below, returning the differences in words a person can act on.

import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import {
  COMPARED_FLAGS, REG_NAMES, SEG_NAMES, VECTORS_WITH_ERROR,
  type FixtureCase, type FixtureFamily, type FixtureMeta,
} from "./format.js";

export * from "./format.js";

export const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), "fixtures");

/** Architectural state the fixtures describe. All numbers are uint32 (selectors uint16). */
export interface NativeState {
  /** EAX ECX EDX EBX ESP EBP ESI EDI. */
  regs: number[];
  /** Linear address (the user code segment has base 0). */
  eip: number;
  eflags: number;
  /** Selectors ES CS SS DS FS GS. */
  segs: number[];
}

/** What one step did: the exception it raised, if any (vector and error code, else null). */
export interface StepResult {
  vector: number | null;
  error: number | null;
}

/**
 * The emulator CPU as the harness drives it. The adapter (test/native/adapter.ts, written by the
 * CPU core) puts the CPU in 32-bit protected mode at CPL 3 with paging off (linear = physical),
 * a GDT and LDT that reproduce `meta.descriptors` (and make the other selectors the cases name
 * fault the same way: see meta.notes), IOPL 0, CR0.AM clear, and memory covering
 * [codeAddr, codeAddr+codeSize) and [dataAddr, dataAddr+dataSize).
 */
export interface CpuUnderTest {
  /** Back to the adapter's initial condition (descriptor tables in place, no pending events). */
  reset(): void;
  /**
   * Loads registers, EIP and EFLAGS, and the segment registers as a CPL-3 program would find
   * them (each selector's descriptor from the GDT/LDT).
   */
  setState(s: NativeState): void;
  /** Linear writes; must invalidate any decoded-instruction cache covering the bytes. */
  writeMem(addr: number, bytes: Uint8Array): void;
  readMem(addr: number, len: number): Uint8Array;
  /**
   * Executes exactly one instruction (a REP string instruction runs all its iterations) and
   * reports an exception instead of delivering it. After a fault EIP is the faulting
   * instruction; after a trap (#BP from int3/int 3, #OF from into/int 4) EIP is the next one.
   */
  step(): StepResult;
  getState(): NativeState;
}

/** adapter.ts exports this. */
export type CreateCpuUnderTest = (meta: FixtureMeta, opts?: { compile?: boolean }) => CpuUnderTest & { cpu: { jitCompiled: number } };

export function loadMeta(dir = FIXTURE_DIR): FixtureMeta {
  return JSON.parse(gunzipSync(readFileSync(join(dir, "meta.json.gz"))).toString()) as FixtureMeta;
}

export function loadFamilies(dir = FIXTURE_DIR): FixtureFamily[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json.gz") && f !== "meta.json.gz")
    .sort()
    .map((f) => JSON.parse(gunzipSync(readFileSync(join(dir, f))).toString()) as FixtureFamily);
}

const fromHex = (h: string) => new Uint8Array(Buffer.from(h, "hex"));
const hx = (v: number, digits = 8) => "0x" + (v >>> 0).toString(16).padStart(digits, "0");

const FLAG_BITS: [number, string][] = [
  [0x1, "CF"], [0x4, "PF"], [0x10, "AF"], [0x40, "ZF"], [0x80, "SF"], [0x100, "TF"], [0x200, "IF"], [0x400, "DF"],
  [0x800, "OF"], [0x3000, "IOPL"], [0x4000, "NT"], [0x20000, "VM"], [0x40000, "AC"], [0x80000, "VIF"], [0x100000, "VIP"],
  [0x200000, "ID"], [0x2, "bit1"],
];
function flagNames(bits: number): string {
  return FLAG_BITS.filter(([b]) => bits & b).map(([, n]) => n).join(" ");
}

/** Prepared per-run data: the data region's initial pattern and the code-region fill. */
export class Runner {
  private readonly pattern: Uint8Array;
  private readonly codeFill: Uint8Array;

  constructor(readonly meta: FixtureMeta, readonly cpu: CpuUnderTest) {
    this.pattern = new Uint8Array(Buffer.from(meta.pattern, "base64"));
    this.codeFill = new Uint8Array(meta.codeSize).fill(0xcc);
  }

  /** Runs one case; returns the differences (empty when the CPU matches the host). */
  run(c: FixtureCase): string[] {
    const { meta, cpu } = this;
    cpu.reset();
    const data = this.pattern.slice();
    for (const [addr, h] of c.i.m ?? []) data.set(fromHex(h), addr - meta.dataAddr);
    const expectedData = data.slice();
    for (const [addr, h] of c.o.m ?? []) expectedData.set(fromHex(h), addr - meta.dataAddr);
    const code = this.codeFill.slice();
    code.set(fromHex(c.code), meta.insnAddr - meta.codeAddr);
    cpu.writeMem(meta.dataAddr, data);
    cpu.writeMem(meta.codeAddr, code);
    cpu.setState({ regs: c.i.r.slice(), eip: meta.insnAddr, eflags: c.i.f, segs: (c.i.s ?? meta.initialSegs).slice() });

    const diffs: string[] = [];
    let res: StepResult;
    try {
      res = cpu.step();
    } catch (e) {
      return [`step threw: ${e instanceof Error ? e.message : String(e)}`];
    }
    const st = cpu.getState();
    const wantVec = c.o.v ?? null;
    if ((res.vector ?? null) !== wantVec) diffs.push(`vector: got ${res.vector ?? "none"}, want ${wantVec ?? "none"}`);
    else if (wantVec !== null && VECTORS_WITH_ERROR.has(wantVec) && (res.error ?? 0) !== (c.o.e ?? 0)) {
      diffs.push(`error code: got ${hx(res.error ?? 0, 4)}, want ${hx(c.o.e ?? 0, 4)}`);
    }
    for (let i = 0; i < 8; i++) {
      const m = ~(c.rm?.[i] ?? 0);
      if (((st.regs[i] ^ c.o.r[i]) & m) !== 0) {
        diffs.push(`${REG_NAMES[i]}: got ${hx(st.regs[i])}, want ${hx(c.o.r[i])}${c.rm?.[i] ? ` (undefined bits ${hx(c.rm[i])} ignored)` : ""}`);
      }
    }
    if ((st.eip >>> 0) !== (c.o.eip >>> 0)) {
      diffs.push(`eip: got ${hx(st.eip)} (insn${rel(st.eip - meta.insnAddr)}), want ${hx(c.o.eip)} (insn${rel(c.o.eip - meta.insnAddr)})`);
    }
    const fmask = COMPARED_FLAGS & ~(c.fm ?? 0);
    const fd = (st.eflags ^ c.o.f) & fmask;
    if (fd) diffs.push(`eflags: got ${hx(st.eflags)}, want ${hx(c.o.f)}, differing: ${flagNames(fd)}`);
    const wantSegs = c.o.s ?? c.i.s ?? meta.initialSegs;
    for (let i = 0; i < 6; i++) {
      if ((st.segs[i] & 0xffff) !== wantSegs[i]) diffs.push(`${SEG_NAMES[i]}: got ${hx(st.segs[i], 4)}, want ${hx(wantSegs[i], 4)}`);
    }
    const got = cpu.readMem(meta.dataAddr, meta.dataSize);
    const ignore = new Uint8Array(meta.dataSize);
    for (const [a, n] of c.mm ?? []) ignore.fill(1, a - meta.dataAddr, a - meta.dataAddr + n);
    const bad: number[] = [];
    for (let i = 0; i < meta.dataSize; i++) if (got[i] !== expectedData[i] && !ignore[i]) bad.push(i);
    if (bad.length) {
      const show = bad.slice(0, 8).map((i) => `[${hx(meta.dataAddr + i)}] got ${hx(got[i], 2)} want ${hx(expectedData[i], 2)}`);
      diffs.push(`memory: ${bad.length} byte(s) differ: ${show.join(", ")}${bad.length > 8 ? ", …" : ""}`);
    }
    return diffs;
  }
}

function rel(d: number): string {
  return d >= 0 ? `+${hx(d, 1)}` : `-${hx(-d, 1)}`;
}

/** One line describing a case's inputs, for failure reports. */
export function describeCase(c: FixtureCase): string {
  const regs = c.i.r.map((v, i) => `${REG_NAMES[i]}=${hx(v)}`).join(" ");
  const mem = (c.i.m ?? []).map(([a, h]) => `[${hx(a)}]=${h}`).join(" ");
  const segs = c.i.s ? " segs=" + c.i.s.map((v, i) => `${SEG_NAMES[i]}:${hx(v, 2)}`).join(",") : "";
  return `${c.asm.replace(/\n/g, " ; ")}  (bytes ${c.code})\n    in: ${regs} eflags=${hx(c.i.f)}${segs}${mem ? " " + mem : ""}`;
}

// Generates the native-conformance fixtures: builds single-instruction cases for every i686
// integer opcode form, assembles them with nasm, runs them on the host CPU through the native
// runner (scripts/native/runner.c) and writes test/native/fixtures/<family>.json.gz.
//
//   npx --yes tsx scripts/native/gen-cases.ts [runner-binary]   (scripts/native/regen.sh does it all)
//
// Instruction bytes come from nasm only; expected results come from the CPU only. The one thing
// this file decides is which flags / register bits / memory bytes the SDM leaves undefined for
// each case (see test/native/UNDEFINED.md).

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { F, type DescriptorInfo, type FixtureCase, type FixtureMeta, type MemRun } from "../../test/native/format.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const OUT_DIR = join(ROOT, "test", "native", "fixtures");

const CODE_ADDR = 0x00200000;
const CODE_SIZE = 0x10000;
const INSN_ADDR = CODE_ADDR + CODE_SIZE / 2;
const DATA_ADDR = 0x00100000;
const DATA_SIZE = 0x10000;
/** The 256-byte block memory operands point into. */
const BLOCK = 0x00108000;
/** Initial ESP: 128 bytes of room either way inside the data region. */
const STACK = 0x0010f080;
/** The LDT data segment the runner creates (entry 0, RPL 3), based at DATA_ADDR. */
const LDT_SEL = 0x07;
const USER_CS = 0x23;
const USER_DS = 0x2b;

const { CF, PF, AF, ZF, SF, DF, OF } = { CF: F.CF, PF: F.PF, AF: F.AF, ZF: F.ZF, SF: F.SF, DF: F.DF, OF: F.OF };
const ARITH = CF | PF | AF | ZF | SF | OF;

// ---------------------------------------------------------------------------------------------
// Deterministic PRNG (mulberry32), one stream for the whole run so fixtures are reproducible.

let seed = 0x1a2b3c4d;
function rand32(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}
function randInt(n: number): number { return rand32() % n; }
/** A random value of `size` bits biased towards interesting shapes. */
function randVal(size: number): number {
  const m = mask(size);
  switch (randInt(4)) {
    case 0: return (rand32() & m & (m >>> randInt(size))) >>> 0; // small
    case 1: return ((m - (rand32() & 0xff)) & m) >>> 0; // near the top
    case 2: return ((1 << randInt(size)) & m) >>> 0; // one bit
    default: return (rand32() & m) >>> 0;
  }
}
function mask(size: number): number { return size === 32 ? 0xffffffff : (1 << size) - 1; }
const hex = (v: number) => "0x" + (v >>> 0).toString(16);

// ---------------------------------------------------------------------------------------------
// Registers by name.

const R32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
const R16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"];
const R8 = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"];
function regOf(name: string): { idx: number; shift: number; size: number } {
  let i = R32.indexOf(name);
  if (i >= 0) return { idx: i, shift: 0, size: 32 };
  i = R16.indexOf(name);
  if (i >= 0) return { idx: i, shift: 0, size: 16 };
  i = R8.indexOf(name);
  if (i >= 0) return { idx: i & 3, shift: i >= 4 ? 8 : 0, size: 8 };
  throw new Error(`unknown register ${name}`);
}
function setReg(regs: number[], name: string, v: number): void {
  const { idx, shift, size } = regOf(name);
  const m = (mask(size) << shift) >>> 0;
  regs[idx] = ((regs[idx] & ~m) | ((v << shift) & m)) >>> 0;
}
function regsOfSize(size: number): string[] { return size === 8 ? R8 : size === 16 ? R16 : R32; }
const SZ = (size: number) => (size === 8 ? "byte" : size === 16 ? "word" : "dword");
function le(v: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Math.floor(v / 2 ** (8 * i)) & 0xff);
  return out;
}

function edges(size: number): number[] {
  const e = [0, 1, 0x7f, 0x80, 0xff];
  if (size >= 16) e.push(0x7fff, 0x8000, 0xffff);
  if (size >= 32) e.push(0x7fffffff, 0x80000000, 0xffffffff);
  return e;
}

// ---------------------------------------------------------------------------------------------
// Cases.

type Expect = "ok" | "any" | number;
interface Spec {
  fam: string;
  asm: string;
  name: string;
  regs: number[];
  flags: number;
  segs: number[] | null;
  mem: [number, number[]][];
  fm: number;
  rm: number[] | null;
  mm: [number, number][];
  expect: Expect;
  selfTrap: boolean;
}

interface Opts {
  /** Registers by name (8/16/32-bit names merge into the random background). */
  r?: Record<string, number>;
  /** Arithmetic flags and DF; IF and bit 1 are added. Random if absent. */
  f?: number;
  /** Segment selectors by name. */
  s?: Partial<Record<"es" | "ss" | "ds" | "fs" | "gs", number>>;
  /** Memory overrides: [addr, bytes]. */
  m?: [number, number[]][];
  fm?: number;
  rm?: Record<string, number>;
  mm?: [number, number][];
  exc?: Expect;
  selfTrap?: boolean;
  /** Extra text for the case name. */
  note?: string;
}

const specs: Spec[] = [];
let NATIVE_SEGS = [USER_DS, USER_CS, USER_DS, USER_DS, 0, 0x63];

function add(fam: string, asm: string, o: Opts = {}): void {
  const regs = [rand32(), rand32(), rand32(), rand32(), STACK, rand32(), rand32(), rand32()];
  const named: string[] = [];
  for (const [k, v] of Object.entries(o.r ?? {})) {
    setReg(regs, k, v >>> 0);
    named.push(`${k}=${hex(v)}`);
  }
  const fl = o.f ?? (rand32() & (ARITH | DF));
  const flags = (fl & (ARITH | DF | F.AC | F.ID | F.TF)) | 0x202;
  let segs: number[] | null = null;
  if (o.s) {
    segs = NATIVE_SEGS.slice();
    const order = ["es", "cs", "ss", "ds", "fs", "gs"];
    for (const [k, v] of Object.entries(o.s)) segs[order.indexOf(k)] = v!;
    named.push(Object.entries(o.s).map(([k, v]) => `${k}=${hex(v!)}`).join(" "));
  }
  let rm: number[] | null = null;
  if (o.rm) {
    rm = [0, 0, 0, 0, 0, 0, 0, 0];
    for (const [k, v] of Object.entries(o.rm)) {
      const { idx, shift } = regOf(k);
      rm[idx] = (rm[idx] | (v << shift)) >>> 0;
    }
  }
  const name = `${asm.replace(/\n/g, " ; ")} {${[...named, `fl=${hex(flags)}`, ...(o.note ? [o.note] : [])].join(" ")}}`;
  specs.push({
    fam, asm, name, regs, flags, segs, mem: o.m ?? [], fm: o.fm ?? 0, rm, mm: o.mm ?? [],
    expect: o.exc ?? "ok", selfTrap: o.selfTrap ?? false,
  });
}

/** A memory operand addressing `a` (32-bit addressing), in one of several forms. */
function memForm(k: number, a: number): { t: string; r: Record<string, number> } {
  switch (k % 8) {
    case 0: return { t: "[ebx]", r: { ebx: a } };
    case 1: return { t: "[esi+0x7c]", r: { esi: a - 0x7c } };
    case 2: return { t: "[edi-0x10]", r: { edi: a + 0x10 } };
    case 3: return { t: "[ebx+ecx*4+0x100]", r: { ecx: 3, ebx: a - 12 - 0x100 } };
    case 4: return { t: `[${hex(a)}]`, r: {} };
    case 5: return { t: "[ebp+8]", r: { ebp: a - 8 } };
    case 6: return { t: "[esi+edi*2-0x20]", r: { edi: 5, esi: a - 10 + 0x20 } };
    default: return { t: `[nosplit ecx*8+${hex(a - 8)}]`, r: { ecx: 1 } };
  }
}
let memK = 0;
/**
 * A fresh memory operand holding `v` (`size` bits) in the block, in an addressing form that uses
 * none of the registers in `avoid` (the instruction's other operands).
 */
function memOp(size: number, v: number, ...avoid: string[]): { t: string; r: Record<string, number>; m: [number, number[]][]; a: number } {
  const a = BLOCK + 0x10 + randInt(0xe0);
  const busy = new Set(avoid.map((n) => regOf(n).idx));
  let f = memForm(memK++, a);
  while (Object.keys(f.r).some((n) => busy.has(regOf(n).idx))) f = memForm(memK++, a);
  return { t: `${SZ(size)} ${f.t}`, r: f.r, m: [[a, le(v, size / 8)]], a };
}

const CONDS = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];
/** All 32 combinations of the five flags conditions read. */
function condFlags(i: number): number {
  return ((i & 1) ? CF : 0) | ((i & 2) ? ZF : 0) | ((i & 4) ? SF : 0) | ((i & 8) ? OF : 0) | ((i & 16) ? PF : 0);
}

// ---------------------------------------------------------------------------------------------
// Families.

function genAlu(): void {
  const ops = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"];
  const pairs: Record<number, [string, string][]> = {
    8: [["al", "bl"], ["ch", "dl"], ["bh", "ah"], ["dl", "cl"]],
    16: [["ax", "bx"], ["cx", "dx"], ["si", "di"], ["bp", "ax"]],
    32: [["eax", "ebx"], ["ecx", "edx"], ["esi", "edi"], ["ebp", "eax"], ["esp", "ecx"]],
  };
  for (const op of ops) {
    const fm = op === "and" || op === "or" || op === "xor" ? AF : 0;
    const carry = op === "adc" || op === "sbb";
    const fam = "alu";
    for (const size of [8, 16, 32]) {
      const E = edges(size);
      let k = 0;
      const flagsFor = (cf: number) => (rand32() & (ARITH | DF) & ~CF) | cf;
      // r/m, r (00/01 …) register-register, edge x edge
      for (const a of E) for (const b of E) for (const cf of carry ? [0, CF] : [rand32() & CF]) {
        const [d, s] = pairs[size][k++ % pairs[size].length];
        add(fam, `${op} ${d}, ${s}`, { r: { [d]: a, [s]: b }, f: flagsFor(cf), fm });
      }
      for (let i = 0; i < 24; i++) {
        const [d, s] = pairs[size][k++ % pairs[size].length];
        add(fam, `${op} ${d}, ${s}`, { r: { [d]: randVal(size), [s]: randVal(size) }, f: flagsFor(rand32() & CF), fm });
      }
      // the same register on both sides
      for (const v of [0, 0x80, randVal(size)]) for (const cf of [0, CF]) {
        const r = regsOfSize(size)[randInt(4)];
        add(fam, `${op} ${r}, ${r}`, { r: { [r]: v }, f: flagsFor(cf), fm });
      }
      const acc = regsOfSize(size)[0];
      const dreg = regsOfSize(size)[2];
      for (let i = 0; i < 12; i++) {
        const a = i < E.length ? E[i] : randVal(size);
        const b = randVal(size);
        const cf = rand32() & CF;
        // r/m, r with memory destination
        const m1 = memOp(size, a, dreg);
        add(fam, `${op} ${m1.t}, ${dreg}`, { r: { ...m1.r, [dreg]: b }, m: m1.m, f: flagsFor(cf), fm });
        // r, r/m (02/03)
        const m2 = memOp(size, b, dreg);
        add(fam, `${op} ${dreg}, ${m2.t}`, { r: { ...m2.r, [dreg]: a }, m: m2.m, f: flagsFor(cf), fm });
        // AL/eAX, imm (04/05)
        const imm = i < E.length ? E[E.length - 1 - i] : randVal(size);
        add(fam, `${op} ${acc}, ${size === 8 ? "" : "strict " + SZ(size)} ${hex(imm)}`, { r: { [acc]: a }, f: flagsFor(cf), fm });
        // 80/81 r/m, imm
        const ro = regsOfSize(size)[1 + (i % 3)];
        add(fam, `${op} ${ro}, ${size === 8 ? "" : "strict " + SZ(size)} ${hex(imm)}`, { r: { [ro]: a }, f: flagsFor(cf), fm });
        const m3 = memOp(size, a);
        add(fam, `${op} ${m3.t}, ${size === 8 ? "" : "strict " + SZ(size)} ${hex(imm)}`, { r: m3.r, m: m3.m, f: flagsFor(cf), fm });
        if (size !== 8) {
          // 83 r/m, imm8 sign-extended
          const i8 = [0, 1, 0x7f, -0x80, -1, -2][i % 6];
          add(fam, `${op} ${ro}, byte ${i8}`, { r: { [ro]: a }, f: flagsFor(cf), fm });
          const m4 = memOp(size, a);
          add(fam, `${op} ${m4.t}, byte ${i8}`, { r: m4.r, m: m4.m, f: flagsFor(cf), fm });
        }
      }
    }
    // 82 /op ib: the 8-bit alias of 80 (valid outside 64-bit mode); nasm has no mnemonic for it.
    const sub = ops.indexOf(op);
    for (const [a, b] of [[0x7f, 1], [0x80, 0xff], [0, 0], [randVal(8), randVal(8)]]) {
      add("alu", `db 0x82, ${hex(0xc1 | (sub << 3))}, ${hex(b)} ; ${op} cl, ${hex(b)} via 82`, { r: { cl: a }, fm });
    }
  }
}

function genIncDecNegNot(): void {
  for (const op of ["inc", "dec", "neg", "not"]) {
    for (const size of [8, 16, 32]) {
      const regs = regsOfSize(size);
      const vals = [...edges(size), ...Array.from({ length: 6 }, () => randVal(size))];
      let k = 0;
      for (const v of vals) for (const cf of [0, CF]) {
        const r = regs[[0, 1, 2, 3, 5, 6, 7][k++ % 7] & (size === 8 ? 7 : 7)];
        add("unary", `${op} ${r}`, { r: { [r]: v }, f: (rand32() & (ARITH | DF) & ~CF) | cf });
      }
      for (let i = 0; i < 6; i++) {
        const m = memOp(size, i < 3 ? edges(size)[i + 2] : randVal(size));
        add("unary", `${op} ${m.t}`, { r: m.r, m: m.m });
      }
    }
  }
}

function genTest(): void {
  for (const size of [8, 16, 32]) {
    const E = edges(size);
    const [a, b, c] = size === 8 ? ["al", "bl", "cl"] : size === 16 ? ["ax", "bx", "cx"] : ["eax", "ebx", "ecx"];
    for (const x of E) for (const y of E) add("test", `test ${b}, ${c}`, { r: { [b]: x, [c]: y }, fm: AF });
    const imm = (v: number) => (size === 8 ? hex(v) : `strict ${SZ(size)} ${hex(v)}`);
    for (let i = 0; i < 16; i++) {
      const x = randVal(size), y = randVal(size);
      add("test", `test ${a}, ${imm(y)}`, { r: { [a]: x }, fm: AF });
      add("test", `test ${c}, ${imm(y)}`, { r: { [c]: x }, fm: AF });
      const m = memOp(size, x, "edx");
      add("test", `test ${m.t}, ${size === 8 ? "dl" : size === 16 ? "dx" : "edx"}`, { r: { ...m.r, [size === 8 ? "dl" : size === 16 ? "dx" : "edx"]: y }, m: m.m, fm: AF });
      const m2 = memOp(size, x);
      add("test", `test ${m2.t}, ${imm(y)}`, { r: m2.r, m: m2.m, fm: AF });
    }
  }
}

function genMul(): void {
  const fm = SF | ZF | AF | PF;
  for (const op of ["mul", "imul"]) {
    for (const size of [8, 16, 32]) {
      const E = edges(size);
      const acc = regsOfSize(size)[0];
      const src = size === 8 ? "bl" : size === 16 ? "bx" : "ebx";
      for (const x of E) for (const y of E) add("mul", `${op} ${src}`, { r: { [acc]: x, [src]: y }, fm });
      for (let i = 0; i < 16; i++) add("mul", `${op} ${src}`, { r: { [acc]: randVal(size), [src]: randVal(size) }, fm });
      for (let i = 0; i < 8; i++) {
        const m = memOp(size, randVal(size), "eax", "edx");
        add("mul", `${op} ${m.t}`, { r: { ...m.r, [acc]: randVal(size) }, m: m.m, fm });
      }
      if (size === 8) add("mul", `${op} ah`, { r: { ax: 0xff80 }, fm });
    }
  }
  // two- and three-operand IMUL (0F AF, 69, 6B)
  for (const size of [16, 32]) {
    const [d, s] = size === 16 ? ["cx", "si"] : ["ecx", "esi"];
    const E = edges(size);
    for (const x of E) for (const y of E) add("mul", `imul ${d}, ${s}`, { r: { [d]: x, [s]: y }, fm });
    for (let i = 0; i < 16; i++) {
      add("mul", `imul ${d}, ${s}`, { r: { [d]: randVal(size), [s]: randVal(size) }, fm });
      const m = memOp(size, randVal(size), d);
      add("mul", `imul ${d}, ${m.t}`, { r: { ...m.r, [d]: randVal(size) }, m: m.m, fm });
    }
    for (const x of E) for (const i8 of [0, 1, -1, 0x7f, -0x80, 3]) add("mul", `imul ${d}, ${s}, byte ${i8}`, { r: { [s]: x }, fm });
    for (const x of E) for (const imm of [0x7fff, 0x8000, 0xffff, ...(size === 32 ? [0x12345, 0x80000000, 0x7fffffff] : [0x1234])]) {
      add("mul", `imul ${d}, ${s}, strict ${SZ(size)} ${hex(imm)}`, { r: { [s]: x }, fm });
    }
    for (let i = 0; i < 8; i++) {
      const m = memOp(size, randVal(size), d);
      add("mul", `imul ${d}, ${m.t}, strict ${SZ(size)} ${hex(randVal(size))}`, { r: m.r, m: m.m, fm });
      const m2 = memOp(size, randVal(size), d);
      add("mul", `imul ${d}, ${m2.t}, byte ${randInt(256) - 128}`, { r: m2.r, m: m2.m, fm });
    }
  }
}

function genDiv(): void {
  const toSigned = (v: bigint, bits: number) => (v >= 1n << BigInt(bits - 1) ? v - (1n << BigInt(bits)) : v);
  for (const op of ["div", "idiv"]) {
    for (const size of [8, 16, 32]) {
      const src = size === 8 ? "bl" : size === 16 ? "bx" : "ebx";
      const hi = size === 8 ? "ah" : size === 16 ? "dx" : "edx";
      const lo = size === 8 ? "al" : size === 16 ? "ax" : "eax";
      const E = edges(size);
      const dividends: [number, number][] = [];
      for (const h of [0, 1, 0x7f, mask(size), mask(size) >>> 1, ((mask(size) >>> 1) + 1) >>> 0]) {
        for (const l of [0, 1, mask(size), (mask(size) >>> 1) + 1, randVal(size)]) dividends.push([h, l >>> 0]);
      }
      for (let i = 0; i < 10; i++) dividends.push([randVal(size) >>> randInt(size), randVal(size)]);
      for (const [h, l] of dividends) for (const y of [...E, 2, 3, 10, randVal(size), mask(size) - 1]) {
        const n = (BigInt(h) << BigInt(size)) | BigInt(l);
        const d = BigInt(y);
        let de: boolean;
        if (d === 0n) de = true;
        else if (op === "div") de = n / d >= 1n << BigInt(size);
        else {
          const q = toSigned(n, 2 * size) / toSigned(d, size);
          de = q > (1n << BigInt(size - 1)) - 1n || q < -(1n << BigInt(size - 1));
        }
        add("div", `${op} ${src}`, { r: { [hi]: h, [lo]: l, [src]: y }, fm: ARITH, exc: de ? 0 : "ok" });
      }
      for (let i = 0; i < 6; i++) {
        const m = memOp(size, randVal(size) | 1, "eax", "edx");
        add("div", `${op} ${m.t}`, { r: { ...m.r, [hi]: 0, [lo]: randVal(size) }, m: m.m, fm: ARITH, exc: "any" });
      }
    }
  }
}

function genBcd(): void {
  for (const op of ["daa", "das"]) {
    for (let al = 0; al < 256; al++) for (const fl of [0, AF, CF, AF | CF]) {
      add("bcd", op, { r: { al }, f: (rand32() & (ZF | SF | PF | OF | DF)) | fl, fm: OF });
    }
  }
  for (const op of ["aaa", "aas"]) {
    for (let al = 0; al < 256; al++) for (const fl of [0, AF]) {
      add("bcd", op, { r: { al, ah: randInt(3) === 0 ? 0xff : randVal(8) }, f: (rand32() & (ZF | SF | PF | OF | DF | CF)) | fl, fm: OF | SF | ZF | PF });
    }
  }
  for (let al = 0; al < 256; al++) add("bcd", "aam", { r: { al }, fm: OF | AF | CF });
  for (const base of [0, 1, 2, 7, 16, 0xff]) {
    for (let i = 0; i < 16; i++) add("bcd", `aam ${base}`, { r: { al: randVal(8) }, fm: OF | AF | CF, exc: base === 0 ? 0 : "ok" });
  }
  for (let i = 0; i < 64; i++) add("bcd", "aad", { r: { ax: i < 16 ? (i << 8) | (i * 7 & 0xff) : randVal(16) }, fm: OF | AF | CF });
  for (const base of [0, 1, 2, 7, 16, 0xff]) {
    for (let i = 0; i < 16; i++) add("bcd", `aad ${base}`, { r: { ax: randVal(16) }, fm: OF | AF | CF });
  }
}

function genConvert(): void {
  for (const op of ["cbw", "cwde", "cwd", "cdq"]) {
    for (const v of [...edges(32), 0x8080, 0x12348000, ...Array.from({ length: 8 }, () => randVal(32))]) {
      add("convert", op, { r: { eax: v } });
    }
  }
}

function shiftMask(op: string, size: number, count: number): number {
  const c = count & 31;
  if (c === 0) return 0;
  if (op === "shl" || op === "sal" || op === "shr" || op === "sar") {
    return AF | (c > 1 ? OF : 0) | ((op === "shl" || op === "shr") && c >= size ? CF : 0);
  }
  return c > 1 ? OF : 0; // rol ror rcl rcr
}

function genShift(): void {
  const counts = [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 0x41, 0xff];
  for (const op of ["shl", "shr", "sar", "rol", "ror", "rcl", "rcr"]) {
    for (const size of [8, 16, 32]) {
      const r = size === 8 ? "dh" : size === 16 ? "dx" : "edx";
      const vals = () => [randVal(size), 0, 1, mask(size), 1 << (size - 1), randVal(size)].map((v) => v >>> 0);
      for (const v of [...edges(size), ...Array.from({ length: 6 }, () => randVal(size))]) for (const cf of [0, CF]) {
        add("shift", `${op} ${r}, 1`, { r: { [r]: v }, f: (rand32() & (ARITH | DF) & ~CF) | cf, fm: shiftMask(op, size, 1) });
      }
      for (const c of counts) {
        for (const v of vals()) {
          add("shift", `${op} ${r}, cl`, { r: { [r]: v, ecx: (rand32() & ~0xff) | c }, fm: shiftMask(op, size, c) });
          add("shift", `${op} ${r}, ${c}`, { r: { [r]: v }, fm: shiftMask(op, size, c) });
        }
      }
      for (let i = 0; i < 6; i++) {
        const c = counts[randInt(counts.length)];
        const m = memOp(size, randVal(size), "ecx");
        add("shift", `${op} ${m.t}, cl`, { r: { ...m.r, cl: c }, m: m.m, fm: shiftMask(op, size, c) });
        const m2 = memOp(size, randVal(size));
        add("shift", `${op} ${m2.t}, ${c}`, { r: m2.r, m: m2.m, fm: shiftMask(op, size, c) });
        const m3 = memOp(size, randVal(size));
        add("shift", `${op} ${m3.t}, 1`, { r: m3.r, m: m3.m, fm: shiftMask(op, size, 1) });
      }
    }
  }
  // SAL is SHL; D0-D3 /6 is an undocumented alias nasm does not emit, so it is not covered.
}

function genShiftDouble(): void {
  const counts = [0, 1, 2, 7, 8, 15, 16, 17, 24, 31, 32, 33, 0x50];
  for (const op of ["shld", "shrd"]) {
    for (const size of [16, 32]) {
      const [d, s] = size === 16 ? ["bx", "si"] : ["ebx", "esi"];
      const fmFor = (c: number) => {
        const m = c & 31;
        if (m === 0) return 0;
        return AF | (m > 1 ? OF : 0) | (m > size ? ARITH : 0);
      };
      const rmFor = (c: number): Record<string, number> | undefined => ((c & 31) > size ? { [d]: mask(size) } : undefined);
      for (const c of counts) {
        for (let i = 0; i < 6; i++) {
          const x = i === 0 ? mask(size) : i === 1 ? 1 << (size - 1) : randVal(size);
          const y = i === 2 ? mask(size) : randVal(size);
          add("shiftd", `${op} ${d}, ${s}, ${c}`, { r: { [d]: x, [s]: y }, fm: fmFor(c), rm: rmFor(c) });
          add("shiftd", `${op} ${d}, ${s}, cl`, { r: { [d]: x, [s]: y, ecx: (rand32() & ~0xff) | c }, fm: fmFor(c), rm: rmFor(c) });
        }
        const m = memOp(size, randVal(size), s, "ecx");
        const mm: [number, number][] | undefined = (c & 31) > size ? [[m.a, size / 8]] : undefined;
        add("shiftd", `${op} ${m.t}, ${s}, cl`, { r: { ...m.r, [s]: randVal(size), cl: c }, m: m.m, fm: fmFor(c), mm });
        const m2 = memOp(size, randVal(size), s);
        const mm2: [number, number][] | undefined = (c & 31) > size ? [[m2.a, size / 8]] : undefined;
        add("shiftd", `${op} ${m2.t}, ${s}, ${c}`, { r: { ...m2.r, [s]: randVal(size) }, m: m2.m, fm: fmFor(c), mm: mm2 });
      }
    }
  }
}

function genBitTest(): void {
  const fm = OF | SF | AF | PF;
  for (const op of ["bt", "bts", "btr", "btc"]) {
    for (const size of [16, 32]) {
      const [d, s] = size === 16 ? ["di", "ax"] : ["edi", "eax"];
      for (const b of [0, 1, 7, 15, 16, 31, 32, 33, 63, 0xff, 0xffff, 0x80000000]) {
        add("bittest", `${op} ${d}, ${s}`, { r: { [d]: randVal(size), [s]: b }, fm });
      }
      for (const b of [0, 1, 7, 15, 16, 31, 32, 33, 0xff]) {
        add("bittest", `${op} ${d}, ${b}`, { r: { [d]: randVal(size) }, fm });
        const m = memOp(size, randVal(size), d);
        add("bittest", `${op} ${m.t}, ${b}`, { r: m.r, m: m.m, fm });
      }
      // bit strings: the register offset is signed and can reach far outside the operand
      const offs = size === 16
        ? [0, 1, 15, 16, 100, 0x7fff, -1, -16, -17, -100, -0x8000]
        : [0, 1, 31, 32, 100, 1000, 0x30000, -1, -8, -32, -33, -1000, -0x30000];
      for (const off of offs) {
        add("bittest", `${op} ${SZ(size)} [ebx], ${s}`, { r: { ebx: BLOCK + 0x80, [s]: off }, fm });
        add("bittest", `${op} ${SZ(size)} [esi+0x10], ${s}`, { r: { esi: BLOCK + 0x70 + randInt(8), [s]: off }, fm });
      }
    }
  }
}

function genBitScan(): void {
  for (const op of ["bsf", "bsr"]) {
    for (const size of [16, 32]) {
      const [d, s] = size === 16 ? ["cx", "dx"] : ["ecx", "edx"];
      const vals = [0, 0, 0, mask(size), 1, 1 << (size - 1), ...Array.from({ length: size }, (_, i) => (1 << i) >>> 0 | (op === "bsf" ? (rand32() << i << 1) : rand32() >>> (32 - i))),
        ...Array.from({ length: 8 }, () => randVal(size))].map((v) => (v & mask(size)) >>> 0);
      for (const v of vals) {
        add("bitscan", `${op} ${d}, ${s}`, { r: { [s]: v }, fm: CF | OF | SF | AF | PF, rm: v === 0 ? { [d]: mask(size) } : undefined });
      }
      for (const v of [0, 0x40, randVal(size) | 1, 0x100]) {
        const m = memOp(size, v & mask(size), d);
        add("bitscan", `${op} ${d}, ${m.t}`, { r: m.r, m: m.m, fm: CF | OF | SF | AF | PF, rm: v === 0 ? { [d]: mask(size) } : undefined });
      }
    }
  }
}

function genSetcc(): void {
  for (const cc of CONDS) {
    for (let i = 0; i < 32; i++) add("setcc", `set${cc} ${R8[i % 8]}`, { f: condFlags(i) | (rand32() & (AF | DF)) });
    for (let i = 0; i < 4; i++) {
      const m = memOp(8, randVal(8));
      add("setcc", `set${cc} ${m.t}`, { r: m.r, m: m.m, f: condFlags(randInt(32)) });
    }
  }
}

function genCmov(): void {
  for (const cc of CONDS) {
    for (const size of [16, 32]) {
      const [d, s] = size === 16 ? ["ax", "bp"] : ["eax", "ebp"];
      for (let i = 0; i < 32; i++) add("cmov", `cmov${cc} ${d}, ${s}`, { f: condFlags(i) });
      for (let i = 0; i < 4; i++) {
        const m = memOp(size, randVal(size), d);
        add("cmov", `cmov${cc} ${d}, ${m.t}`, { r: m.r, m: m.m, f: condFlags(i * 7 + 3) });
      }
    }
  }
}

function genBranch(): void {
  for (const cc of CONDS) {
    for (let i = 0; i < 32; i++) {
      add("jcc", `j${cc} short $+0x12`, { f: condFlags(i) });
      add("jcc", `j${cc} near $-0x300`, { f: condFlags(i) });
    }
  }
  for (const t of ["short $+0x81", "short $-0x7e", "short $+2", "near $+0x1000", "near $-0x1000", "near $+5"]) add("jmp", `jmp ${t}`);
  const target = INSN_ADDR + 0x40;
  add("jmp", "jmp eax", { r: { eax: target } });
  add("jmp", "jmp esp", { r: { esp: target } });
  add("jmp", "jmp dword [ebx]", { r: { ebx: BLOCK }, m: [[BLOCK, le(target, 4)]] });
  add("jmp", "jmp dword [ebx+ecx*4+4]", { r: { ebx: BLOCK, ecx: 3 }, m: [[BLOCK + 16, le(INSN_ADDR - 0x80, 4)]] });
  add("jmp", "jmp dword [esp]", { m: [[STACK, le(target, 4)]] });
  for (const t of ["$+0x40", "$-0x40", "$+5"]) add("jmp", `call ${t}`);
  add("jmp", "call eax", { r: { eax: target } });
  add("jmp", "call esp", { r: { esp: target }, exc: "any", note: "ESP is the target" });
  add("jmp", "call dword [ebx]", { r: { ebx: BLOCK }, m: [[BLOCK, le(target, 4)]] });
  add("jmp", "call dword [esp]", { m: [[STACK, le(target, 4)]] });
  add("jmp", "call dword [esp+4]", { m: [[STACK + 4, le(target, 4)]] });
  for (const imm of [null, 0, 4, 8, 0x7e, 0xfffc]) {
    for (const esp of [STACK, STACK + 2]) {
      add("jmp", imm === null ? "ret" : `ret ${imm}`, { r: { esp }, m: [[esp, le(target + randInt(16), 4)]], exc: imm === 0xfffc ? "any" : "ok" });
    }
  }
  // LOOPcc / JECXZ, with a 32-bit counter and (0x67) with CX
  const counters = [0, 1, 2, 0x10000, 0x10001, 0xffffffff];
  for (const op of ["loop", "loope", "loopne"]) {
    for (const ecx of counters) for (const zf of [0, ZF]) {
      add("loop", `${op} $+0x20`, { r: { ecx }, f: zf | (rand32() & (CF | SF | OF | PF)) });
      add("loop", `a16 ${op} $-0x20`, { r: { ecx }, f: zf });
    }
  }
  for (const ecx of [0, 1, 0x10000, 0xffff0000, 0xffffffff]) {
    add("loop", "jecxz $+0x20", { r: { ecx } });
    add("loop", "jcxz $+0x20", { r: { ecx } });
  }
}

function genExchange(): void {
  for (const size of [8, 16, 32]) {
    const [acc, d, s] = size === 8 ? ["al", "bl", "cl"] : size === 16 ? ["ax", "bx", "cx"] : ["eax", "ebx", "ecx"];
    for (const v of [...edges(size), randVal(size), randVal(size)]) {
      const other = randVal(size);
      add("cmpxchg", `cmpxchg ${d}, ${s}`, { r: { [acc]: v, [d]: v, [s]: randVal(size) }, note: "equal" });
      add("cmpxchg", `cmpxchg ${d}, ${s}`, { r: { [acc]: v, [d]: other === v ? v ^ 1 : other, [s]: randVal(size) }, note: "unequal" });
      const m = memOp(size, v, acc, s);
      add("cmpxchg", `cmpxchg ${m.t}, ${s}`, { r: { ...m.r, [acc]: v, [s]: randVal(size) }, m: m.m, note: "equal" });
      const m2 = memOp(size, v ^ 0x10, acc, s);
      add("cmpxchg", `cmpxchg ${m2.t}, ${s}`, { r: { ...m2.r, [acc]: v, [s]: randVal(size) }, m: m2.m, note: "unequal" });
    }
    add("cmpxchg", `cmpxchg ${acc}, ${s}`, { r: { [s]: randVal(size) }, note: "accumulator as destination" });
    add("cmpxchg", `lock cmpxchg ${SZ(size)} [esi], ${s}`, { r: { esi: BLOCK + 0x40, [acc]: 0 }, m: [[BLOCK + 0x40, le(0, size / 8)]] });
    for (const v of [...edges(size), randVal(size), randVal(size)]) {
      add("xadd", `xadd ${d}, ${s}`, { r: { [d]: v, [s]: randVal(size) } });
      const m = memOp(size, v, s);
      add("xadd", `xadd ${m.t}, ${s}`, { r: { ...m.r, [s]: randVal(size) }, m: m.m });
    }
    add("xadd", `xadd ${d}, ${d}`, { r: { [d]: randVal(size) } });
    add("xadd", `lock xadd ${SZ(size)} [edi], ${s}`, { r: { edi: BLOCK + 0x40 } });
    // XCHG: 90+r (with eAX), 86/87 reg-reg and reg-mem
    for (let i = 0; i < 8; i++) {
      const regs = regsOfSize(size);
      if (size !== 8) add("xchg", `xchg ${regs[0]}, ${regs[i]}`);
      add("xchg", `xchg ${regs[(i + 1) % 8]}, ${regs[(i + 3) % 8]}`);
      const m = memOp(size, randVal(size), "edx");
      add("xchg", `xchg ${m.t}, ${regs[2]}`, { r: m.r, m: m.m });
    }
  }
  for (let i = 0; i < 12; i++) {
    const eq = i % 2 === 0;
    const lo = i < 2 ? 0 : randVal(32), hi = i < 4 ? 0xffffffff : randVal(32);
    const m: [number, number[]][] = [[BLOCK + 0x20, [...le(lo, 4), ...le(hi, 4)]]];
    add("cmpxchg", `${i === 10 ? "lock " : ""}cmpxchg8b [esi]`, {
      r: { esi: BLOCK + 0x20, eax: eq ? lo : lo ^ (i & 4 ? 0 : 1), edx: eq ? hi : hi ^ (i & 4 ? 0x100 : 0) },
      m, note: eq ? "equal" : "unequal",
    });
  }
  for (const r of R32) add("bswap", `bswap ${r}`, r === "esp" ? { r: { esp: 0x80f01000 } } : {});
  for (const v of [0, 0x12345678, 0x80000000, 0xff]) add("bswap", "bswap eax", { r: { eax: v } });
}

function genMov(): void {
  for (const size of [8, 16, 32]) {
    const regs = regsOfSize(size);
    for (let i = 0; i < 16; i++) {
      add("mov", `mov ${regs[i % 8]}, ${regs[(i * 3 + 1) % 8]}`);
      const m = memOp(size, randVal(size), "eax", "edx");
      add("mov", `mov ${regs[[0, 2][i % 2]]}, ${m.t}`, { r: m.r, m: m.m });
      const m2 = memOp(size, randVal(size), "eax", "edx");
      add("mov", `mov ${m2.t}, ${regs[[0, 2][i % 2]]}`, { r: m2.r, m: m2.m });
      add("mov", `mov ${regs[i % 8]}, ${hex(randVal(size))}`);
      const m3 = memOp(size, randVal(size));
      add("mov", `mov ${m3.t}, ${hex(randVal(size))}`, { r: m3.r, m: m3.m });
    }
    // moffs (A0-A3)
    for (let i = 0; i < 4; i++) {
      const a = BLOCK + randInt(0xf0);
      add("mov", `mov ${regs[0]}, [${hex(a)}]`);
      add("mov", `mov [${hex(a)}], ${regs[0]}`);
    }
  }
  for (const op of ["movzx", "movsx"]) {
    for (const [d, s] of [["ax", "bl"], ["eax", "bh"], ["ecx", "dx"], ["di", "cl"], ["esi", "si"]]) {
      const sz = regOf(s).size;
      for (const v of [...edges(sz), randVal(sz)]) add("mov", `${op} ${d}, ${s}`, { r: { [s]: v } });
    }
    for (const [d, sz] of [["ax", 8], ["edx", 8], ["edx", 16]] as [string, number][]) {
      for (const v of [0x7f, 0x80, 0x8000, randVal(sz)]) {
        const m = memOp(sz, v & mask(sz), d);
        add("mov", `${op} ${d}, ${m.t}`, { r: m.r, m: m.m });
      }
    }
  }
}

function genLea(): void {
  const bases = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", ""];
  const indexes = ["eax", "ecx", "edx", "ebx", "ebp", "esi", "edi", ""];
  const disps: [string, string][] = [["", ""], ["byte ", "+0x12"], ["byte ", "-0x80"], ["dword ", "+0x12345678"], ["dword ", "-0x10"]];
  let k = 0;
  for (const b of bases) for (const ix of indexes) for (const sc of ix ? [1, 2, 4, 8] : [1]) {
    for (const [kw, d] of (k++ % 2 === 0 ? disps.slice(0, 3) : disps.slice(2))) {
      const parts = [b, ix ? `${ix}*${sc}` : ""].filter((p) => p);
      if (parts.length === 0 && kw !== "dword ") continue;
      const ea = `${kw}${!b && ix ? "nosplit " : ""}${parts.join("+")}${d}`.replace(/ \+/, " ");
      add("lea", `lea ${R32[k % 8]}, [${ea}]`);
    }
  }
  for (const ea of ["bx+si", "bx+di", "bp+si", "bp+di", "si", "di", "bp", "bx"]) {
    for (const [kw, d] of [["", ""], ["byte ", "+0x7f"], ["byte ", "-0x80"], ["word ", "+0x1234"], ["word ", "+0xfff0"]]) {
      if (ea === "bp" && d === "") continue;
      add("lea", `a16 lea eax, [${kw}${ea}${d}]`);
      add("lea", `a16 lea cx, [${kw}${ea}${d}]`);
    }
  }
  add("lea", "a16 lea edx, [word 0x1234]");
  for (let i = 0; i < 8; i++) add("lea", `lea ${R16[i]}, [eax+ebx*4+0x12345]`);
  add("lea", "db 0x8d, 0xc0 ; lea eax, eax (register source)", { exc: 6 });
}

/** 16-bit addressing (0x67) and segment bases: DS/ES/SS are the LDT segment based at DATA_ADDR. */
function genAddr16(): void {
  const segs = { ds: LDT_SEL, es: LDT_SEL, ss: LDT_SEL };
  const esp = STACK - DATA_ADDR;
  const forms: [string, (o: number) => Record<string, number>][] = [
    ["bx+si", (o) => ({ bx: o - 0x1234, si: 0x1234 })],
    ["bx+di", (o) => ({ bx: 0xffff, di: o + 1 })], // wraps at 64 KiB
    ["bp+si", (o) => ({ bp: o - 4, si: 4 })],
    ["bp+di", (o) => ({ bp: 0x8000, di: o - 0x8000 })],
    ["si", (o) => ({ si: o })],
    ["di", (o) => ({ di: o })],
    ["bp", (o) => ({ bp: o })],
    ["bx", (o) => ({ bx: o })],
  ];
  for (const [ea, regs] of forms) {
    for (const [kw, d, dv] of [["", "", 0], ["byte ", "+0x10", 0x10], ["", "-0x20", -0x20], ["word ", "+0x8000", 0x8000]] as [string, string, number][]) {
      if (ea === "bp" && d === "") continue;
      const off = (BLOCK - DATA_ADDR + 0x40 + randInt(0x80)) & 0xffff;
      const r: Record<string, number> = { esp };
      for (const [k, v] of Object.entries(regs((off - dv) & 0xffff))) r[k] = v & 0xffff;
      add("addr16", `a16 mov eax, [${kw}${ea}${d}]`, { r, s: segs });
      add("addr16", `a16 mov [${ea}${d}], cl`, { r, s: segs });
      add("addr16", `a16 add word [${ea}${d}], 0x1234`, { r, s: segs });
    }
  }
  add("addr16", `a16 mov eax, [word ${hex(BLOCK - DATA_ADDR + 0x10)}]`, { r: { esp }, s: segs });
  // 32-bit addressing through a based segment, and segment overrides
  add("addr16", "mov eax, [ebx]", { r: { ebx: BLOCK - DATA_ADDR + 4, esp }, s: segs });
  add("addr16", "mov eax, [fs:ebx]", { r: { ebx: BLOCK - DATA_ADDR + 8 }, s: { fs: LDT_SEL } });
  add("addr16", "mov [gs:esi+4], eax", { r: { esi: BLOCK - DATA_ADDR + 8 }, s: { gs: LDT_SEL } });
  add("addr16", "mov eax, [es:ebp+8]", { r: { ebp: BLOCK - DATA_ADDR + 8 }, s: { es: LDT_SEL } });
  add("addr16", "mov eax, [ds:ebp+8]", { r: { ebp: BLOCK - DATA_ADDR + 8, esp }, s: { ds: LDT_SEL, ss: LDT_SEL } });
  add("addr16", "push eax", { r: { esp }, s: segs });
  add("addr16", "pop ecx", { r: { esp }, s: segs });
  add("addr16", "call $+0x30", { r: { esp }, s: segs });
  add("addr16", "a16 xlatb", { r: { ebx: 0xffff0000 | (BLOCK - DATA_ADDR), al: 0x33, esp }, s: segs });
  add("addr16", "fs xlatb", { r: { ebx: BLOCK - DATA_ADDR, al: 0x44 }, s: { fs: LDT_SEL } });
  const so = BLOCK - DATA_ADDR + 0x20, dof = BLOCK - DATA_ADDR + 0x80;
  for (const op of ["movsb", "movsw", "movsd", "stosd", "lodsw", "cmpsb", "scasd"]) {
    for (const pre of ["a16", "a16 rep"]) {
      add("addr16", `${pre} ${op}`, { r: { esi: 0xabcd0000 | so, edi: 0x12340000 | dof, ecx: 0x77770003, esp }, s: segs, f: 0 });
    }
  }
  add("addr16", "a16 rep movsb", { r: { esi: 0xfffe, edi: dof, ecx: 4, esp }, s: segs, f: 0, exc: "any", note: "SI wraps" });
  add("addr16", "fs movsd", { r: { esi: so, edi: BLOCK + 0x80 }, s: { fs: LDT_SEL }, f: 0 });
  add("addr16", "a16 fs rep movsb", { r: { esi: so, edi: 0xffff0000 | dof, ecx: 3, esp }, s: { es: LDT_SEL, fs: LDT_SEL, ds: USER_DS }, f: 0 });
}

function genStack(): void {
  for (let i = 0; i < 8; i++) {
    add("stack", `push ${R32[i]}`);
    add("stack", `push ${R16[i]}`);
    if (R32[i] !== "esp") add("stack", `pop ${R32[i]}`, { m: [[STACK, le(rand32(), 4)]] });
    if (R16[i] !== "sp") add("stack", `pop ${R16[i]}`, { m: [[STACK, le(rand32(), 4)]] });
  }
  add("stack", "pop esp", { m: [[STACK, le(STACK + 0x20, 4)]] });
  add("stack", "pop sp", { m: [[STACK, le(0x1234, 2)]] });
  for (const v of [0, 1, -1, 0x7f, -0x80]) {
    add("stack", `push byte ${v}`);
    add("stack", `push word ${v & 0xffff}`);
    add("stack", `o16 push byte ${v}`);
  }
  for (const v of [0x12345678, 0x80000000, 0xffffffff]) add("stack", `push strict dword ${hex(v)}`);
  for (const size of [16, 32]) {
    const w = SZ(size);
    add("stack", `push ${w} [ebx]`, { r: { ebx: BLOCK + 0x10 } });
    add("stack", `push ${w} [esp]`);
    add("stack", `push ${w} [esp+4]`);
    add("stack", `pop ${w} [ebx]`, { r: { ebx: BLOCK + 0x10 } });
    add("stack", `pop ${w} [esp]`, { note: "ESP-relative address computed after the pop" });
    add("stack", `pop ${w} [esp+4]`);
    add("stack", `pop ${w} [esp-4]`);
  }
  // segment registers: a 32-bit push of a selector may write only the low word (SDM PUSH note)
  for (const s of ["es", "cs", "ss", "ds", "fs", "gs"]) {
    add("stack", `push ${s}`, { mm: [[STACK - 2, 2]] });
    add("stack", `o16 push ${s}`);
  }
  for (const s of ["es", "ds", "fs", "gs", "ss"]) {
    for (const sel of [USER_DS, LDT_SEL, 0, 0x10, 0xfff8]) {
      const bad = sel === 0x10 || sel === 0xfff8 || (s === "ss" && sel === 0);
      add("stack", `pop ${s}`, { m: [[STACK, le(sel | (rand32() & 0xffff0000), 4)]], exc: bad ? 13 : "ok" });
    }
    add("stack", `o16 pop ${s}`, { m: [[STACK, le(USER_DS, 2)]] });
  }
  for (const op of ["pusha", "pushad", "popa", "popad"]) add("stack", op);
  add("stack", "pushad", { r: { esp: STACK + 3 } });
  // PUSHF/POPF: only the flags a CPL-3 program may change (not TF/NT: see README)
  for (let i = 0; i < 24; i++) {
    add("stack", i % 2 ? "pushfd" : "pushfw", { f: rand32() & (ARITH | DF) });
    const v = i < 4 ? [0, 0xffffffff & ~0x4100, 0x00247fd5 & ~0x100, 0x3000][i] : (rand32() & ~0x4100) >>> 0;
    add("stack", i % 2 ? "popfd" : "popfw", { m: [[STACK, le(v & ~0x40000, 4)]] });
  }
  for (const [sz, lvl] of [[0, 0], [8, 0], [0x10, 1], [8, 2], [4, 3], [0, 31], [0, 32], [0, 33], [0x40, 0]]) {
    add("stack", `enter ${sz}, ${lvl}`, { r: { ebp: STACK + 0x40 } });
  }
  add("stack", "o16 enter 4, 2", { r: { ebp: STACK + 0x40 } });
  add("stack", "leave", { r: { ebp: STACK + 0x20 } });
  add("stack", "o16 leave", { r: { ebp: STACK + 0x20 }, note: "ESP gets all of EBP (32-bit stack); only BP is popped" });
}

function genFlags(): void {
  for (const op of ["lahf", "sahf", "clc", "stc", "cmc", "cld", "std"]) {
    for (let i = 0; i < 12; i++) add("flags", op, { r: { ah: randVal(8) }, f: rand32() & (ARITH | DF) });
  }
  for (let al = 0; al < 256; al += 17) add("flags", "xlatb", { r: { ebx: BLOCK, al } });
  add("flags", "xlatb", { r: { ebx: BLOCK + 0x10, al: 0xff } });
}

function genString(): void {
  const ops = ["movs", "cmps", "scas", "lods", "stos"];
  for (const op of ops) {
    for (const [sfx, size] of [["b", 1], ["w", 2], ["d", 4]] as [string, number][]) {
      for (const df of [0, DF]) {
        const src = df ? BLOCK + 0x60 : BLOCK + 0x20;
        const dst = df ? BLOCK + 0xe0 : BLOCK + 0xa0;
        const step = df ? -size : size;
        const base = { esi: src, edi: dst, esp: STACK };
        const flags = () => df | (rand32() & ARITH);
        add("string", `${op}${sfx}`, { r: { ...base, ecx: rand32() }, f: flags() });
        const cmpLike = op === "cmps" || op === "scas";
        for (const ecx of [0, 1, 5]) {
          if (!cmpLike) add("string", `rep ${op}${sfx}`, { r: { ...base, ecx }, f: flags() });
          else {
            for (const pre of ["repe", "repne"]) {
              // "all": every element compares so the prefix never stops early; "stop": element 2 stops it
              for (const mode of ["all", "stop"]) {
                const acc = randVal(size * 8);
                const m: [number, number[]][] = [];
                for (let e = 0; e < 5; e++) {
                  const same = (pre === "repe") === (mode === "all" || e !== 2);
                  const sv = rand32() & mask(size * 8);
                  const want = op === "scas" ? acc : sv;
                  const dv = same ? want : (want ^ (1 << (e * 3 % (size * 8)))) >>> 0;
                  if (op === "cmps") m.push([src + e * step, le(sv, size)]);
                  m.push([dst + e * step, le(dv, size)]);
                }
                add("string", `${pre} ${op}${sfx}`, { r: { ...base, ecx, eax: acc }, m, f: flags(), note: mode });
              }
            }
          }
        }
      }
    }
  }
  add("string", "repne movsb", { r: { esi: BLOCK, edi: BLOCK + 0x80, ecx: 3 }, f: 0, note: "F2 on MOVS acts as REP" });
  add("string", "rep movsd", { r: { esi: BLOCK, edi: BLOCK + 0x2, ecx: 4 }, f: 0, note: "overlapping" });
  add("string", "rep stosb", { r: { edi: BLOCK, ecx: 0x100, eax: 0x5a }, f: 0 });
  add("string", "es movsb", { r: { esi: BLOCK, edi: BLOCK + 0x80 }, f: 0 });
}

function genNop(): void {
  for (const asm of ["nop", "o16 nop", "pause", "xchg eax, eax", "nop eax", "nop ax", "nop dword [eax]", "nop dword [eax+0x12]",
    "nop dword [eax+eax*1+0x12345678]", "nop word [eax+eax*1+0x12345678]", "db 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 ; nopl 0x0(%eax,%eax,1)",
    "db 0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 ; data16 data16 cs nopw", "fs nop"]) {
    add("nop", asm);
  }
}

/**
 * The hint-NOP space 0F 18–0F 1F: every ModRM.reg in register form, with a memory operand in the
 * data region and with one nowhere mapped, under no prefix, 66, F3 and F2 (ENDBR32 and RDSSPD
 * included); a LOCK prefix raises #UD.
 */
function genHintNop(): void {
  const bytes = (b: number[]) => `db ${b.map((x) => hex(x)).join(", ")}`;
  const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
  for (const prefix of [[], [0x66], [0xf3], [0xf2]]) {
    for (let op = 0x18; op <= 0x1f; op++) {
      for (let reg = 0; reg < 8; reg++) {
        add("hintnop", bytes([...prefix, 0x0f, op, 0xc0 | (reg << 3) | reg]));
        add("hintnop", bytes([...prefix, 0x0f, op, 0x05 | (reg << 3), ...le32(BLOCK)]));
        add("hintnop", bytes([...prefix, 0x0f, op, reg << 3]), { r: { eax: 0x00400000 }, note: "not mapped" });
      }
    }
  }
  add("hintnop", "endbr32");
  add("hintnop", bytes([0xf3, 0x0f, 0x1e, 0xc8]), { note: "rdsspd eax: a NOP without CET" });
  add("hintnop", bytes([0xf0, 0x0f, 0x18, 0x00]), { exc: 6 });
  add("hintnop", bytes([0xf0, 0x0f, 0x1f, 0xc0]), { exc: 6 });
}

function genFar(): void {
  const t = INSN_ADDR + 0x40;
  add("far", `jmp ${hex(USER_CS)}:${hex(t)}`);
  add("far", `call ${hex(USER_CS)}:${hex(t)}`, { mm: [[STACK - 6, 2]] });
  for (const [sel, exc] of [[USER_DS, 13], [0x10, 13], [0x20, "ok"], [0, 13], [0xfff8, 13], [LDT_SEL, 13]] as [number, Expect][]) {
    add("far", `jmp ${hex(sel)}:${hex(t)}`, { exc });
    add("far", `call ${hex(sel)}:${hex(t)}`, { exc });
  }
  add("far", "jmp far [ebx]", { r: { ebx: BLOCK }, m: [[BLOCK, [...le(t, 4), ...le(USER_CS, 2)]]] });
  add("far", "call far [ebx]", { r: { ebx: BLOCK }, m: [[BLOCK, [...le(t, 4), ...le(USER_CS, 2)]]], mm: [[STACK - 6, 2]] });
  add("far", "jmp far [ebx]", { r: { ebx: BLOCK }, m: [[BLOCK, [...le(t, 4), ...le(USER_DS, 2)]]], exc: 13 });
  for (const imm of [null, 0, 8]) {
    add("far", imm === null ? "retf" : `retf ${imm}`, { m: [[STACK, [...le(t, 4), ...le(USER_CS | 0xabcd0000, 4)]]] });
  }
  for (const sel of [USER_DS, 0x20, 0, 0x10]) add("far", "retf", { m: [[STACK, [...le(t, 4), ...le(sel, 4)]]], exc: 13 });
  for (const fl of [0x202, 0x246, 0x3ed7, 0x00247ed7 & ~0x100, 0x0002, 0x200a95]) {
    add("far", "iretd", { m: [[STACK, [...le(t, 4), ...le(USER_CS, 4), ...le(fl, 4)]]] });
  }
  add("far", "iretd", { m: [[STACK, [...le(t, 4), ...le(USER_DS, 4), ...le(0x202, 4)]]], exc: 13 });
}

function genSeg(): void {
  const sels = [USER_DS, LDT_SEL, USER_CS, 0, 0x10, 0x18, 0x0f, 0xfff8, 0x2a, 0x29];
  for (const s of ["ds", "es", "fs", "gs", "ss"]) {
    for (const sel of sels) {
      add("seg", `mov ${s}, ax`, { r: { eax: (rand32() & 0xffff0000) | sel }, exc: "any" });
    }
    const m = memOp(16, USER_DS);
    add("seg", `mov ${s}, ${m.t}`, { r: m.r, m: m.m });
    add("seg", `mov ${s}, ecx`, { r: { ecx: 0xffff0000 | LDT_SEL } });
  }
  add("seg", "db 0x8e, 0xc8 ; mov cs, ax", { r: { ax: USER_CS }, exc: 6 });
  for (const s of ["es", "cs", "ss", "ds", "fs", "gs"]) {
    add("seg", `mov eax, ${s}`);
    add("seg", `mov dx, ${s}`);
    add("seg", `mov [ebx], ${s}`, { r: { ebx: BLOCK + 0x10 } });
  }
  for (const op of ["lds", "les", "lfs", "lgs", "lss"]) {
    for (const sel of [USER_DS, LDT_SEL, 0, 0x10]) {
      const bad = sel === 0x10 || (op === "lss" && sel === 0);
      add("seg", `${op} ${op === "lss" ? "esp" : "edi"}, [ebx]`, { r: { ebx: BLOCK + 0x20 }, m: [[BLOCK + 0x20, [...le(0x12345678, 4), ...le(sel, 2)]]], exc: bad ? 13 : "ok" });
    }
    add("seg", `${op} si, [ebx]`, { r: { ebx: BLOCK + 0x20 }, m: [[BLOCK + 0x20, [...le(0x5678, 2), ...le(USER_DS, 2)]]] });
  }
  for (const [a, b] of [[0x2b, 0x28], [0x28, 0x2b], [0x29, 0x2a], [0x2a, 0x29], [0xfffc, 0x3], [0x7, 0x0]]) {
    add("seg", "arpl ax, bx", { r: { ax: a, bx: b } });
    add("seg", "arpl [esi], cx", { r: { esi: BLOCK, cx: b }, m: [[BLOCK, le(a, 2)]] });
  }
  // LAR/LSL/VERR/VERW see the descriptors; the harness meta is derived from these results
  for (const sel of [USER_CS, USER_DS, LDT_SEL, 0, 0x10, 0xfff8, 0x0f]) {
    for (const op of ["lar eax, bx", "lsl eax, bx", "verr bx", "verw bx", "lar ax, bx", "lsl ax, bx"]) {
      // LAR: bits 19:16 of a 32-bit destination are undefined (SDM: "masked by 00FxFF00H")
      add("seg", op, { r: { ebx: sel, eax: 0xdeadbeef }, rm: op === "lar eax, bx" ? { eax: 0x000f0000 } : undefined });
    }
  }
}

function genTraps(): void {
  add("traps", "ud2", { exc: 6 });
  add("traps", "db 0x0f, 0xff ; ud0", { exc: 6 });
  add("traps", "db 0x0f, 0xc7, 0xc8 ; cmpxchg8b eax (register operand)", { exc: 6 });
  add("traps", "db 0xf0\nmov [ebx], eax", { r: { ebx: BLOCK }, exc: 6, note: "LOCK MOV" });
  add("traps", "db 0xf0\nadd eax, ebx", { exc: 6, note: "LOCK with a register destination" });
  add("traps", "db 0xf0\nnop", { exc: 6 });
  add("traps", "db 0xf0\ninc eax", { exc: 6, note: "LOCK 40+r" });
  add("traps", "db 0xf0\ncmp [ebx], eax", { r: { ebx: BLOCK }, exc: 6, note: "LOCK CMP is not lockable" });
  add("traps", "lock add [ebx], eax", { r: { ebx: BLOCK } });
  add("traps", "lock bts dword [ebx], ecx", { r: { ebx: BLOCK, ecx: 77 }, fm: OF | SF | AF | PF });
  add("traps", "lock xchg [ebx], eax", { r: { ebx: BLOCK } });
  add("traps", "lock not dword [ebx]", { r: { ebx: BLOCK } });
  for (const asm of ["hlt", "cli", "sti", "in al, 0x60", "out 0x80, al", "in eax, dx", "out dx, ax", "insb", "outsd", "clts",
    "mov eax, cr0", "mov cr3, eax", "mov eax, dr7", "mov dr0, eax", "lgdt [ebx]", "lidt [ebx]", "lldt ax", "ltr ax", "lmsw ax",
    "invlpg [ebx]", "invd", "wbinvd", "rdmsr", "wrmsr", "int 0x10", "int 0xff", "int 0x00", "int 0x0d"]) {
    add("traps", asm, { r: { ebx: BLOCK, edx: 0x80, ax: 0 }, exc: 13 });
  }
  add("traps", "int3", { exc: 3, selfTrap: true });
  add("traps", "int 3", { exc: 3, selfTrap: true });
  add("traps", "int 4", { exc: 4 });
  add("traps", "into", { f: 0, note: "OF=0" });
  add("traps", "into", { f: OF, exc: 4, note: "OF=1" });
  for (const [v, lo, hi] of [[5, 0, 10], [0, 0, 10], [10, 0, 10], [11, 0, 10], [-1, 0, 10], [-5, -10, -1], [0x7fffffff, 0x80000000, 0x7fffffff]]) {
    const out = (v | 0) < (lo | 0) || (v | 0) > (hi | 0);
    add("traps", "bound eax, [ebx]", { r: { eax: v, ebx: BLOCK }, m: [[BLOCK, [...le(lo >>> 0, 4), ...le(hi >>> 0, 4)]]], exc: out ? 5 : "ok" });
    const out16 = ((v << 16) >> 16) < ((lo << 16) >> 16) || ((v << 16) >> 16) > ((hi << 16) >> 16);
    add("traps", "bound ax, [ebx]", { r: { eax: v, ebx: BLOCK }, m: [[BLOCK, [...le(lo & 0xffff, 2), ...le(hi & 0xffff, 2)]]], exc: out16 ? 5 : "ok" });
  }
}

// ---------------------------------------------------------------------------------------------
// Assembling, running, writing fixtures.

function assemble(fam: string, list: Spec[], dir: string): Uint8Array[] {
  const lines = ["bits 32"];
  const lineCase: number[] = [0];
  list.forEach((s, i) => {
    for (const l of [`align 32, db 0`, `db e${i} - s${i}`, `s${i}:`, ...s.asm.split("\n"), `e${i}:`]) {
      lines.push(l);
      lineCase.push(i);
    }
  });
  const src = join(dir, `${fam}.asm`), bin = join(dir, `${fam}.bin`);
  writeFileSync(src, lines.join("\n") + "\n");
  try {
    execFileSync("nasm", ["-w-other", "-w-number-overflow", "-f", "bin", "-o", bin, src], { stdio: "pipe" });
  } catch (e) {
    const msg = String((e as { stderr?: Buffer }).stderr ?? e);
    const first = msg.split("\n").filter((l) => l).slice(0, 5).map((l) => {
      const m = /:(\d+): /.exec(l);
      return m ? `${l}\n    case: ${list[lineCase[Number(m[1]) - 1]]?.asm}` : l;
    });
    throw new Error(`nasm failed for ${fam}:\n${first.join("\n")}`);
  }
  const out = readFileSync(bin);
  return list.map((_, i) => {
    const len = out[i * 32];
    if (len === 0 || len > 15) throw new Error(`${fam}: case ${i} (${list[i].asm}) assembled to ${len} bytes`);
    return new Uint8Array(out.subarray(i * 32 + 1, i * 32 + 1 + len));
  });
}

function makePattern(): Uint8Array {
  const p = new Uint8Array(DATA_SIZE);
  let s = 0x9e3779b9;
  for (let i = 0; i < DATA_SIZE; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    p[i] = s & 0xff;
  }
  return p;
}

interface NativeResult {
  regs: number[]; eip: number; eflags: number; segs: number[]; trapno: number; err: number; signo: number; cr2: number;
  diff: [number, Uint8Array][];
}

function runNative(runner: string, specs: Spec[], codes: Uint8Array[], pattern: Uint8Array, dir: string): { segs: number[]; results: NativeResult[] } {
  const chunks: Buffer[] = [];
  const hdr = Buffer.alloc(28);
  hdr.write("AGNC", 0, "latin1");
  hdr.writeUInt32LE(1, 4);
  hdr.writeUInt32LE(specs.length, 8);
  hdr.writeUInt32LE(CODE_ADDR, 12);
  hdr.writeUInt32LE(CODE_SIZE, 16);
  hdr.writeUInt32LE(DATA_ADDR, 20);
  hdr.writeUInt32LE(DATA_SIZE, 24);
  chunks.push(hdr, Buffer.from(pattern));
  specs.forEach((s, i) => {
    const code = codes[i];
    const b = Buffer.alloc(4 + code.length + 36 + 12);
    let o = 0;
    b.writeUInt8(code.length, o++);
    b.writeUInt8(s.selfTrap ? 1 : 0, o++);
    b.writeUInt16LE(s.mem.length, o); o += 2;
    Buffer.from(code).copy(b, o); o += code.length;
    for (const r of s.regs) { b.writeUInt32LE(r >>> 0, o); o += 4; }
    b.writeUInt32LE(s.flags >>> 0, o); o += 4;
    for (const v of s.segs ?? NATIVE_SEGS) { b.writeUInt16LE(v, o); o += 2; }
    chunks.push(b);
    for (const [addr, bytes] of s.mem) {
      const m = Buffer.alloc(6 + bytes.length);
      m.writeUInt32LE(addr >>> 0, 0);
      m.writeUInt16LE(bytes.length, 4);
      Buffer.from(bytes).copy(m, 6);
      chunks.push(m);
    }
  });
  const inFile = join(dir, "cases.bin"), outFile = join(dir, "results.bin");
  writeFileSync(inFile, Buffer.concat(chunks));
  execFileSync(runner, [inFile, outFile], { stdio: "inherit" });
  const r = readFileSync(outFile);
  if (r.toString("latin1", 0, 4) !== "AGNR") throw new Error("bad runner output");
  let o = 12;
  const segs: number[] = [];
  for (let i = 0; i < 6; i++) { segs.push(r.readUInt16LE(o)); o += 2; }
  const results: NativeResult[] = [];
  for (let n = 0; n < specs.length; n++) {
    const regs: number[] = [];
    for (let i = 0; i < 8; i++) { regs.push(r.readUInt32LE(o)); o += 4; }
    const eip = r.readUInt32LE(o); o += 4;
    const eflags = r.readUInt32LE(o); o += 4;
    const fsegs: number[] = [];
    for (let i = 0; i < 6; i++) { fsegs.push(r.readUInt16LE(o)); o += 2; }
    const trapno = r.readInt32LE(o); o += 4;
    const err = r.readUInt32LE(o); o += 4;
    const signo = r.readUInt32LE(o); o += 4;
    const cr2 = r.readUInt32LE(o); o += 4;
    const nd = r.readUInt32LE(o); o += 4;
    const diff: [number, Uint8Array][] = [];
    for (let i = 0; i < nd; i++) {
      const addr = r.readUInt32LE(o), len = r.readUInt16LE(o + 4);
      diff.push([addr, new Uint8Array(r.subarray(o + 6, o + 6 + len))]);
      o += 6 + len;
    }
    results.push({ regs, eip, eflags, segs: fsegs, trapno, err, signo, cr2, diff });
  }
  return { segs, results };
}

const toHex = (b: ArrayLike<number>) => Buffer.from(Array.from(b)).toString("hex");

function main(): void {
  const runner = process.argv[2] ?? join(ROOT, "scripts", "native", "build", "runner");
  const families: [string, () => void][] = [
    ["alu", genAlu], ["unary", genIncDecNegNot], ["test", genTest], ["mul", genMul], ["div", genDiv], ["bcd", genBcd],
    ["convert", genConvert], ["shift", genShift], ["shiftd", genShiftDouble], ["bittest", genBitTest], ["bitscan", genBitScan],
    ["setcc", genSetcc], ["cmov", genCmov], ["branch", genBranch], ["exchange", genExchange], ["mov", genMov], ["lea", genLea],
    ["addr16", genAddr16], ["stack", genStack], ["flags", genFlags], ["string", genString], ["nop", genNop], ["far", genFar],
    ["seg", genSeg], ["traps", genTraps], ["hintnop", genHintNop],
  ];
  for (const [, g] of families) g();
  const pattern = makePattern();
  const dir = mkdtempSync(join(tmpdir(), "afterglow-native-"));
  mkdirSync(OUT_DIR, { recursive: true });
  const byFam = new Map<string, Spec[]>();
  for (const s of specs) byFam.set(s.fam, [...(byFam.get(s.fam) ?? []), s]);
  const problems: string[] = [];
  const counts: [string, number][] = [];
  let observedSegs: number[] | null = null;
  const allCases = new Map<string, FixtureCase[]>();
  try {
    for (const [fam, list] of byFam) {
      const codes = assemble(fam, list, dir);
      const { segs, results } = runNative(runner, list, codes, pattern, dir);
      observedSegs = segs;
      const cases: FixtureCase[] = [];
      const names = new Map<string, number>();
      list.forEach((s, i) => {
        const res = results[i];
        const vec = res.trapno < 0 ? null : res.trapno;
        if (res.trapno === -2) { problems.push(`${fam}: ${s.name}: did not finish (watchdog)`); return; }
        const ok = s.expect === "any" || (s.expect === "ok" ? vec === null : vec === s.expect);
        if (!ok || vec === 14 || (vec === null && res.signo !== 5)) {
          problems.push(`${fam}: ${s.name}: expected ${s.expect}, got vector ${vec} (signal ${res.signo}, err ${hex(res.err)}, eip ${hex(res.eip)}, cr2 ${hex(res.cr2)})`);
          return;
        }
        let name = s.name;
        const dup = names.get(name) ?? 0;
        names.set(name, dup + 1);
        if (dup) name += ` #${dup + 1}`;
        const initSegs = s.segs ?? segs;
        const c: FixtureCase = {
          n: name,
          asm: s.asm,
          code: toHex(codes[i]),
          i: { r: s.regs.map((v) => v >>> 0), f: s.flags >>> 0 },
          o: { r: res.regs, eip: res.eip, f: res.eflags },
        };
        if (s.segs) c.i.s = s.segs;
        if (s.mem.length) c.i.m = s.mem.map(([a, b]) => [a, toHex(b)] as MemRun);
        if (res.segs.some((v, k) => v !== initSegs[k])) c.o.s = res.segs;
        if (vec !== null) { c.o.v = vec; c.o.e = res.err; }
        if (res.diff.length) c.o.m = res.diff.map(([a, b]) => [a, toHex(b)] as MemRun);
        if (s.fm) c.fm = s.fm;
        if (s.rm) c.rm = s.rm;
        if (s.mm.length) c.mm = s.mm;
        cases.push(c);
      });
      allCases.set(fam, cases);
      counts.push([fam, cases.length]);
      writeFileSync(join(OUT_DIR, `${fam}.json.gz`), gzipSync(JSON.stringify({ family: fam, cases }), { level: 9 }));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const meta: FixtureMeta = {
    version: 1,
    host: hostDescription(),
    codeAddr: CODE_ADDR, codeSize: CODE_SIZE, insnAddr: INSN_ADDR,
    dataAddr: DATA_ADDR, dataSize: DATA_SIZE,
    pattern: Buffer.from(pattern).toString("base64"),
    initialSegs: observedSegs ?? NATIVE_SEGS,
    gdtLimit: 0x7f,
    ldtLimit: 0x7,
    descriptors: descriptorsFrom(allCases.get("seg") ?? []),
    notes: [
      "Linux x86-64 kernel running a 32-bit process: GDT entries 0x10/0x18 are kernel code/data (DPL 0), 0x23 user 32-bit code, 0x2b user data, 0x33 user 64-bit code (DPL 3), GDT limit 0x7f; the LDT has one entry (selector 0x07).",
      "IDT (Linux): only vectors 3 (#BP), 4 (#OF) and 0x80 have DPL-3 gates, so INT n for any other n at CPL 3 raises #GP with error code n*8+2; IOPL is 0 and the TSS has no I/O bitmap, so IN/OUT/INS/OUTS/CLI/STI raise #GP(0).",
      "GS holds glibc's TLS selector; no case addresses memory through it unless the case loads GS itself.",
      "Exceptions: v is the vector, e the error code (only meaningful for vectors with an error code); eip is the faulting instruction for faults and the next instruction for the traps #BP (int3/int 3) and #OF (into/int 4).",
    ],
  };
  writeFileSync(join(OUT_DIR, "meta.json.gz"), gzipSync(JSON.stringify(meta), { level: 9 }));
  let total = 0;
  for (const [f, n] of counts) { console.log(`${f.padEnd(10)} ${n}`); total += n; }
  console.log(`total      ${total}`);
  if (problems.length) {
    console.error(`${problems.length} case(s) did not behave as the generator expected and were left out:`);
    for (const p of problems) console.error("  " + p);
    process.exitCode = 1;
  }
}

function hostDescription(): string {
  try {
    const model = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "unknown";
    return `${model.trim()}; ${execFileSync("uname", ["-sr"]).toString().trim()}`;
  } catch {
    return "unknown";
  }
}

/** Descriptor attributes as LAR/LSL reported them natively for the selectors the cases use. */
function descriptorsFrom(cases: FixtureCase[]): DescriptorInfo[] {
  const out: DescriptorInfo[] = [];
  const notes: Record<number, [number, string]> = {
    [USER_CS]: [0, "user 32-bit code (__USER32_CS)"],
    [USER_DS]: [0, "user data (__USER_DS)"],
    [LDT_SEL]: [DATA_ADDR, "LDT entry 0 created by the runner with modify_ldt"],
  };
  for (const [sel, [base, note]] of Object.entries(notes)) {
    const s = Number(sel);
    const lar = cases.find((c) => c.asm === "lar eax, bx" && (c.i.r[3] & 0xffff) === s);
    const lsl = cases.find((c) => c.asm === "lsl eax, bx" && (c.i.r[3] & 0xffff) === s);
    if (!lar || !lsl || !(lar.o.f & ZF)) continue;
    out.push({ selector: s, base, limit: lsl.o.r[0], attr: (lar.o.r[0] >>> 8) & 0xf0ff, note });
  }
  return out;
}

main();

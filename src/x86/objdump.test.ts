// The oracle test: our decoder and disassembler against GNU objdump on real code — Debian's
// busybox and i386 kernel. Lengths must agree on every instruction; the text on at least 99.9%,
// with every accepted kind of difference listed below with its reason.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { elf32Sections, sectionBytes } from "./elf32.js";
import { decode, emptyInsn } from "./decoder.js";
import { BufferSource, formatInsn } from "./disasm.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
const CACHE = join(ROOT, "guests/cache");
const FETCH = join(ROOT, "scripts/fetch-debian.sh");

/** Differences we accept, each matched on objdump's text, with the reason. */
const ACCEPTED: { pattern: RegExp; reason: string }[] = [
  {
    pattern: /^(?:(?:data16|addr16|repz|repnz|lock|[c-gs]s) ){2,}/,
    reason: "repeated prefixes of one kind: an Insn records only the effective one, so without the bytes the earlier ones cannot be named",
  },
  {
    pattern: /\(bad\)/,
    reason: "objdump's text for undefined encodings varies with its internal table layout; only the length is checked",
  },
];

/** Any single unlisted kind of difference (keyed by objdump's mnemonic) may not exceed this share. */
const UNLISTED_MAX_SHARE = 0.00001;
const TEXT_MIN_AGREEMENT = 0.999;

interface Result {
  total: number;
  lengthMismatches: string[];
  textMismatches: number;
  accepted: Map<string, number>;
  unlisted: Map<string, { n: number; examples: string[] }>;
}

/** Streams `objdump -d -M intel` over one section and checks each instruction it prints. */
async function compareSection(file: string, section: string): Promise<Result> {
  const buf = new Uint8Array(readFileSync(file));
  const sec = elf32Sections(buf).find((s) => s.name === section);
  if (!sec) throw new Error(`${file} has no ${section} section`);
  const src = new BufferSource(sectionBytes(buf, sec), sec.addr);
  const insn = emptyInsn();
  const r: Result = { total: 0, lengthMismatches: [], textMismatches: 0, accepted: new Map(), unlisted: new Map() };

  let cur: { addr: number; n: number; hex: string; text: string } | undefined;
  const check = () => {
    if (!cur) return;
    r.total++;
    decode(src, cur.addr, true, insn);
    const ours = formatInsn(insn, cur.addr, src);
    const what = `${cur.addr.toString(16)}: ${cur.hex.trim()}: objdump "${cur.text}", ours "${ours}" (${insn.len} bytes)`;
    if (insn.len !== cur.n) {
      r.lengthMismatches.push(what);
      return;
    }
    if (ours === cur.text) return;
    r.textMismatches++;
    const acc = ACCEPTED.find((a) => a.pattern.test(cur!.text));
    if (acc) {
      r.accepted.set(acc.reason, (r.accepted.get(acc.reason) ?? 0) + 1);
      return;
    }
    const key = cur.text.split(" ")[0];
    const u = r.unlisted.get(key) ?? { n: 0, examples: [] };
    u.n++;
    if (u.examples.length < 5) u.examples.push(what);
    r.unlisted.set(key, u);
  };

  const child = spawn("objdump", ["-d", "-M", "intel", "-j", section, file], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? -1)));
  // "<addr>:\t<bytes>\t<text>", continued by "<addr>:\t<bytes>" lines for long instructions.
  const line = /^\s*([0-9a-f]+):\t([0-9a-f ]+)(?:\t(.*))?$/;
  for await (const l of createInterface({ input: child.stdout })) {
    const m = line.exec(l);
    if (!m) continue;
    const n = m[2].trim().split(" ").length;
    if (m[3] === undefined) {
      if (cur) {
        cur.n += n;
        cur.hex += ` ${m[2].trim()}`;
      }
      continue;
    }
    check();
    cur = { addr: parseInt(m[1], 16), n, hex: m[2].trim(), text: m[3].replace(/ <[^>]*>$/, "").trimEnd() };
  }
  check();
  const code = await exited;
  if (code !== 0) throw new Error(`objdump exited with status ${code} on ${file}`);
  return r;
}

function report(name: string, r: Result): void {
  const lenPct = (100 * (r.total - r.lengthMismatches.length)) / r.total;
  const textPct = (100 * (r.total - r.lengthMismatches.length - r.textMismatches)) / r.total;
  const lines = [`${name}: ${r.total} instructions, lengths agree ${lenPct.toFixed(4)}%, text agrees ${textPct.toFixed(4)}%`];
  for (const [reason, n] of r.accepted) lines.push(`  accepted ${n}: ${reason}`);
  for (const [key, u] of r.unlisted) lines.push(`  UNLISTED ${u.n} "${key}":\n    ${u.examples.join("\n    ")}`);
  for (const l of r.lengthMismatches.slice(0, 10)) lines.push(`  LENGTH ${l}`);
  console.log(lines.join("\n"));
}

function expectAgreement(r: Result): void {
  expect(r.total).toBeGreaterThan(10000);
  expect(r.lengthMismatches.slice(0, 10)).toEqual([]);
  expect((r.total - r.textMismatches) / r.total).toBeGreaterThanOrEqual(TEXT_MIN_AGREEMENT);
  const tooMany = [...r.unlisted].filter(([, u]) => u.n > r.total * UNLISTED_MAX_SHARE).map(([k, u]) => `${k}: ${u.examples[0]}`);
  expect(tooMany).toEqual([]);
}

describe("the disassembler agrees with objdump on Debian's i386 binaries", () => {
  beforeAll(() => {
    const v = spawnSync("objdump", ["--version"], { encoding: "utf8" });
    if (v.status !== 0 || !/GNU objdump/.test(v.stdout)) {
      throw new Error("objdump (GNU binutils) is required for the oracle test: apt-get install binutils");
    }
    if (!existsSync(join(CACHE, "busybox")) || !existsSync(join(CACHE, "vmlinux"))) {
      const f = spawnSync("sh", [FETCH, CACHE], { encoding: "utf8", stdio: ["ignore", "inherit", "pipe"] });
      if (f.status !== 0) {
        throw new Error(`could not fetch Debian's busybox-static:i386 and linux-image-686 with ${FETCH}: ${f.stderr.trim()}`);
      }
    }
  }, 600_000);

  it("on busybox's .text", async () => {
    const r = await compareSection(join(CACHE, "busybox"), ".text");
    report("busybox", r);
    expectAgreement(r);
  });

  it("on the kernel's .text (system instructions included)", async () => {
    const r = await compareSection(join(CACHE, "vmlinux"), ".text");
    report("vmlinux", r);
    expectAgreement(r);
  });
});

/**
 * Every ModRM form of the hint-NOP space 0F 18–0F 1F (prefetch hints, CLDEMOTE, the MPX forms,
 * ENDBR32 and RDSSPD's slot, NOP Ev) under no prefix, 66, F3 and F2, with 32- and 16-bit
 * addressing: each instruction's bytes and where it starts.
 */
function hintNopSpace(): { bytes: Uint8Array; starts: number[] } {
  const out: number[] = [];
  const starts: number[] = [];
  for (const prefix of [[], [0x66], [0xf3], [0xf2], [0x67], [0xf3, 0x66], [0xf2, 0x66]]) {
    const a16 = prefix.includes(0x67);
    for (let op = 0x18; op <= 0x1f; op++) {
      // objdump gives up on MPX forms with 16-bit addressing ("addr16 bndldx bnd0,(bad)", the
      // displacement not counted); without MPX they are hint NOPs decoded as any ModRM operand.
      if (a16 && (op === 0x1a || op === 0x1b)) continue;
      for (let modrm = 0; modrm < 256; modrm++) {
        const mod = modrm >> 6, rm = modrm & 7;
        const insn = [...prefix, 0x0f, op, modrm];
        if (!a16 && mod !== 3 && rm === 4) insn.push(0x8d); // SIB: [ebp+ecx*4] forms
        const dispBytes = a16 ? (mod === 1 ? 1 : mod === 2 || (mod === 0 && rm === 6) ? 2 : 0)
          : mod === 1 ? 1 : mod === 2 || (mod === 0 && (rm === 5 || (rm === 4))) ? 4 : 0;
        for (let k = 0; k < dispBytes; k++) insn.push(0x11 * (k + 1));
        starts.push(out.length);
        out.push(...insn);
      }
    }
  }
  return { bytes: Uint8Array.from(out), starts };
}

describe("the disassembler names the hint-NOP space as objdump does", () => {
  it("agrees with objdump -M intel on every ModRM form of 0F 18–0F 1F under each prefix", () => {
    const { bytes, starts } = hintNopSpace();
    const dir = mkdtempSync(join(tmpdir(), "afterglow-hintnop-"));
    let dump: string;
    try {
      writeFileSync(join(dir, "hint.bin"), bytes);
      dump = spawnSync("objdump", ["-D", "-b", "binary", "-m", "i386", "-M", "intel", join(dir, "hint.bin")], { encoding: "utf8", maxBuffer: 64 << 20 }).stdout;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // objdump's text and length per start address (continuation lines add to the length).
    const theirs = new Map<number, { text: string; len: number }>();
    let last: { text: string; len: number } | undefined;
    for (const l of dump.split("\n")) {
      const m = /^\s*([0-9a-f]+):\t([0-9a-f ]+)(?:\t(.*))?$/.exec(l);
      if (!m) continue;
      const n = m[2].trim().split(" ").length;
      if (m[3] === undefined) {
        if (last) last.len += n;
        continue;
      }
      last = { text: m[3].trimEnd(), len: n };
      theirs.set(parseInt(m[1], 16), last);
    }
    const src = new BufferSource(bytes, 0);
    const bad: string[] = [];
    for (const at of starts) {
      const insn = decode(src, at, true);
      const ours = formatInsn(insn, at, src);
      const t = theirs.get(at);
      const hex = Array.from(bytes.subarray(at, at + insn.len), (b) => b.toString(16).padStart(2, "0")).join(" ");
      if (t === undefined || t.text !== ours || t.len !== insn.len) bad.push(`${hex}: objdump "${t?.text}" (${t?.len} bytes), ours "${ours}" (${insn.len} bytes)`);
    }
    expect(starts.length).toBe(7 * 8 * 256 - 2 * 256);
    expect(bad.slice(0, 20), `${bad.length} of ${starts.length} differ`).toEqual([]);
  });
});

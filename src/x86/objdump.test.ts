// The oracle test: our decoder and disassembler against GNU objdump on real code — Debian's
// busybox and i386 kernel. Lengths must agree on every instruction; the text on at least 99.9%,
// with every accepted kind of difference listed below with its reason.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { elf32Sections, sectionBytes } from "../cli/elf32.js";
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

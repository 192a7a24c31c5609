// `afterglow disasm FILE`: a listing in objdump's `-d -M intel` layout, of an ELF32 file's
// executable sections or of a flat binary from its first byte.

import type { Command } from "commander";
import { readImage } from "./images.js";
import { disassembleBuffer } from "../x86/disasm.js";
import { elf32Sections, isElf, SHF_EXECINSTR, sectionBytes } from "../x86/elf32.js";

interface DisasmOptions {
  base: number;
  bits: 16 | 32;
}

function parseAddress(s: string): number {
  const v = /^0x[0-9a-f]+$/i.test(s) ? parseInt(s, 16) : /^\d+$/.test(s) ? parseInt(s, 10) : NaN;
  if (!Number.isSafeInteger(v) || v > 0xffffffff) throw new Error(`--base: not an address: ${s}`);
  return v;
}

function parseBits(s: string): 16 | 32 {
  if (s !== "16" && s !== "32") throw new Error(`--bits: must be 16 or 32, not ${s}`);
  return s === "16" ? 16 : 32;
}

/** Writes lines to stdout in large chunks (a kernel is millions of lines). */
class LineWriter {
  private chunk: string[] = [];
  line = (s: string): void => {
    this.chunk.push(s);
    if (this.chunk.length >= 4096) this.flush();
  };
  flush(): void {
    if (this.chunk.length === 0) return;
    process.stdout.write(`${this.chunk.join("\n")}\n`);
    this.chunk = [];
  }
}

export function disasmFile(file: string, opts: DisasmOptions, out: (line: string) => void): void {
  const buf = readImage(file);
  if (!isElf(buf)) {
    disassembleBuffer(buf, opts.base, opts.bits, out);
    return;
  }
  let sections;
  try {
    sections = elf32Sections(buf);
  } catch (err) {
    throw new Error(`disasm: ${file}: ${(err as Error).message}`);
  }
  // objdump's headers, less its symbol lines ("c1000000 <.text>:").
  out("");
  out(`${file}:     file format elf32-i386`);
  out("");
  for (const s of sections) {
    if (!(s.flags & SHF_EXECINSTR) || s.size === 0) continue;
    out("");
    out(`Disassembly of section ${s.name}:`);
    out("");
    disassembleBuffer(sectionBytes(buf, s), s.addr, opts.bits, out);
  }
}

export function registerDisasm(program: Command): void {
  program
    .command("disasm <file>")
    .description("disassemble a flat binary or an ELF file's code, in objdump's -M intel layout")
    .option("--base <addr>", "load address of a flat binary", parseAddress, 0)
    .option("--bits <n>", "default operand and address size: 16 or 32", parseBits, 32 as 16 | 32)
    .action((file: string, opts: DisasmOptions) => {
      const w = new LineWriter();
      disasmFile(file, opts, w.line);
      w.flush();
    });
}

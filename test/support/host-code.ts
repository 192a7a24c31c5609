// Case loops run natively on the host CPU as an oracle. Each case is a loop over records (ESI the
// input records, EDI the output records, EBP how many) ending in RET; one program holds them all,
// and its run_case(which, in, out, n) calls one. Where the host runs no 32-bit programs the same
// bodies are assembled for 64-bit mode (hostMode()): the record buffers are static, below 4 GiB,
// so the bodies' 32-bit addressing reaches them there too, and only moving EFLAGS through the
// stack is written differently (loadFlags, storeFlags).

import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { HostMode } from "./oracle.js";

/** EFLAGS from `src`, a dword in memory or an immediate. Uses the stack (and R8 in 64-bit mode). */
export function loadFlags(mode: HostMode, src: string): string {
  return mode === 32 ? `push dword ${src}\n  popfd` : `mov r8d, ${src}\n  push r8\n  popfq`;
}

/** EFLAGS to `dst`, a dword in memory. */
export function storeFlags(mode: HostMode, dst: string): string {
  return mode === 32 ? `pushfd\n  pop dword ${dst}` : `pushfq\n  pop r8\n  mov ${dst}, r8d`;
}

export interface CaseProgram {
  /** The cases' code: labels case0…case(count-1), each returning with RET. */
  bodies: string;
  count: number;
  /** Sections and labels the bodies use (`section .bss` …). */
  data?: string;
  inRecord: number;
  outRecord: number;
  maxRecords: number;
}

/** Builds `p` for `mode` in `dir` (nasm, gcc -static) and returns the program's path. */
export function buildCaseProgram(dir: string, mode: HostMode, p: CaseProgram, name = `cases${mode}`): string {
  const runner = mode === 32
    ? "run_case:\n  push ebp\n  push ebx\n  push esi\n  push edi\n  mov eax, [esp+20]\n  mov esi, [esp+24]\n  mov edi, [esp+28]\n" +
      "  mov ebp, [esp+32]\n  call [table + eax*4]\n  fninit\n  pop edi\n  pop esi\n  pop ebx\n  pop ebp\n  ret\n"
    // System V: which in EDI, in in RSI (so ESI), out in RDX, n in ECX.
    : "run_case:\n  push rbp\n  push rbx\n  mov eax, edi\n  mov edi, edx\n  mov ebp, ecx\n  call [table + rax*8]\n  fninit\n" +
      "  pop rbx\n  pop rbp\n  ret\n";
  const labels = Array.from({ length: p.count }, (_, k) => `case${k}`).join(", ");
  const asm = `bits ${mode}\n${p.data ?? ""}\nsection .text\nglobal run_case\n${runner}\n${p.bodies}\n` +
    `section .data\nalign 8\ntable: ${mode === 32 ? "dd" : "dq"} ${labels}\n`;
  const driver = `#include <stdio.h>
#include <stdlib.h>
extern void run_case(int which, unsigned char *in, unsigned char *out, int n);
static unsigned char in[${p.maxRecords * p.inRecord}] __attribute__((aligned(64)));
static unsigned char out[${p.maxRecords * p.outRecord}] __attribute__((aligned(64)));
int main(int argc, char **argv) {
  int which = atoi(argv[1]), n = atoi(argv[2]);
  if (n > ${p.maxRecords}) return 3;
  if (fread(in, ${p.inRecord}, n, stdin) != (size_t)n) return 2;
  run_case(which, in, out, n);
  fwrite(out, ${p.outRecord}, n, stdout);
  return 0;
}
`;
  const asmPath = join(dir, `${name}.asm`), obj = join(dir, `${name}.o`), c = join(dir, `${name}.c`), exe = join(dir, name);
  writeFileSync(asmPath, asm);
  writeFileSync(c, driver);
  execFileSync("nasm", ["-f", mode === 32 ? "elf32" : "elf64", "-o", obj, asmPath], { stdio: "pipe" });
  execFileSync("gcc", [`-m${mode}`, "-static", "-no-pie", "-O1", "-o", exe, c, obj], { stdio: "pipe" });
  return exe;
}

/** Runs case `which` of a built program over `n` records of `input`; `via` runs it in an emulator. */
export function runCase(exe: string, which: number, n: number, input: Uint8Array, via?: string): Uint8Array {
  const [cmd, args] = via === undefined ? [exe, []] : [via, [exe]];
  return new Uint8Array(execFileSync(cmd, [...args, String(which), String(n)], { input, maxBuffer: 1 << 24 }));
}

// One definition of a retired instruction: a flat image retires the same instructions on the bare
// PC and in a VM under L4 and the VMM, whether the CPU runs an instruction or the VMM emulates it
// after its exit (I/O, string I/O chunk by chunk, CPUID, MSRs, control registers, HLT, MMIO, task
// switches), and whatever faults the VMM injects. So the two machines end at the same instruction
// count with the same guest registers: the built-in guests, the conformance kernels, and 200
// seeded random images of real- and protected-mode code (see `randomImage`; a failure names its
// seed, and RETIRED_SEED=n runs one).
//
// The conformance kernels and the random images never look at the clock, so the stack with its
// kernel's and VMM's costs must agree with the bare PC. The built-in guests run on timer interrupts, which come at the same
// instruction on both machines only when the stack's kernel and VMM take no guest time: they run
// on the stack with costs off (StackConfig.chargeCosts).

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GuestField } from "../src/l4/api.js";
import { Stop } from "../src/machine/cpu/arch.js";
import { Pc } from "../src/machine/pc.js";
import { BareMachine } from "../src/replay/machine.js";
import { Stack } from "../src/replay/stack.js";
import { nasm } from "./support/cpu.js";
import { ROOT } from "./layers.js";
import { seeded } from "./support/random.js";

const RAM = 8 << 20;
const IMAGES = 200;
const SEED = process.env.RETIRED_SEED === undefined ? null : Number(process.env.RETIRED_SEED);

/** Where a run ended, and the guest registers there. */
interface End {
  stop: Stop;
  icount: number;
  regs: Record<string, number>;
}

const GPRS = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
const SEGS = ["es", "cs", "ss", "ds", "fs", "gs"];
const FIELDS: [string, GuestField][] = [
  ...GPRS.map((n, i): [string, GuestField] => [n, [GuestField.EAX, GuestField.ECX, GuestField.EDX, GuestField.EBX, GuestField.ESP, GuestField.EBP, GuestField.ESI, GuestField.EDI][i]]),
  ["eip", GuestField.EIP], ["eflags", GuestField.EFLAGS], ["cr0", GuestField.CR0], ["cr3", GuestField.CR3], ["cr4", GuestField.CR4],
  ...SEGS.map((n, i): [string, GuestField] => [n, [GuestField.ES_SEL, GuestField.CS_SEL, GuestField.SS_SEL, GuestField.DS_SEL, GuestField.FS_SEL, GuestField.GS_SEL][i]]),
];

function runBare(image: Uint8Array, maxInsns: number): End {
  const pc = new Pc({ ramSize: RAM, console: () => {}, rtcEpochSeconds: 1_700_000_000 });
  pc.loadBootImage(image);
  const stop = new BareMachine(pc).run({ maxInsns });
  const c = pc.cpu;
  const regs: Record<string, number> = {};
  GPRS.forEach((n, i) => (regs[n] = c.r32[i] >>> 0));
  SEGS.forEach((n, i) => (regs[n] = c.segSel[i]));
  Object.assign(regs, { eip: c.eip >>> 0, eflags: c.getEflags() >>> 0, cr0: c.cr0 >>> 0, cr3: c.cr3 >>> 0, cr4: c.cr4 >>> 0 });
  return { stop, icount: c.icount, regs };
}

function runStack(image: Uint8Array, maxInsns: number, chargeCosts: boolean): End {
  const stack = new Stack({ ramSize: RAM, boot: { kind: "flat", image }, console: () => {}, rtcEpochSeconds: 1_700_000_000, chargeCosts });
  const stop = stack.run({ maxInsns });
  const no = stack.kernel.thread(stack.vmm().vcpu)!.no;
  const regs: Record<string, number> = {};
  for (const [n, f] of FIELDS) regs[n] = stack.platform.guestRead(no, f);
  // CR0 and CR4 as the guest reads them: the VMM owns NE and VMXE (their read shadows).
  regs.cr0 = ((regs.cr0 & ~0x20) | (stack.platform.guestRead(no, GuestField.CR0_SHADOW) & 0x20)) >>> 0;
  regs.cr4 = (regs.cr4 & ~0x2000) >>> 0;
  return { stop, icount: stack.pc.cpu.icount, regs };
}

/** The first difference between the two ends, or "". */
function differ(bare: End, vm: End): string {
  if (bare.stop !== vm.stop) return `stop code ${bare.stop} bare, ${vm.stop} in the VM`;
  if (bare.icount !== vm.icount) return `icount ${bare.icount} bare, ${vm.icount} in the VM`;
  // A reset ends the guest: nothing of it is left to compare.
  if (bare.stop === Stop.RESET) return "";
  for (const k of Object.keys(bare.regs)) {
    if (bare.regs[k] !== vm.regs[k]) return `${k} ${bare.regs[k].toString(16)} bare, ${vm.regs[k].toString(16)} in the VM (icount ${bare.icount})`;
  }
  return "";
}

// ------------------------------------------------------------------------------------------------
// Random images


/**
 * A flat boot image of `slots` random instructions (real mode for even seeds, flat 32-bit
 * protected mode with paging for odd ones), each in its own 16-byte slot: every exception's
 * handler resumes at the next slot, so the code always ends, with CLI; HLT. The instructions are
 * chosen to exit to the VMM (port and string I/O, CPUID, MSRs, control registers, INVD, WBINVD,
 * MMIO), to fault (#DE, #UD, #GP from MSRs, #BP, INT n) and to do ordinary work between, and
 * never to read the clock.
 */
function randomImage(seed: number, slots = 120): string {
  const r = seeded(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const int = (n: number): number => Math.floor(r() * n);
  const hex = (v: number): string => `0x${(v >>> 0).toString(16)}`;
  const pm = seed % 2 === 1;
  const R32 = ["eax", "ecx", "edx", "ebx", "ebp", "esi", "edi"];
  const R16 = ["ax", "cx", "dx", "bx", "bp", "si", "di"];
  const R8 = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"];
  const DATA = pm ? 0x200000 : 0; // the data area: DS/ES = 0x2000 in real mode, 2 MiB up in protected mode
  const mem = (size: string) => `${size} [${hex(DATA + int(0xfff0))}]`;
  const ports = [0x80, 0x3ff, 0x3fd, 0x3f9, 0x300, 0x310, 0x2f8, 0x21, 0xa1, 0x378];
  let depth = 0;
  const slot: (() => string)[] = [
    () => `${pick(["add", "sub", "and", "or", "xor", "adc", "sbb", "cmp"])} ${pick(R32)}, ${pick(R32)}`,
    () => `${pick(["add", "sub", "and", "or", "xor", "cmp"])} ${pick(R16)}, ${hex(int(0x10000))}`,
    () => `${pick(["shl", "shr", "sar", "rol", "ror", "rcl"])} ${pick(R32)}, ${int(40)}`,
    () => `${pick(["inc", "dec", "neg", "not"])} ${pick(R8)}`,
    () => `${pick(["mul", "imul", "div", "idiv"])} ${pick(R32)}`,
    () => `mov ${pick(R32)}, ${hex(int(2 ** 32))}`,
    () => `mov ${mem("dword")}, ${pick(R32)}`,
    () => `mov ${pick(R16)}, ${mem("word")}`,
    () => pick(["bswap esi", "bsf ecx, eax", "bsr edx, ebx", "movzx edi, si", "movsx eax, bl", "xchg eax, ebx", "lea esi, [eax + ebx * 2 + 5]", "setc al", "cmovz ecx, edx"]),
    () => (depth < 20 ? (depth++, `push ${pick(R32)}`) : `pop ${(depth--, pick(R32))}`),
    () => (depth > 0 ? (depth--, `pop ${pick(R32)}`) : "nop"),
    () => `mov eax, ${hex(pick([0, 1, 2, 0x80000000, 0x80000001, 0x80000004, 0x40000000, int(2 ** 32)]))}\ncpuid`,
    () => {
      const p = pick(ports);
      return `mov dx, ${hex(p)}\n${pick(["in al, dx", "in ax, dx", "out dx, al", "out dx, ax", "in eax, dx"])}`;
    },
    () => `mov al, ${hex(0x0e + int(0x30))}\nout 0x70, al\nin al, 0x71`,
    () => {
      const n = pick([0, 1, 3, 700, 1024, 1500, 3000]);
      const op = pick(["rep outsb", "rep insb", "rep outsw", "rep insd", "outsb", "insw"]);
      return `${pick(["cld", "std"])}\nmov ecx, ${n}\nmov ${pm ? "esi" : "si"}, ${hex(DATA + 0x4000 + int(0x8000))}\nmov ${pm ? "edi" : "di"}, ${hex(DATA + 0x4000 + int(0x8000))}\nmov dx, ${hex(pick([0x80, 0x300, 0x3ff]))}\n${op}\ncld`;
    },
    () => {
      const n = pick([0, 5, 999, 1024, 2600]);
      return `${pick(["cld", "std"])}\nmov ecx, ${n}\nmov ${pm ? "esi" : "si"}, ${hex(DATA + 0x2000 + int(0xa000))}\nmov ${pm ? "edi" : "di"}, ${hex(DATA + 0x2000 + int(0xa000))}\n${pick(["rep movsb", "rep stosw", "rep movsd", "repe cmpsb", "repne scasb", "rep lodsb"])}\ncld`;
    },
    () => `mov ecx, ${hex(pick([0x174, 0x175, 0x176, 0x277, 0x17, 0x8b, 0x1a0, 0x12345, 0xc0000080]))}\n${pick(["rdmsr", "wrmsr"])}`,
    () => `mov eax, cr0\nxor eax, ${hex(pick([0x2, 0x4, 0x8, 0x20, 0x40000]))}\nmov cr0, eax`,
    () => `mov eax, cr4\nxor eax, ${hex(pick([0x4, 0x8, 0x100, 0x200]))}\nmov cr4, eax`,
    () => (pm ? "mov eax, cr3\nmov cr3, eax" : "clts"),
    () => pick(["invd", "wbinvd", "clts", "nop"]),
    () => pick(["ud2", "int3", `int ${hex(0x20 + int(0xe0))}`, "into", "xor edx, edx\ndiv edx"]),
    () => {
      // MMIO: unassigned space past RAM, in the forms the VMM emulates.
      const a = `[${hex(0xfec00000 + 4 * int(0x400))}]`;
      return pm ? pick([`mov eax, ${a}`, `mov bl, ${a}`, `add eax, ${a}`, `cmp ${a}, ecx`, `test ${a}, eax`, `mov ${a}, edx`, `movzx ecx, word ${a}`, `or dword ${a}, 5`]) : "nop";
    },
  ];
  const body: string[] = [];
  for (let k = 0; k < slots; k++) body.push(`${pick(slot)()}\nalign 16, db 0x90`);
  const init = R32.map((n) => `mov ${n}, ${hex(int(2 ** 32))}`).join("\n");
  const handlers = pm
    ? `
handler:
    add dword [esp], 16
    and dword [esp], ~15
    iretd
handler_ec:
    add esp, 4
    jmp handler`
    : `
handler:
    push bp
    mov bp, sp
    add word [bp + 2], 16
    and word [bp + 2], 0xfff0
    pop bp
    iret`;
  const enter = pm
    ? `
    o32 lgdt [gdt_desc]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp 0x08:pm
bits 32
pm:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    mov esp, 0x70000
    mov edi, 0x40000                  ; the IDT: every vector to its handler
    xor ecx, ecx
.idt:
    mov eax, handler
    cmp ecx, 8
    je .ec
    cmp ecx, 17
    je .ec
    cmp ecx, 10
    jb .gate
    cmp ecx, 14
    ja .gate
.ec:
    mov eax, handler_ec
.gate:
    mov [edi + ecx * 8], ax
    mov word [edi + ecx * 8 + 2], 0x08
    mov word [edi + ecx * 8 + 4], 0x8e00
    shr eax, 16
    mov [edi + ecx * 8 + 6], ax
    inc ecx
    cmp ecx, 256
    jb .idt
    lidt [idt_desc]
    mov edi, 0x30000                  ; 4 MiB pages: RAM and the MMIO window at 0xfec00000
    xor eax, eax
    mov ecx, 1024
    rep stosd
    mov dword [0x30000], 0x83
    mov dword [0x30004], 0x400083
    mov dword [0x30000 + (0xfec00000 >> 22) * 4], 0xfec00083
    mov eax, cr4
    or eax, 0x10
    mov cr4, eax
    mov eax, 0x30000
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax`
    : `
    mov di, 0                         ; the IVT: every vector to the handler
    mov cx, 256
.ivt:
    mov word [di], handler
    mov word [di + 2], 0
    add di, 4
    loop .ivt
    mov ax, 0x2000
    mov ds, ax
    mov es, ax`;
  return `    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
${enter}
${init}
    jmp body
${handlers}
align 8
gdt:
    dq 0
    dq 0x00cf9a000000ffff
    dq 0x00cf92000000ffff
gdt_desc:
    dw 23
    dd gdt
idt_desc:
    dw 256 * 8 - 1
    dd 0x40000
align 16
body:
${body.join("\n")}
    cli
    hlt
`;
}

describe("one definition of a retired instruction", () => {
  // Where they stop: hello halts; bench and echo (which waits for input with a 100 Hz timer
  // running) at the instruction limit.
  for (const [name, max] of [["hello", 3_000_000], ["bench", 3_000_000], ["echo", 100_000]] as const) {
    it(`the built-in ${name} guest ends at the same icount with the same registers bare and in a VM whose kernel and VMM take no time`, () => {
      const image = new Uint8Array(readFileSync(join(ROOT, "guests/builtin", `${name}.bin`)));
      const msg = differ(runBare(image, max), runStack(image, max, false));
      expect(msg, msg).toBe("");
    }, 120_000);
  }

  for (const name of ["exceptions", "privilege", "paging", "tasks", "x87", "v86"]) {
    it(`the ${name} conformance kernel ends at the same icount with the same registers bare and in a VM`, () => {
      const image = new Uint8Array(readFileSync(join(ROOT, "guests/conformance", `${name}.bin`)));
      const msg = differ(runBare(image, 50_000_000), runStack(image, 50_000_000, true));
      expect(msg, msg).toBe("");
    }, 120_000);
  }

  it(`${SEED === null ? IMAGES : 1} seeded random images end at the same icount with the same registers bare and in a VM`, () => {
    const seeds = SEED === null ? Array.from({ length: IMAGES }, (_, k) => k + 1) : [SEED];
    const bad: string[] = [];
    for (const seed of seeds) {
      const image = nasm(randomImage(seed), 16, 0x7c00);
      const max = 200_000;
      const msg = differ(runBare(image, max), runStack(image, max, true));
      if (msg) bad.push(`seed ${seed}: ${msg}`);
    }
    expect(bad.length, `${bad.length} of ${seeds.length} differ (rerun one with RETIRED_SEED=n); the first: ${bad[0]}`).toBe(0);
  }, 600_000);
});

// The IA32 opcode maps as data (SDM Vol. 2 Appendix A), in the notation of opcode-entry.ts:
// the one-byte map, the 0F map, the ModRM.reg groups and the x87 escapes. The SSE forms that
// mandatory prefixes select, and the 0F 38 / 0F 3A maps, are in opcodes-simd.ts. Mnemonics are
// spelled as objdump spells them in Intel syntax, so the disassembler prints them unchanged.

import { BAD, byMod, byPrefix, byPrefixMixed, byReg, byRm, type Cell, EntryFlag, mandatory, node, type OpNode } from "./opcode-entry.js";
import { SIMD_0F, MAP_0F38, MAP_0F3A } from "./opcodes-simd.js";
import { OpMap } from "./insn.js";

const ARITH = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"];
const CC = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];
const SHIFTS = ["rol", "ror", "rcl", "rcr", "shl", "shr", "shl", "sar"];

const group1 = (ops: string): Cell => byReg(ARITH.map((m) => `${m} ${ops}${m === "cmp" ? "" : " !lk"}`));
const group2 = (ops: string): Cell => byReg(SHIFTS.map((m) => `${m} ${ops}`));
const group3 = (sz: string): Cell =>
  byReg([`test E${sz},I${sz === "v" ? "z" : "b"}`, `test E${sz},I${sz === "v" ? "z" : "b"}`,
    `not E${sz} !lk`, `neg E${sz} !lk`, `mul E${sz}`, `imul E${sz}`, `div E${sz}`, `idiv E${sz}`]);

/** The eight forms of 40+r, 50+r...: Z names the register in the opcode's low bits. */
const perReg = (spec: string): Cell[] => Array<Cell>(8).fill(spec);

const ONE_BYTE: Cell[] = [
  // 00–3F: the eight arithmetic rows, with segment push/pop, prefixes and BCD adjusts between.
  ...ARITH.flatMap((m, i) => [
    `${m} Eb,Gb${m === "cmp" ? "" : " !lk"}`, `${m} Ev,Gv${m === "cmp" ? "" : " !lk"}`, `${m} Gb,Eb`, `${m} Gv,Ev`, `${m} AL,Ib`, `${m} eAX,Iz`,
    ...[
      ["push|pushw ES", "pop|popw ES"], ["push|pushw CS", ""], ["push|pushw SS", "pop|popw SS"], ["push|pushw DS", "pop|popw DS"],
      ["", "daa"], ["", "das"], ["", "aaa"], ["", "aas"],
    ][i],
  ]),
  ...perReg("inc Zv"), ...perReg("dec Zv"), ...perReg("push Zv"), ...perReg("pop Zv"),
  // 60
  "pusha|pushaw !osz", "popa|popaw !osz", "bound Gv,Ma", "arpl Ew,Gw", "", "", "", "",
  "push|pushw Iz", "imul Gv,Ev,Iz", "push|pushw sIb", "imul Gv,Ev,sIb",
  "ins Yb,DX !str", "ins Yz,DX !str", "outs DX,Xb !str", "outs DX,Xz !str",
  // 70
  ...CC.map((c) => `j${c} Jb !br`),
  // 80
  group1("Eb,Ib"), group1("Ev,Iz"), group1("Eb,Ib"), group1("Ev,sIb"),
  "test Eb,Gb", "test Ev,Gv", "xchg Eb,Gb !lk", "xchg Ev,Gv !lk",
  "mov Eb,Gb !rel", "mov Ev,Gv !rel", "mov Gb,Eb", "mov Gv,Ev",
  "mov Ewv,Sw", "lea Gv,M", "mov Sw,Ewv", byReg(["pop Ev", "", "", "", "", "", "", ""]),
  // 90: 90 is NOP (PAUSE with F3), but with 66 objdump shows the XCHG it is.
  byPrefix("nop", "xchg eAX,eAX", "pause", null), ...perReg("xchg Zv,eAX").slice(1),
  "cwde|cbw !osz", "cdq|cwd !osz", "call Ap", "fwait", "pushf|pushfw !osz", "popf|popfw !osz", "sahf", "lahf",
  // A0
  "mov AL,Ob", "mov eAX,Ov", "mov Ob,AL", "mov Ov,eAX",
  "movs Yb,Xb !str", "movs Yv,Xv !str", "cmps Xb,Yb !strcmp", "cmps Xv,Yv !strcmp",
  "test AL,Ib", "test eAX,Iz", "stos Yb,AL !str", "stos Yv,eAX !str",
  "lods AL,Xb !str", "lods eAX,Xv !str", "scas AL,Yb !strcmp", "scas eAX,Yv !strcmp",
  // B0
  ...perReg("mov Zb,Ib"), ...perReg("mov Zv,Iv"),
  // C0
  group2("Eb,Ib"), group2("Ev,Ib"), "ret|retw Iw !br", "ret|retw !br", "les Gv,Mp", "lds Gv,Mp",
  byReg(["mov Eb,Ib !rel", "", "", "", "", "", "", byMod("", byRm(["xabort Ib", "", "", "", "", "", "", ""]))]),
  byReg(["mov Ev,Iz !rel", "", "", "", "", "", "", byMod("", byRm(["xbegin Jz", "", "", "", "", "", "", ""]))]),
  "enter|enterw Iw,Ib", "leave|leavew !osz", "retf|retfw Iw", "retf|retfw", "int3", "int Ib", "into", "iret|iretw !osz",
  // D0. D6 is SALC, undocumented but executed by every i686 (objdump calls it "(bad)").
  group2("Eb,1"), group2("Ev,1"), group2("Eb,CL"), group2("Ev,CL"), "aam Ib", "aad Ib", "salc", "xlat XLAT",
  // D8–DF: the x87 escapes, filled in below.
  "", "", "", "", "", "", "", "",
  // E0
  "loopne Jb", "loope Jb", "loop Jb", "jecxz|jcxz Jb !adsize",
  "in AL,Ib", "in eAX,Ib", "out Ib,AL", "out Ib,eAX",
  "call|callw Jz !br", "jmp|jmpw Jz !br", "jmp Ap", "jmp Jb !br", "in AL,DX", "in eAX,DX", "out DX,AL", "out DX,eAX",
  // F0
  "", "int1", "", "", "hlt", "cmc", group3("b"), group3("v"),
  "clc", "stc", "cli", "sti", "cld", "std",
  byReg(["inc Eb !lk", "dec Eb !lk", "", "", "", "", "", ""]),
  byReg(["inc Ev !lk", "dec Ev !lk", "call Ev !ibr", "call Mp", "jmp Ev !ibr", "jmp Mp", "push Ev", ""]),
];

// ------------------------------------------------------------------------------------------------
// x87 (D8–DF): memory forms by ModRM.reg, register forms by reg and then rm.

const X87_ARITH = ["fadd", "fmul", "fcom", "fcomp", "fsub", "fsubr", "fdiv", "fdivr"];
const sti = (m: string, ops: string): Cell => byRm(Array(8).fill(`${m} ${ops}`));
const x87 = (mem: Cell[], reg: Cell[]): Cell => byReg(mem.map((m, i) => byMod(m, reg[i])));
const rmRow = (names: string[]): Cell => byRm(names.map((n) => n));
/** An undefined x87 memory form: objdump still decodes (and prints) its memory operand. */
const BAD_X87 = "(bad) M !bad";

const X87: Cell[] = [
  // D8
  x87(X87_ARITH.map((m) => `${m} Md`), X87_ARITH.map((m, i) => sti(m, i === 2 || i === 3 ? "STi" : "ST,STi"))),
  // D9
  x87(["fld Md", BAD_X87, "fst Md", "fstp Md", "fldenv|fldenvw M", "fldcw Mw", "fnstenv|fnstenvw M", "fnstcw Mw"], [
    sti("fld", "STi"), sti("fxch", "STi"), rmRow(["fnop", "", "", "", "", "", "", ""]), "",
    rmRow(["fchs", "fabs", "", "", "ftst", "fxam", "", ""]),
    rmRow(["fld1", "fldl2t", "fldl2e", "fldpi", "fldlg2", "fldln2", "fldz", ""]),
    rmRow(["f2xm1", "fyl2x", "fptan", "fpatan", "fxtract", "fprem1", "fdecstp", "fincstp"]),
    rmRow(["fprem", "fyl2xp1", "fsqrt", "fsincos", "frndint", "fscale", "fsin", "fcos"]),
  ]),
  // DA
  x87(["fiadd", "fimul", "ficom", "ficomp", "fisub", "fisubr", "fidiv", "fidivr"].map((m) => `${m} Md`), [
    sti("fcmovb", "ST,STi"), sti("fcmove", "ST,STi"), sti("fcmovbe", "ST,STi"), sti("fcmovu", "ST,STi"),
    "", rmRow(["", "fucompp", "", "", "", "", "", ""]), "", "",
  ]),
  // DB
  x87(["fild Md", "fisttp Md", "fist Md", "fistp Md", BAD_X87, "fld Mt", BAD_X87, "fstp Mt"], [
    sti("fcmovnb", "ST,STi"), sti("fcmovne", "ST,STi"), sti("fcmovnbe", "ST,STi"), sti("fcmovnu", "ST,STi"),
    rmRow(["fneni(8087_only)", "fndisi(8087_only)", "fnclex", "fninit", "fnsetpm(287_only)", "frstpm", "", ""]),
    sti("fucomi", "ST,STi"), sti("fcomi", "ST,STi"), "",
  ]),
  // DC: the register forms write st(i), and reverse the subtract and divide (SDM order).
  x87(X87_ARITH.map((m) => `${m} Mq`), [
    sti("fadd", "STi,ST"), sti("fmul", "STi,ST"), "", "",
    sti("fsubr", "STi,ST"), sti("fsub", "STi,ST"), sti("fdivr", "STi,ST"), sti("fdiv", "STi,ST"),
  ]),
  // DD
  x87(["fld Mq", "fisttp Mq", "fst Mq", "fstp Mq", "frstor|frstorw M", BAD_X87, "fnsave|fnsavew M", "fnstsw Mw"], [
    sti("ffree", "STi"), "", sti("fst", "STi"), sti("fstp", "STi"),
    sti("fucom", "STi"), sti("fucomp", "STi"), "", "",
  ]),
  // DE
  x87(["fiadd", "fimul", "ficom", "ficomp", "fisub", "fisubr", "fidiv", "fidivr"].map((m) => `${m} Mw`), [
    sti("faddp", "STi,ST"), sti("fmulp", "STi,ST"), "", rmRow(["", "fcompp", "", "", "", "", "", ""]),
    sti("fsubrp", "STi,ST"), sti("fsubp", "STi,ST"), sti("fdivrp", "STi,ST"), sti("fdivp", "STi,ST"),
  ]),
  // DF
  x87(["fild Mw", "fisttp Mw", "fist Mw", "fistp Mw", "fbld Mt", "fild Mq", "fbstp Mt", "fistp Mq"], [
    sti("ffreep", "STi"), "", "", "",
    rmRow(["fnstsw AX", "", "", "", "", "", "", ""]), sti("fucomip", "ST,STi"), sti("fcomip", "ST,STi"), "",
  ]),
];
for (let i = 0; i < 8; i++) ONE_BYTE[0xd8 + i] = X87[i];

// ------------------------------------------------------------------------------------------------
// The 0F map (integer and system instructions; SSE/MMX forms come from SIMD_0F).

const nopEv = "nop Ev";
/** NOP Ev in a column F3 or F2 selected (EntryFlag.NamesPrefixes). */
const hintNop = node(nopEv, EntryFlag.NamesPrefixes);
const TWO_BYTE: Cell[] = new Array<Cell>(256).fill("");

Object.assign(TWO_BYTE, {
  0x00: byReg(["sldt Ewv", "str Ewv", "lldt Ew", "ltr Ew", "verr Ew", "verw Ew", "", ""]),
  0x01: byReg([
    byMod("sgdtd|sgdtw M", byRm(["enclv", "vmcall", "vmlaunch", "vmresume", "vmxoff", "pconfig", "wrmsrns", ""])),
    byMod("sidtd|sidtw M", byRm(["monitor", "mwait", "clac", "stac", "", "", "", "encls"])),
    byMod("lgdtd|lgdtw M", byRm(["xgetbv", "xsetbv", "", "", "vmfunc", "xend", "xtest", "enclu"])),
    byMod("lidtd|lidtw M", byRm(["vmrun", "vmmcall", "vmload", "vmsave", "stgi", "clgi", "skinit", "invlpga"])),
    byMod("smsw Ewv", "smsw Ewv"),
    byMod("", byRm(["serialize", "", "", "", "", "", "rdpkru", "wrpkru"])),
    "lmsw Ew",
    byMod("invlpg Mb", byRm(["swapgs", "rdtscp", "monitorx", "mwaitx", "clzero", "rdpru", "", ""])),
  ]),
  0x02: "lar Gv,Ewv", 0x03: "lsl Gv,Ewv", 0x05: "syscall", 0x06: "clts", 0x07: "sysret",
  0x08: "invd", 0x09: byPrefix("wbinvd", "", "wbnoinvd", ""), 0x0b: "ud2",
  0x0d: byReg(["prefetch Mb", "prefetchw Mb", "prefetchwt1 Mb", "prefetch Mb", "prefetch Mb", "prefetch Mb", "prefetch Mb", "prefetch Mb"]),
  0x0e: "femms",
  0x18: byReg([
    byMod("prefetchnta Mb", nopEv), byMod("prefetcht0 Mb", nopEv), byMod("prefetcht1 Mb", nopEv),
    byMod("prefetcht2 Mb", nopEv), nopEv, nopEv, nopEv, nopEv,
  ]),
  0x19: nopEv, 0x1d: nopEv, 0x1f: nopEv,
  // CLDEMOTE takes no prefix; under F3 or F2 the hint space is a NOP that names them.
  0x1c: byPrefixMixed(byReg([byMod("cldemote Mb", nopEv), nopEv, nopEv, nopEv, nopEv, nopEv, nopEv, nopEv]), nopEv, hintNop, hintNop),
  // F3 0F 1E FB is ENDBR32 (FA: ENDBR64), F3 0F 1E /1 with a register RDSSPD: NOPs without CET.
  0x1e: byPrefixMixed(nopEv, nopEv, byMod(hintNop, byReg([hintNop, mandatory("rdsspd Rd"), hintNop, hintNop, hintNop, hintNop, hintNop,
    byRm([hintNop, hintNop, mandatory("endbr64"), mandatory("endbr32"), hintNop, hintNop, hintNop, hintNop])])), nopEv),
  // MPX: on CPUs without it these are hint NOPs, which is what the register forms of 0F 1A/1B are.
  0x1a: byPrefix(byMod("bndldx Bnd,M", nopEv), "bndmov Bnd,BndE", "bndcl Bnd,Edn", "bndcu Bnd,Edn"),
  0x1b: byPrefixMixed(byMod("bndstx M,Bnd", nopEv), mandatory("bndmov BndE,Bnd"), byMod(mandatory("bndmk Bnd,M"), hintNop), mandatory("bndcn Bnd,Edn")),
  0x20: "mov Rd,Cd", 0x21: "mov Rd,Dd", 0x22: "mov Cd,Rd", 0x23: "mov Dd,Rd", 0x24: "mov Rd,Td", 0x26: "mov Td,Rd",
  0x30: "wrmsr", 0x31: "rdtsc", 0x32: "rdmsr", 0x33: "rdpmc", 0x34: "sysenter", 0x35: "sysexit",
  0x37: "getsec", 0x78: byPrefix("vmread Ed,Gd"), 0x79: byPrefix("vmwrite Gd,Ed"),
  0xa0: "push|pushw FS", 0xa1: "pop|popw FS", 0xa2: "cpuid", 0xa3: "bt Ev,Gv", 0xa4: "shld Ev,Gv,Ib",
  0xa5: "shld Ev,Gv,CL", 0xa8: "push|pushw GS", 0xa9: "pop|popw GS", 0xaa: "rsm", 0xab: "bts Ev,Gv !lk",
  0xac: "shrd Ev,Gv,Ib", 0xad: "shrd Ev,Gv,CL",
  0xae: byReg([
    byMod("fxsave M", ""), byMod("fxrstor M", ""), byMod("ldmxcsr Md", ""), byMod("stmxcsr Md", ""),
    byMod("xsave M", ""), byMod("xrstor M", "lfence"),
    byMod(byPrefix("xsaveopt M", "clwb Mb"), byPrefix("mfence", "tpause Rd", "umonitor Rd", "umwait Rd")),
    byMod(byPrefix("clflush Mb", "clflushopt Mb"), "sfence"),
  ]),
  0xaf: "imul Gv,Ev",
  0xb0: "cmpxchg Eb,Gb !lk", 0xb1: "cmpxchg Ev,Gv !lk", 0xb2: "lss Gv,Mp", 0xb3: "btr Ev,Gv !lk",
  0xb4: "lfs Gv,Mp", 0xb5: "lgs Gv,Mp", 0xb6: "movzx Gv,Eb", 0xb7: "movzx Gv,Ew",
  0xb8: byPrefix("", "", "popcnt Gv,Ev", ""), 0xb9: "ud1 Gv,Ev",
  0xba: byReg(["", "", "", "", "bt Ev,Ib", "bts Ev,Ib !lk", "btr Ev,Ib !lk", "btc Ev,Ib !lk"]),
  0xbb: "btc Ev,Gv !lk", 0xbc: byPrefix("bsf Gv,Ev", null, "tzcnt Gv,Ev", ""),
  0xbd: byPrefix("bsr Gv,Ev", null, "lzcnt Gv,Ev", ""),
  0xbe: "movsx Gv,Eb", 0xbf: "movsx Gv,Ew",
  0xc0: "xadd Eb,Gb !lk", 0xc1: "xadd Ev,Gv !lk",
  0xc7: byReg([
    "", byMod("cmpxchg8b Mq !lk", ""), "", byMod("xrstors M", ""), byMod("xsavec M", ""), byMod("xsaves M", ""),
    byMod(byPrefix("vmptrld Mq", "vmclear Mq", "vmxon Mq"), byPrefix("rdrand Rv", null)),
    byMod(byPrefix("vmptrst Mq"), byPrefix("rdseed Rv", null, "rdpid Rd")),
  ]),
  0xff: "ud0 Gv,Ev",
});
for (let i = 0; i < 16; i++) {
  TWO_BYTE[0x40 + i] = `cmov${CC[i]} Gv,Ev`;
  TWO_BYTE[0x80 + i] = `j${CC[i]} Jz !br`;
  TWO_BYTE[0x90 + i] = `set${CC[i]} Eb`;
}
for (let i = 0; i < 8; i++) TWO_BYTE[0xc8 + i] = "bswap Zv";
for (const [op, cell] of Object.entries(SIMD_0F)) TWO_BYTE[Number(op)] = cell;

// ------------------------------------------------------------------------------------------------

/**
 * Every opcode's table node, indexed by Insn.op (OpMap | byte). The escapes (0F, 0F 38, 0F 3A)
 * and the prefix bytes have no node of their own: the decoder consumes them.
 */
export const OPCODES: readonly OpNode[] = (() => {
  const t = new Array<OpNode>(0x400).fill(BAD);
  const fill = (map: OpMap, cells: readonly Cell[] | Record<number, Cell>) => {
    for (const [op, cell] of Object.entries(cells)) t[map | Number(op)] = node(cell);
  };
  fill(OpMap.ONE, ONE_BYTE);
  fill(OpMap.TWO, TWO_BYTE);
  fill(OpMap.THREE_38, MAP_0F38);
  fill(OpMap.THREE_3A, MAP_0F3A);
  return t;
})();

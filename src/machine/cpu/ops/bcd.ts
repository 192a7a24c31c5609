// Decimal arithmetic adjustments: DAA DAS AAA AAS AAM AAD, per the SDM's pseudo-code.
//
// Flags the SDM leaves undefined are set as P6-family hardware is observed to (Bochs's model):
// OF = 0 for all six; AAA/AAS take ZF PF from the final AL (SF = 0 since AL <= 0Fh); AAM/AAD clear
// CF and AF.

import { Flag } from "../../../x86/eflags.js";
import { type Cpu } from "../cpu.js";
import { Vec } from "../../../x86/vectors.js";
import { def } from "../table.js";

const AL = 0, AH = 1; // byte offsets in the register file

/** SF ZF PF from `al`, with CF and AF as given and OF = 0. */
function adjusted(cpu: Cpu, al: number, cf: boolean, af: boolean): void {
  cpu.r8[AL] = al;
  cpu.setResult(al, 1, (cf ? Flag.CF : 0) | (af ? Flag.AF : 0));
}

function daa(cpu: Cpu): void {
  const old = cpu.r8[AL], oldCf = cpu.cf() !== 0;
  let al = old, af = false;
  if ((old & 0x0f) > 9 || cpu.af()) {
    al = (al + 6) & 0xff;
    af = true;
  }
  const cf = old > 0x99 || oldCf;
  if (cf) al = (al + 0x60) & 0xff;
  adjusted(cpu, al, cf, af);
}

function das(cpu: Cpu): void {
  const old = cpu.r8[AL], oldCf = cpu.cf() !== 0;
  let al = old, af = false, cf = false;
  if ((old & 0x0f) > 9 || cpu.af()) {
    al = (al - 6) & 0xff;
    cf = oldCf || old < 6;
    af = true;
  }
  if (old > 0x99 || oldCf) {
    al = (al - 0x60) & 0xff;
    cf = true;
  }
  adjusted(cpu, al, cf, af);
}

/** AAA / AAS: AX ± 106h when the low digit needs adjusting; CF = AF = whether it did. */
function aaaAas(cpu: Cpu, delta: number): void {
  const adjust = (cpu.r8[AL] & 0x0f) > 9 || cpu.af();
  if (adjust) cpu.r16[0] = cpu.r16[0] + delta;
  adjusted(cpu, cpu.r8[AL] & 0x0f, adjust, adjust);
}

function register(): void {
  def(0x27, daa);
  def(0x2f, das);
  def(0x37, (cpu) => aaaAas(cpu, 0x106));
  def(0x3f, (cpu) => aaaAas(cpu, -0x106));
  // AAM Ib: AH = AL / imm, AL = AL mod imm; #DE for 0.
  def(0xd4, (cpu, i) => {
    const base = i.imm & 0xff;
    if (base === 0) cpu.raise(Vec.DE);
    const al = cpu.r8[AL];
    cpu.r8[AH] = (al / base) | 0;
    cpu.r8[AL] = al % base;
    cpu.setLogic(cpu.r8[AL], 1);
  });
  // AAD Ib: AL = AL + AH * imm (mod 256), AH = 0.
  def(0xd5, (cpu, i) => {
    const al = (cpu.r8[AL] + cpu.r8[AH] * (i.imm & 0xff)) & 0xff;
    cpu.r16[0] = al;
    cpu.setLogic(al, 1);
  });
}

register();

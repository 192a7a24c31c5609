import { describe, expect, it } from "vitest";
import { runAsm } from "../../../../test/support/cpu.js";
import { Vec } from "../../../x86/vectors.js";

const CF = 0x1, AF = 0x10;

describe("DAA, DAS, AAA, AAS, AAM, AAD", () => {
  it("adjusts a packed BCD sum with DAA, carrying out of 99", () => {
    const { cpu } = runAsm("mov al, 0x79\n add al, 0x35\n daa\n int3");
    expect(cpu.r8[0]).toBe(0x14);
    expect(cpu.getEflags() & (CF | AF)).toBe(CF | AF);
  });

  it("keeps DAS's borrow from the low digit when no high adjustment follows", () => {
    const { cpu } = runAsm("mov al, 0x03\n clc\n mov ah, 0x10\n sahf\n das\n int3");
    expect(cpu.r8[0]).toBe(0xfd);
    expect(cpu.getEflags() & (CF | AF)).toBe(CF | AF);
  });

  it("carries AAA into AH through AX", () => {
    const { cpu } = runAsm("mov ax, 0x00ff\n mov ah, 0\n mov al, 0x0b\n aaa\n int3");
    expect(cpu.r16[0]).toBe(0x0101);
    expect(cpu.getEflags() & (CF | AF)).toBe(CF | AF);
  });

  it("borrows AAS from AH twice when AL is below 6", () => {
    const { cpu } = runAsm("mov ax, 0x0503\n mov ah, 0x10\n sahf\n mov ah, 5\n aas\n int3");
    expect(cpu.r16[0]).toBe(0x030d);
  });

  it("splits AL into digits of any base with AAM and joins them with AAD", () => {
    const { cpu } = runAsm("mov al, 123\n aam\n mov bx, ax\n aam 16\n mov cx, ax\n mov ax, 0x0207\n aad\n int3");
    expect(cpu.r16[3 << 1]).toBe(0x0c03);
    expect(cpu.r16[1 << 1]).toBe(0x0003);
    expect(cpu.r16[0]).toBe(27);
  });

  it("raises #DE for AAM 0", () => {
    const { cpu } = runAsm("mov ax, 0x1234\n aam 0\n int3");
    expect(cpu.excVector).toBe(Vec.DE);
    expect(cpu.r16[0]).toBe(0x1234);
  });
});

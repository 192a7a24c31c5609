// gdb on the built-in guest twice, side by side: attached to QEMU's gdbstub (qemu-system-i386, TCG)
// and to a replay of the same guest on our machine, under the stack and on the bare PC. QEMU is the
// oracle for what a QEMU user reads: the system registers gdb shows (`info registers cr0`...),
// `monitor info registers` in QEMU's layout, QEMU's physical memory mode and `monitor xp`. Both stop
// at the same instruction: the guest's page-fault handler, entered from its first touch of
// unmapped memory (CR2 set), with paging, a TSS and a user-mode program behind it.

import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "bin", "afterglow.js");
const HELLO = join(ROOT, "guests", "builtin", "hello.bin");
const GDB = process.env.GDB ?? "gdb";
const QEMU = spawnSync("qemu-system-i386", ["--version"], { stdio: "ignore" }).status === 0;
if (!QEMU) console.warn("test/gdb/qemu.test.ts: qemu-system-i386 is missing: the comparisons with QEMU are skipped");

/** guests/builtin/hello.asm's pf_handler: the listing's offset 0x39e from the image's load address 0x7c00. */
const PF_HANDLER = 0x7f9e;
/** Its first touch of DEMAND, which it leaves unmapped until the fault. */
const DEMAND = 0x400000;
/** hello.asm's GDT, and its IDT (which, unlike the GDT, QEMU and we write the same: see below). */
const GDT = 0x10a00;
const IDT = 0x10000;

/** What every session runs once stopped in the page-fault handler. */
const COMMANDS = [
  "info registers cr0 cr2 cr3 cr4 efer fs_base gs_base",
  "monitor info registers",
  `x/2xw ${DEMAND}`,
  "maint packet Qqemu.PhyMemMode:1",
  `x/2xw ${DEMAND}`,
  `x/4xw ${IDT}`,
  "maint packet qqemu.PhyMemMode",
  "maint packet Qqemu.PhyMemMode:0",
  `monitor xp /4xw ${IDT + 0x70}`,
  "monitor xp /10xb 0x7c00",
  "monitor xp /3dh 0x7c00",
];

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "afterglow-gdb-qemu-"));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function gdbBatch(port: number, commands: string[]): Promise<string> {
  const args = ["-batch", "-nx", "-ex", "set pagination off", "-ex", "set confirm off", "-ex", `target remote 127.0.0.1:${port}`];
  for (const c of [`break *${PF_HANDLER}`, "continue", ...commands, "kill"]) args.push("-ex", c);
  return new Promise((resolve, reject) => {
    execFile(GDB, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && err.killed) reject(new Error(`gdb timed out:\n${stdout}\n${stderr}`));
      // QEMU's monitor ends its lines with CR LF.
      else resolve((stdout + stderr).replace(/\r\n/g, "\n"));
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * The guest under QEMU as test/conformance/qemu.test.ts runs the conformance kernels: no BIOS but a
 * ROM whose reset vector jumps to 0:7c00, where QEMU's loader device put the image.
 */
async function underQemu(): Promise<string> {
  const rom = join(dir, "rom.bin");
  if (!existsSync(rom)) {
    const src = join(dir, "rom.asm");
    writeFileSync(src, "bits 16\ntimes 0xfff0 db 0xf4\njmp 0:0x7c00\ntimes 0x10000 - ($ - $$) db 0xf4\n");
    spawnSync("nasm", ["-f", "bin", "-o", rom, src]);
  }
  const port = await freePort();
  const qemu = spawn("qemu-system-i386", [
    "-nodefaults", "-machine", "pc", "-m", "32", "-display", "none", "-serial", "null", "-no-reboot",
    "-accel", "tcg", "-cpu", "qemu32", "-bios", rom, "-device", `loader,file=${HELLO},addr=0x7c00,force-raw=on`,
    "-gdb", `tcp:127.0.0.1:${port}`, "-S",
  ], { stdio: "ignore" });
  try {
    for (let i = 0; i < 50; i++) {
      const out = await gdbBatch(port, COMMANDS);
      if (!/Connection refused/.test(out)) return out;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("QEMU's gdbstub never answered");
  } finally {
    qemu.kill();
  }
}

/** The guest on our machine: a replay of the committed recording (images embedded). */
async function underAfterglow(recording: string, commands = COMMANDS): Promise<string> {
  const proc: ChildProcess = spawn(process.execPath, [CLI, "replay", join(ROOT, "recordings", recording), "--gdb", "0"], { stdio: ["ignore", "ignore", "pipe"] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let err = "";
      proc.stderr!.on("data", (d: Buffer) => {
        err += d.toString();
        const m = /waiting for gdb on 127\.0\.0\.1:(\d+)/.exec(err);
        if (m) resolve(Number(m[1]));
      });
      proc.on("exit", (code) => reject(new Error(`afterglow replay exited (${code}):\n${err}`)));
    });
    return await gdbBatch(port, commands);
  } finally {
    proc.kill();
  }
}

/** The lines of `monitor info registers` (from CPU#0 to the last FPR line). */
function infoRegisters(out: string): string[] {
  const m = /^CPU#0\n(?:.*\n)*?FPR6=.*\n/m.exec(out);
  expect(m, out).not.toBeNull();
  return m![0].trimEnd().split("\n");
}

const line = (lines: string[], head: string) => lines.find((l) => l.startsWith(head)) ?? `(no ${head} line)`;

describe.skipIf(!QEMU)("gdb on the built-in guest, against QEMU's gdbstub", () => {
  let qemu: string;
  beforeAll(async () => {
    qemu = await underQemu();
  }, 120_000);

  it.each(["hello-vm.rec", "hello.rec"])("shows the system registers and QEMU's info registers as QEMU does (%s)", async (recording) => {
    const ours = await underAfterglow(recording);
    for (const out of [qemu, ours]) expect(out, out).toMatch(new RegExp(`Breakpoint 1, 0x0000${PF_HANDLER.toString(16)} in \\?\\? \\(\\)`));
    const regs = (out: string) => out.match(/^(cr[0-4]|efer|fs_base|gs_base) .*$/gm);
    expect(regs(ours)).toEqual(regs(qemu));
    expect(regs(ours)).toContain("cr0            0xe0010011          [ PG CD NW WP ET PE ]");
    expect(regs(ours)).toContain("cr2            0x400000            4194304");

    const q = infoRegisters(qemu), a = infoRegisters(ours);
    // Where the two machines agree.
    for (const head of ["CPU#0", "EAX=", "ESI=", "EIP=", "ES =", "SS =", "DS =", "LDT=", "GDT=", "IDT=", "CR0=", "DR0=", "DR6=", "EFER=", "FPR0=", "FPR2=", "FPR4=", "FPR6="]) {
      expect(line(a, head), head).toBe(line(q, head));
    }
    // Where they differ, and why. QEMU does not set the accessed bit when a far JMP loads CS (SDM
    // 3.4.5.1: loading a selector sets it); it caches a TSS descriptor before LTR marks it busy; it
    // keeps the old FS and GS when an IRET to ring 3 meets null selectors there (SDM IRET: null
    // selectors are loaded null; so the GDT in memory differs too); its reset x87 has FINIT's control and tag words (SDM 9.1.1:
    // RESET leaves FCW 0040H, the tags valid). This CPU has no SSE (no MXCSR, no XMM), and shows
    // the guest's TSC.
    expect(line(q, "CS =")).toBe("CS =0008 00000000 ffffffff 00cf9a00 DPL=0 CS32 [-R-]");
    expect(line(a, "CS =")).toBe("CS =0008 00000000 ffffffff 00cf9b00 DPL=0 CS32 [-RA]");
    expect(line(q, "TR =")).toBe("TR =0028 00010800 00000067 00008900 DPL=0 TSS32-avl");
    expect(line(a, "TR =")).toBe("TR =0028 00010800 00000067 00008b00 DPL=0 TSS32-busy");
    expect(line(q, "FS =")).toBe("FS =0000 00000000 0000ffff 00009300 DPL=0 DS16 [-WA]");
    expect(line(a, "FS =")).toBe("FS =0000 00000000 00000000 00000000");
    expect(line(q, "FCW=")).toBe("FCW=037f FSW=0000 [ST=0] FTW=00 MXCSR=00001f80");
    expect(line(a, "FCW=")).toBe("FCW=0040 FSW=0000 [ST=0] FTW=ff");
    expect(line(a, "TSC=")).toMatch(/^TSC=[0-9a-f]{16}$/);
    expect(a.length).toBe(q.length + 1); // the TSC line (the XMM lines follow FPR6)
    expect(qemu).toMatch(/^XMM00=/m);
    expect(ours).not.toMatch(/^XMM00=/m);

    // Physical memory mode: DEMAND is not mapped yet, but its RAM is there.
    const reads = (out: string) => out.match(/^(Cannot access memory at address 0x400000|0x[0-9a-f]+:\t.*)$/gm);
    expect(reads(ours)).toEqual(reads(qemu));
    // (gdb's error goes to stderr, which the transcript has after stdout.)
    expect(reads(ours)).toContain("Cannot access memory at address 0x400000");
    expect(reads(ours)).toContain("0x400000:\t0x00000000\t0x00000000");
    const packets = (out: string) => out.match(/^received: ".*"$/gm);
    expect(packets(ours)).toEqual(packets(qemu));
    expect(packets(ours)).toEqual(['received: "OK"', 'received: "1"', 'received: "OK"']);
    const xp = (out: string) => out.match(/^0000000000[0-9a-f]{6}:.*$/gm);
    expect(xp(ours)).toEqual(xp(qemu));
    expect(xp(ours)).toHaveLength(4);
  }, 120_000);
});

describe("the VMCS of the guest's VCPU", () => {
  it("is listed by SDM field name, its guest state the CPU's as a VM exit now would save it", async () => {
    const out = await underAfterglow("hello-vm.rec", ["monitor vmcs", "monitor vmcs guest_cr", "monitor vmcs no_such_field"]);
    const field = (name: string) => new RegExp(`^[0-9a-f]{4} ${name} +0x([0-9a-f]+)$`, "m").exec(out)?.[1];
    expect(out).toMatch(/^the VCPU's VMCS; the guest is in the CPU: its guest-state area as a VM exit now would leave it$/m);
    expect(field("GUEST_RIP")).toBe(PF_HANDLER.toString(16).padStart(8, "0"));
    expect(field("GUEST_CR3")).toBe("00011000"); // hello.asm's PGDIR
    expect(field("GUEST_GDTR_BASE")).toBe(GDT.toString(16).padStart(8, "0"));
    expect(field("GUEST_TR_SELECTOR")).toBe("00000028");
    // The VMM owns CR0.NE and CR4.VMXE: the VMCS has them set, the guest reads its own (gdb's cr0
    // is 0xe0010011, as under QEMU) through the read shadows' bits under the masks.
    expect(field("GUEST_CR0")).toBe("e0010031");
    expect(field("CR0_GUEST_HOST_MASK")).toBe("00000020");
    expect(parseInt(field("CR0_READ_SHADOW")!, 16) & 0x20).toBe(0);
    expect(field("GUEST_CR4")).toBe("00002000");
    expect(field("EPT_POINTER")).toMatch(/^[0-9a-f]{16}$/); // a 64-bit field, both halves
    expect(out.match(/^[0-9a-f]{4} GUEST_CR\d .*$/gm)).toHaveLength(6); // the full list, then the filtered one
  }, 60_000);
});

// The Linux boot planner: hand-built setup headers for each rule of boot.rst, then Debian's real
// 686 kernel — its header as the oracle for the parser, and QEMU booting it from our plan (with no
// BIOS, only a 64 KiB ROM that enters protected mode with the plan's registers) as the oracle for
// the plan itself.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildInitramfs } from "../cli/guest.js";
import { nasm } from "../../test/support/cpu.js";
import { type BootPlan, E820Type, LinuxBootError, linuxRamNeeded, parseSetupHeader, planLinuxBoot } from "./linux-boot.js";
import { oracle, runs } from "../../test/support/oracle.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
const CACHE = join(ROOT, "guests/cache");
const FETCH = join(ROOT, "scripts/fetch-debian.sh");
const MiB = 1 << 20;

interface FakeKernel {
  version?: number;
  setupSects?: number;
  pmSize?: number;
  relocatable?: boolean;
  prefAddress?: number;
  kernelAlignment?: number;
  initSize?: number;
  initrdAddrMax?: number;
  cmdlineSize?: number;
  loadflags?: number;
  versionString?: string;
}

/** A bzImage with a well-formed setup header and a protected-mode part of recognisable bytes. */
function fakeBzImage(k: FakeKernel = {}): Uint8Array {
  const setupSects = k.setupSects ?? 4;
  const pmSize = k.pmSize ?? 0x3000;
  const img = new Uint8Array((setupSects + 1) * 512 + pmSize);
  const v = new DataView(img.buffer);
  img[0x1f1] = setupSects;
  v.setUint32(0x1f4, pmSize / 16, true);
  v.setUint16(0x1fa, 0xfffd, true); // "ask": the loader must overwrite it
  v.setUint16(0x1fe, 0xaa55, true);
  img[0x200] = 0xeb; // jmp short
  img[0x201] = 0x6a; // header ends at 0x26c, as in 2.15
  v.setUint32(0x202, 0x53726448, true);
  v.setUint16(0x206, k.version ?? 0x020f, true);
  v.setUint32(0x214, 0x100000, true);
  img[0x211] = k.loadflags ?? 0x01;
  v.setUint32(0x22c, k.initrdAddrMax ?? 0x7fffffff, true);
  v.setUint32(0x230, k.kernelAlignment ?? 0x200000, true);
  img[0x234] = (k.relocatable ?? true) ? 1 : 0;
  img[0x235] = 13;
  v.setUint32(0x238, k.cmdlineSize ?? 2047, true);
  v.setUint32(0x258, k.prefAddress ?? 0x1000000, true);
  v.setUint32(0x260, k.initSize ?? 0x800000, true);
  const s = k.versionString ?? "6.9.0-test (someone@example) #1";
  v.setUint16(0x20e, 0x300 - 0x200, true);
  for (let i = 0; i < s.length; i++) img[0x300 + i] = s.charCodeAt(i);
  for (let i = 0; i < pmSize; i++) img[(setupSects + 1) * 512 + i] = (i * 7 + 3) & 0xff;
  return img;
}

/** Guest RAM after executing the plan's writes; also checks that no two writes overlap. */
function applyPlan(plan: BootPlan, ramSize: number): Uint8Array {
  const ram = new Uint8Array(ramSize);
  const sorted = [...plan.writes].sort((a, b) => a.addr - b.addr);
  for (let k = 1; k < sorted.length; k++) {
    const prev = sorted[k - 1];
    expect(prev.addr + prev.bytes.length, `${prev.what} overlaps ${sorted[k].what}`).toBeLessThanOrEqual(sorted[k].addr);
  }
  for (const w of plan.writes) ram.set(w.bytes, w.addr);
  return ram;
}

const u16 = (m: Uint8Array, a: number) => m[a] | (m[a + 1] << 8);
const u32 = (m: Uint8Array, a: number) => (m[a] | (m[a + 1] << 8) | (m[a + 2] << 16) | (m[a + 3] << 24)) >>> 0;
const u64 = (m: Uint8Array, a: number) => u32(m, a) + u32(m, a + 4) * 2 ** 32;

function planError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(LinuxBootError);
    const msg = (e as Error).message;
    expect(msg).not.toContain("\n");
    return msg;
  }
  throw new Error("expected a LinuxBootError");
}

describe("planLinuxBoot on a hand-built bzImage", () => {
  const kernel = fakeBzImage();
  const initrd = new Uint8Array(0x2345).fill(0xa5);
  const plan = planLinuxBoot({ kernel, initrd, cmdline: "console=ttyS0 root=/dev/ram0", ramSize: 64 * MiB });
  const ram = applyPlan(plan, 64 * MiB);
  const zp = plan.layout.zeroPage;

  it("reads the setup header's fields", () => {
    const h = parseSetupHeader(kernel);
    expect(h).toMatchObject({ version: 0x020f, setupSects: 4, pmOffset: 5 * 512, headerEnd: 0x26c, relocatable: true });
    expect(h).toMatchObject({ prefAddress: 0x1000000, initSize: 0x800000, kernelAlignment: 0x200000, cmdlineSize: 2047 });
    expect(h.kernelVersion).toBe("6.9.0-test (someone@example) #1");
  });

  it("loads a relocatable kernel's protected-mode part at pref_address and enters there", () => {
    expect(plan.layout.kernelLoad).toBe(0x1000000);
    expect(plan.layout.runtimeStart).toBe(0x1000000);
    expect(ram.subarray(0x1000000, 0x1000000 + 0x3000)).toEqual(kernel.subarray(5 * 512));
    expect(plan.regs.eip).toBe(0x1000000);
    expect(u32(ram, zp + 0x214)).toBe(0x1000000); // code32_start
  });

  it("starts in flat 32-bit protected mode with ESI at the zero page, EBX/EDI/EBP zero, interrupts off", () => {
    expect(plan.regs).toMatchObject({ esi: zp, ebx: 0, edi: 0, ebp: 0, cr0: 0x11 });
    expect(plan.regs.eflags & 0x200).toBe(0);
    expect(plan.segments.cs).toEqual({ selector: 0x10, base: 0, limit: 0xffffffff, accessRights: 0xc09b });
    for (const s of ["ds", "es", "ss", "fs", "gs"] as const) {
      expect(plan.segments[s]).toEqual({ selector: 0x18, base: 0, limit: 0xffffffff, accessRights: 0xc093 });
    }
  });

  it("writes a GDT whose 0x10 and 0x18 descriptors are the flat code and data segments", () => {
    const g = plan.gdtr.base;
    expect(plan.gdtr.limit).toBeGreaterThanOrEqual(0x1f);
    expect(u64(ram, g)).toBe(0);
    expect(u32(ram, g + 0x10)).toBe(0x0000ffff);
    expect(u32(ram, g + 0x14)).toBe(0x00cf9b00);
    expect(u32(ram, g + 0x18)).toBe(0x0000ffff);
    expect(u32(ram, g + 0x1c)).toBe(0x00cf9300);
    // The TSS descriptor agrees with TR.
    const tr = plan.segments.tr;
    expect(u32(ram, g + 0x20)).toBe(((tr.base & 0xffff) << 16 | tr.limit) >>> 0);
    expect(ram[g + 0x25]).toBe(0x8b);
  });

  it("copies the setup header into the zero page and fills in the loader's fields", () => {
    expect(ram.subarray(zp + 0x1f1, zp + 0x1fa)).toEqual(kernel.subarray(0x1f1, 0x1fa));
    expect(ram.subarray(zp + 0x202, zp + 0x206)).toEqual(new TextEncoder().encode("HdrS"));
    expect(ram[zp + 0x210]).toBe(0xff); // type_of_loader
    expect(ram[zp + 0x211] & 0x80).toBe(0x80); // CAN_USE_HEAP
    expect(ram[zp + 0x211] & 0x40).toBe(0); // KEEP_SEGMENTS off
    expect(ram[zp + 0x211] & 0x01).toBe(0x01); // LOADED_HIGH kept
    expect(u16(ram, zp + 0x1fa)).toBe(0xffff); // vid_mode normal
    expect(ram[zp + 0x0f]).toBe(0); // orig_video_isVGA
    expect(u32(ram, zp + 0x1e0)).toBe(63 * 1024); // alt_mem_k: KiB above 1 MiB
  });

  it("puts the NUL-terminated command line where cmd_line_ptr says", () => {
    const p = u32(ram, zp + 0x228);
    expect(p).toBe(plan.layout.cmdline);
    const text = "console=ttyS0 root=/dev/ram0";
    expect(new TextDecoder().decode(ram.subarray(p, p + text.length))).toBe(text);
    expect(ram[p + text.length]).toBe(0);
  });

  it("describes RAM in e820_table: low RAM, the EBDA and BIOS holes reserved, RAM from 1 MiB", () => {
    expect(ram[zp + 0x1e8]).toBe(4);
    const table = [0, 1, 2, 3].map((k) => ({
      addr: u64(ram, zp + 0x2d0 + k * 20),
      size: u64(ram, zp + 0x2d0 + k * 20 + 8),
      type: u32(ram, zp + 0x2d0 + k * 20 + 16),
    }));
    expect(table).toEqual([
      { addr: 0, size: 0x9fc00, type: E820Type.RAM },
      { addr: 0x9fc00, size: 0x400, type: E820Type.RESERVED },
      { addr: 0xf0000, size: 0x10000, type: E820Type.RESERVED },
      { addr: 0x100000, size: 63 * MiB, type: E820Type.RAM },
    ]);
    expect(plan.e820).toEqual(table);
  });

  it("places the initrd page aligned at the top of RAM, clear of the kernel's init_size", () => {
    const { addr, size } = plan.layout.initrd!;
    expect(size).toBe(0x2345);
    expect(addr % 4096).toBe(0);
    expect(addr + size).toBeLessThanOrEqual(64 * MiB);
    expect(64 * MiB - (addr + size)).toBeLessThan(4096);
    expect(addr).toBeGreaterThanOrEqual(0x1000000 + 0x800000);
    expect(u32(ram, zp + 0x218)).toBe(addr);
    expect(u32(ram, zp + 0x21c)).toBe(size);
    expect(ram.subarray(addr, addr + size)).toEqual(initrd);
  });

  it("keeps the initrd below initrd_addr_max", () => {
    const p = planLinuxBoot({ kernel: fakeBzImage({ initrdAddrMax: 0x1ffffff }), initrd, cmdline: "", ramSize: 64 * MiB });
    expect(p.layout.initrd!.addr + p.layout.initrd!.size - 1).toBeLessThanOrEqual(0x1ffffff);
    expect(p.layout.initrd!.addr).toBeGreaterThanOrEqual(0x1800000);
  });

  it("aligns a relocatable kernel's runtime start up to kernel_alignment", () => {
    const p = planLinuxBoot({ kernel: fakeBzImage({ prefAddress: 0x1100000, kernelAlignment: 0x400000 }), cmdline: "", ramSize: 64 * MiB });
    expect(p.layout.kernelLoad).toBe(0x1400000);
    expect(p.regs.eip).toBe(0x1400000);
  });

  it("loads a non-relocatable kernel at 1 MiB and keeps the initrd clear of where it will run", () => {
    const p = planLinuxBoot({ kernel: fakeBzImage({ relocatable: false }), initrd, cmdline: "", ramSize: 32 * MiB });
    expect(p.layout.kernelLoad).toBe(0x100000);
    expect(p.regs.eip).toBe(0x100000);
    expect(p.layout.runtimeStart).toBe(0x1000000);
    expect(p.layout.kernelEnd).toBe(0x1800000);
    expect(p.layout.initrd!.addr).toBeGreaterThanOrEqual(0x1800000);
  });

  it("leaves the ramdisk fields zero without an initrd", () => {
    const p = planLinuxBoot({ kernel, cmdline: "", ramSize: 64 * MiB });
    const m = applyPlan(p, 64 * MiB);
    expect(u32(m, p.layout.zeroPage + 0x218)).toBe(0);
    expect(u32(m, p.layout.zeroPage + 0x21c)).toBe(0);
    expect(p.layout.initrd).toBeUndefined();
  });
});

describe("planLinuxBoot refuses, in one line,", () => {
  const ramSize = 64 * MiB;
  it("a file that is not a bzImage", () => {
    expect(planError(() => planLinuxBoot({ kernel: new Uint8Array(4096).fill(0x90), cmdline: "", ramSize }))).toMatch(/not a Linux bzImage.*HdrS/);
    expect(planError(() => planLinuxBoot({ kernel: new Uint8Array(16), cmdline: "", ramSize }))).toMatch(/not a Linux bzImage/);
  });
  it("a boot protocol older than 2.06", () => {
    expect(planError(() => planLinuxBoot({ kernel: fakeBzImage({ version: 0x0204 }), cmdline: "", ramSize }))).toBe(
      "Linux boot protocol 2.04 is too old: the loader needs 2.06 or later",
    );
  });
  it("a zImage", () => {
    expect(planError(() => planLinuxBoot({ kernel: fakeBzImage({ loadflags: 0 }), cmdline: "", ramSize }))).toMatch(/zImage/);
  });
  it("a truncated file", () => {
    const k = fakeBzImage();
    expect(planError(() => planLinuxBoot({ kernel: k.subarray(0, k.length - 100), cmdline: "", ramSize }))).toMatch(/^truncated bzImage/);
    expect(planError(() => planLinuxBoot({ kernel: k.subarray(0, 0x230), cmdline: "", ramSize }))).toMatch(/^truncated bzImage/);
  });
  it("an initrd too large for the RAM", () => {
    const msg = planError(() => planLinuxBoot({ kernel: fakeBzImage(), initrd: new Uint8Array(41 * MiB), cmdline: "", ramSize }));
    expect(msg).toBe("initrd of 42991616 bytes does not fit: 41943040 bytes free between the kernel (ends 0x1800000) and 0x4000000");
  });
  it("an initrd that fits in RAM but not below initrd_addr_max", () => {
    const msg = planError(() =>
      planLinuxBoot({ kernel: fakeBzImage({ initrdAddrMax: 0x19fffff }), initrd: new Uint8Array(4 * MiB), cmdline: "", ramSize }),
    );
    expect(msg).toMatch(/below initrd_addr_max 0x19fffff/);
  });
  it("a kernel whose init_size does not fit in RAM", () => {
    expect(planError(() => planLinuxBoot({ kernel: fakeBzImage({ initSize: 0x2000000 }), cmdline: "", ramSize: 32 * MiB }))).toMatch(
      /needs RAM up to 0x3000000 \(48 MiB\) but the machine has 32 MiB/,
    );
  });
  it("a command line longer than cmdline_size", () => {
    expect(planError(() => planLinuxBoot({ kernel: fakeBzImage({ cmdlineSize: 10 }), cmdline: "console=ttyS0", ramSize }))).toBe(
      "command line is 13 bytes; this kernel accepts at most 10",
    );
  });
});

describe("linuxRamNeeded", () => {
  it("is the kernel's init_size extent with the initrd above it: the least RAM a plan fits in", () => {
    const kernel = fakeBzImage(); // runs at 16 MiB, init_size 8 MiB
    const initrd = new Uint8Array(0x2345);
    const need = linuxRamNeeded({ kernel, initrd, cmdline: "" });
    expect(need).toEqual({ bytes: 0x1800000 + 0x3000, why: "the kernel runs up to 0x1800000 (24 MiB) and the initrd (12 KiB) goes above it" });
    expect(() => planLinuxBoot({ kernel, initrd, cmdline: "", ramSize: need.bytes })).not.toThrow();
    expect(() => planLinuxBoot({ kernel, initrd, cmdline: "", ramSize: need.bytes - 0x1000 })).toThrow(LinuxBootError);
    expect(linuxRamNeeded({ kernel, cmdline: "" })).toEqual({ bytes: 0x1800000, why: "the kernel runs up to 0x1800000 (24 MiB)" });
  });
});

/** A minimal i386 ELF executable with one PT_LOAD of `code` plus `bss` zero bytes at `paddr`. */
function fakeElf(code: Uint8Array, paddr: number, bss: number): Uint8Array {
  const img = new Uint8Array(0x100 + code.length);
  const v = new DataView(img.buffer);
  img.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, 3, true); // EM_386
  v.setUint32(24, paddr, true); // e_entry
  v.setUint32(28, 52, true); // e_phoff
  v.setUint16(42, 32, true);
  v.setUint16(44, 1, true);
  v.setUint32(52, 1, true); // PT_LOAD
  v.setUint32(56, 0x100, true);
  v.setUint32(60, 0xc0000000 + paddr, true);
  v.setUint32(64, paddr, true);
  v.setUint32(68, code.length, true);
  v.setUint32(72, code.length + bss, true);
  img.set(code, 0x100);
  return img;
}

describe("planLinuxBoot on an ELF vmlinux", () => {
  it("loads PT_LOAD segments at their physical addresses, zeroes the rest of memsz and enters at e_entry", () => {
    const code = new Uint8Array([0xf4, 1, 2, 3, 4]);
    const plan = planLinuxBoot({ kernel: fakeElf(code, 0x1000000, 0x3000), initrd: new Uint8Array(100), cmdline: "x", ramSize: 32 * MiB });
    const ram = applyPlan(plan, 32 * MiB);
    expect(plan.format).toBe("elf");
    expect(plan.regs.eip).toBe(0x1000000);
    expect(ram.subarray(0x1000000, 0x1000005)).toEqual(code);
    expect(plan.layout.kernelEnd).toBe(0x1003005);
    expect(plan.layout.initrd!.addr).toBeGreaterThanOrEqual(0x1004000);
    const zp = plan.layout.zeroPage;
    expect(u32(ram, zp + 0x202)).toBe(0x53726448);
    expect(u32(ram, zp + 0x228)).toBe(plan.layout.cmdline);
    expect(ram[zp + 0x210]).toBe(0xff);
  });

  it("refuses an ELF for another machine", () => {
    const elf = fakeElf(new Uint8Array(4), 0x100000, 0);
    elf[18] = 62; // EM_X86_64
    expect(planError(() => planLinuxBoot({ kernel: elf, cmdline: "", ramSize: 32 * MiB }))).toMatch(/not an i386 ELF kernel/);
  });
});

// Debian's kernel. The cache is fetched if missing; a machine that cannot fetch it fails here.
describe("Debian's i386 686 kernel", () => {
  let kernel: Uint8Array;
  let initrd: Uint8Array;
  let versions: string;
  beforeAll(() => {
    const need = ["vmlinuz-686", "busybox", "vmlinux", "VERSIONS"];
    if (need.some((f) => !existsSync(join(CACHE, f)))) {
      const f = spawnSync("sh", [FETCH, CACHE], { encoding: "utf8", stdio: ["ignore", "inherit", "pipe"] });
      if (f.status !== 0) throw new Error(`could not fetch Debian's linux-image-686 and busybox-static with ${FETCH}: ${f.stderr.trim()}`);
    }
    kernel = new Uint8Array(readFileSync(join(CACHE, "vmlinuz-686")));
    versions = readFileSync(join(CACHE, "VERSIONS"), "utf8");
    initrd = buildInitramfs({ busybox: new Uint8Array(readFileSync(join(CACHE, "busybox"))), workload: "echo workload-ran-$((6*7))" });
  }, 600_000);

  it("has a setup header naming the packaged kernel, protocol 2.15 or later, relocatable", () => {
    const h = parseSetupHeader(kernel);
    const pkg = /^linux-image-686 linux-image-(\S+) (\S+)$/m.exec(versions);
    expect(pkg, versions).not.toBeNull();
    // "6.1.0-18-686 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (...)"
    expect(h.kernelVersion.startsWith(`${pkg![1]} (debian-kernel@lists.debian.org)`)).toBe(true);
    expect(h.kernelVersion).toContain(`Debian ${pkg![2]}`);
    expect(h.version).toBeGreaterThanOrEqual(0x020f);
    expect(h.relocatable).toBe(true);
    expect(h.prefAddress).toBe(0x1000000); // CONFIG_PHYSICAL_START
    expect(h.kernelAlignment).toBe(0x1000000); // CONFIG_PHYSICAL_ALIGN
    expect(h.initSize).toBeGreaterThan(kernel.length);
    // The payload is the xz-compressed vmlinux (CONFIG_KERNEL_XZ).
    const payload = kernel.subarray(h.pmOffset + h.payloadOffset, h.pmOffset + h.payloadOffset + 6);
    expect([...payload]).toEqual([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
  });

  it("plans a boot with a busybox initramfs in 128 MiB", () => {
    const plan = planLinuxBoot({ kernel, initrd, cmdline: "console=ttyS0", ramSize: 128 * MiB });
    applyPlan(plan, 128 * MiB);
    expect(plan.layout.kernelLoad).toBe(0x1000000);
    expect(plan.layout.initrd!.addr).toBeGreaterThanOrEqual(plan.layout.kernelEnd);
    expect(plan.layout.initrd!.addr + initrd.length).toBeLessThanOrEqual(128 * MiB);
  });

  it("plans the ELF vmlinux extracted from it at its physical addresses", () => {
    const plan = planLinuxBoot({ kernel: new Uint8Array(readFileSync(join(CACHE, "vmlinux"))), initrd, cmdline: "console=ttyS0", ramSize: 128 * MiB });
    expect(plan.format).toBe("elf");
    expect(plan.layout.kernelLoad).toBe(0x1000000);
    expect(plan.regs.eip).toBe(0x1000000); // phys_startup_32
    applyPlan(plan, 128 * MiB);
  });

  describe("booted from the plan by QEMU, with no BIOS", () => {
    const qemu = oracle("qemu-system-i386", runs("qemu-system-i386", "--version"), "apt-get install qemu-system-x86");
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "afterglow-boot-"));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    // The console goes to a file, not to a pipe: QEMU's serial port drops a byte now and then when
    // a loaded host leaves the pipe full (a write that would block), and the test then reads a
    // line with a hole in it.
    const boot = (plan: BootPlan) => {
      const log = join(dir, "serial.log");
      rmSync(log, { force: true });
      const args = ["-machine", "pc", "-m", "128", "-display", "none", "-monitor", "none", "-serial", `file:${log}`, "-vga", "none", "-no-reboot", "-accel", "tcg", "-bios", join(dir, "rom.bin")];
      writeFileSync(join(dir, "rom.bin"), entryRom(plan));
      plan.writes.forEach((w, k) => {
        const f = join(dir, `w${k}.bin`);
        writeFileSync(f, w.bytes);
        args.push("-device", `loader,file=${f},addr=0x${w.addr.toString(16)},force-raw=on`);
      });
      const r = spawnSync("qemu-system-i386", args, { encoding: "utf8", timeout: 120_000 });
      return { ...r, stdout: existsSync(log) ? readFileSync(log, "utf8") : `(no serial output; qemu: ${r.stderr})` };
    };

    it.skipIf(!qemu)("reaches the initramfs's /init, runs the workload and reboots", () => {
      const plan = planLinuxBoot({ kernel, initrd, cmdline: "console=ttyS0 panic=-1", ramSize: 128 * MiB });
      const r = boot(plan);
      expect(r.stdout).toMatch(/BOOT-OK 6\.\d+\.\d+-\d+-686\r?\n/);
      expect(r.stdout).toContain("workload-ran-42");
      expect(r.stdout).toContain("WORKLOAD-DONE");
      expect(r.stdout).toMatch(/reboot: Restarting system/);
      // The kernel saw our e820 map and command line.
      expect(r.stdout).toMatch(/BIOS-e820: \[mem 0x0000000000100000-0x0000000007ffffff\] usable/);
      expect(r.stdout).toContain("Kernel command line: console=ttyS0 panic=-1");
    }, 150_000);

    it.skipIf(!qemu)("also from the ELF vmlinux's plan", () => {
      const vmlinux = new Uint8Array(readFileSync(join(CACHE, "vmlinux")));
      const r = boot(planLinuxBoot({ kernel: vmlinux, initrd, cmdline: "console=ttyS0 panic=-1", ramSize: 128 * MiB }));
      expect(r.stdout).toMatch(/BOOT-OK 6\.\d+\.\d+-\d+-686\r?\n/);
      expect(r.stdout).toContain("WORKLOAD-DONE");
    }, 150_000);
  });
});

/** A 64 KiB ROM for QEMU's -bios: from the reset vector, load the plan's GDT, enter protected
 * mode, load the plan's segments and registers, and jump to its entry point. */
function entryRom(plan: BootPlan): Uint8Array {
  const r = plan.regs;
  const code = nasm(
    `
    start:
      cli
      o32 lgdt [cs:gdtr - $$]
      mov eax, 0x${r.cr0.toString(16)}
      mov cr0, eax
      jmp dword 0x${plan.segments.cs.selector.toString(16)}:pm
    bits 32
    pm:
      mov eax, 0x${plan.segments.ds.selector.toString(16)}
      mov ds, eax
      mov es, eax
      mov ss, eax
      mov fs, eax
      mov gs, eax
      mov esp, 0x${r.esp.toString(16)}
      mov esi, 0x${r.esi.toString(16)}
      mov edi, 0x${r.edi.toString(16)}
      mov ebp, 0x${r.ebp.toString(16)}
      mov ebx, 0x${r.ebx.toString(16)}
      mov ecx, 0x${r.ecx.toString(16)}
      mov edx, 0x${r.edx.toString(16)}
      mov eax, 0x${r.eax.toString(16)}
      jmp 0x${plan.segments.cs.selector.toString(16)}:0x${r.eip.toString(16)}
    gdtr:
      dw 0x${plan.gdtr.limit.toString(16)}
      dd 0x${plan.gdtr.base.toString(16)}
    times 0xfff0 - ($ - $$) db 0xf4
    bits 16
      jmp start
    times 0x10000 - ($ - $$) db 0xf4
    `,
    16,
    0xffff0000,
  );
  expect(code.length).toBe(0x10000);
  return code;
}

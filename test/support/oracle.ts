// Oracle tests check our code against tools we did not write: nasm and gcc running code on the
// host CPU, QEMU, gdb, binutils, Debian's kernel and busybox. When one is missing, a test
// that skipped would prove nothing while looking green; so under CI (CI set in the environment,
// as .ci/run does) a missing oracle fails the test file, and on a developer's machine it is
// skipped with a line that says what to install.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Whether this run is CI's: CI set to anything but "", "0" or "false". */
export function underCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.CI;
  return v !== undefined && v !== "" && v !== "0" && v.toLowerCase() !== "false";
}

/**
 * Whether the oracle `what` is here. When not: throws under CI, else warns (naming `install`, how
 * to get it) and returns false for the caller's skipIf.
 */
export function oracle(what: string, present: boolean, install: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (present) return true;
  const message = `${what} is missing (${install})`;
  if (underCi(env)) throw new Error(`${message}: CI runs every oracle test`);
  console.warn(`oracle test skipped: ${message}`);
  return false;
}

/** Whether `cmd args…` runs and exits 0. */
export function runs(cmd: string, ...args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
}

/**
 * Whether gcc can build and link a 32-bit program (Debian's gcc-multilib) and, with `run`, whether
 * the host CPU then runs it natively: a kernel built or booted without IA32 emulation refuses
 * 32-bit programs, and one with QEMU registered for them in binfmt_misc runs them in QEMU, which
 * is no oracle for the host CPU.
 */
export function gccM32(run = false): boolean {
  return gccBuilds(["-m32"], run) && (!run || !binfmtRunsI386());
}

/** Whether gcc builds an empty program with `flags` and, with `run`, whether it then runs. */
function gccBuilds(flags: string[], run: boolean): boolean {
  const dir = mkdtempSync(join(tmpdir(), "afterglow-gcc-"));
  try {
    writeFileSync(join(dir, "t.c"), "int main(void) { return 0; }\n");
    return runs("gcc", ...flags, "-o", join(dir, "t"), join(dir, "t.c")) && (!run || runs(join(dir, "t")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether binfmt_misc (its entries in `dir`) hands 32-bit x86 ELF programs to an interpreter. */
export function binfmtRunsI386(dir = "/proc/sys/fs/binfmt_misc"): boolean {
  if (!existsSync(dir)) return false;
  return readdirSync(dir).some((name) => {
    if (name === "register" || name === "status") return false;
    let text: string;
    try {
      text = readFileSync(join(dir, name), "utf8");
    } catch {
      return false;
    }
    // ELFCLASS32 in e_ident, EM_386 in e_machine (bytes 18-19 of the magic).
    const magic = /^magic ([0-9a-f]+)$/m.exec(text)?.[1] ?? "";
    return text.startsWith("enabled") && magic.startsWith("7f454c4601") && magic.slice(36, 40) === "0300";
  });
}

/**
 * How this host runs the oracles' x86 code on its own CPU: as 32-bit programs where its kernel
 * runs them, else (an x86-64 host without IA32 emulation, as CI's machines have been since
 * 2026-12) the same instructions in 64-bit mode, where all but the few that mode lacks (BCD
 * adjusts, SALC, PUSHA…) keep their encoding and meaning at 8-, 16- and 32-bit operand sizes.
 */
export type HostMode = 32 | 64;
let hostModeCache: HostMode | null | undefined;
export function hostMode(): HostMode | null {
  if (hostModeCache === undefined) {
    if (!runs("nasm", "-v")) hostModeCache = null;
    else if (gccM32(true)) hostModeCache = 32;
    else hostModeCache = process.arch === "x64" && gccBuilds(["-m64", "-static", "-no-pie"], true) ? 64 : null;
  }
  return hostModeCache;
}

/** What the tests that run code on the host CPU need, and how to get it. */
export const HOST_CODE = "nasm and gcc (-m32, or -m64 on an x86-64 host whose kernel runs no 32-bit programs)";
export const HOST_CODE_INSTALL = "apt-get install nasm gcc-multilib";

/** QEMU's user mode: the oracle for 32-bit programs where the host's kernel runs none. */
export const QEMU_I386 = "/usr/bin/qemu-i386-static";
export const QEMU_I386_INSTALL = "apt-get install --no-install-recommends qemu-user-static";

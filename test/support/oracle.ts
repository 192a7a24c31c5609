// Oracle tests check our code against tools we did not write: nasm and gcc -m32 running code on
// the host CPU, QEMU, gdb, binutils, Debian's kernel and busybox. When one is missing, a test
// that skipped would prove nothing while looking green; so under CI (CI set in the environment,
// as .ci/run does) a missing oracle fails the test file, and on a developer's machine it is
// skipped with a line that says what to install.

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
 * the host's kernel then runs it (a kernel built without IA32 emulation refuses 32-bit programs).
 */
export function gccM32(run = false): boolean {
  const dir = mkdtempSync(join(tmpdir(), "afterglow-m32-"));
  try {
    writeFileSync(join(dir, "t.c"), "int main(void) { return 0; }\n");
    return runs("gcc", "-m32", "-o", join(dir, "t"), join(dir, "t.c")) && (!run || runs(join(dir, "t")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** nasm and gcc -m32, and a kernel that runs 32-bit programs: what the tests that run code on the host CPU need. */
export const HOST_CODE = "nasm, gcc -m32 and a host kernel that runs 32-bit programs";
export const HOST_CODE_INSTALL = "apt-get install nasm gcc-multilib; a kernel with IA32 emulation";
export function hostCodeTools(): boolean {
  return runs("nasm", "-v") && gccM32(true);
}

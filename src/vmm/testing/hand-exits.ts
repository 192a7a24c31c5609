// Exit qualifications written by hand from the SDM's tables, for tests that build exit messages
// the way the CPU would: the VMM sees only L4's interface, so its tests do not borrow src/vmx's
// encoders either (and thereby check the decoders the kernel's API hands the VMM).

/** I/O instruction (SDM vol. 3, table 28-5): size-1 (2:0), IN (3), string (4), REP (5), immediate (6), port (31:16). */
export function ioQualification(port: number, size: 1 | 2 | 4, input: boolean, string = false, rep = false, immediate = false): number {
  return ((size - 1) | (input ? 1 << 3 : 0) | (string ? 1 << 4 : 0) | (rep ? 1 << 5 : 0) | (immediate ? 1 << 6 : 0) | ((port & 0xffff) << 16)) >>> 0;
}

/** Control-register access (table 28-3): CR (3:0), access type (5:4), LMSW operand in memory (6), GPR (11:8), LMSW source (31:16). */
export function crQualification(cr: number, access: 0 | 1 | 2 | 3, gpr = 0, lmswMemory = false, lmswSource = 0): number {
  return ((cr & 0xf) | (access << 4) | (lmswMemory ? 1 << 6 : 0) | ((gpr & 0xf) << 8) | ((lmswSource & 0xffff) << 16)) >>> 0;
}

/** Task switch (table 28-2): TSS selector (15:0), source (31:30: 0 CALL, 1 IRET, 2 JMP, 3 IDT task gate). */
export function taskSwitchQualification(selector: number, source: 0 | 1 | 2 | 3): number {
  return ((selector & 0xffff) | (source << 30)) >>> 0;
}

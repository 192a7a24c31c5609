// Where a Linux guest's kernel runs, against where its ELF was linked: the offset gdb must add to
// the symbols of the kernel's DWARF vmlinux (gdb's qOffsets).
//
// A bzImage is a decompressor with the compressed kernel inside. With KASLR (Debian's kernels are
// built with CONFIG_RANDOMIZE_BASE and boot without `nokaslr`) the decompressor picks where the
// kernel goes from entropy (RDTSC, the i8254, RDRAND) and the e820 map: a slot at a multiple of
// the header's kernel_alignment (CONFIG_PHYSICAL_ALIGN) above the preferred address
// (pref_address, LOAD_PHYSICAL_ADDR). On i386 the kernel then runs at PAGE_OFFSET plus its
// physical address, so the offset of every symbol, code and data alike, is the physical distance
// from pref_address. In a replay the entropy is part of the recording, so the slot is a fact of
// it, and cheap to learn: the decompressor chooses before it decompresses anything, and writes the
// decompressed vmlinux, an ELF, from the start of the slot up. So a replay of the recording is run
// with a write watchpoint on the first four bytes of every slot until one of them reads "\x7fELF":
// a few hundred thousand instructions for Debian's kernel, long before the billions the
// decompression itself costs.

import { Debugger } from "./debug.js";
import type { ReadRecording } from "./recording.js";
import { Session } from "./session.js";

/** Where the kernel runs: its physical load address and its distance from the link address. */
export interface KernelPlacement {
  /** What gdb adds to the vmlinux's addresses (0: the kernel runs where it was linked). */
  offset: number;
  /** The physical address the kernel was decompressed to (its pref_address when not moved). */
  physical: number;
  /** How it was found, for one line to the user. */
  how: string;
}

/** A replay that finds nothing by this many instructions never will: the decompressor writes its first output bytes long before. */
export const FIND_WITHIN = 100_000_000;
/** The slices the search runs in. */
const SLICE = 1_000_000;
const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

/**
 * Where the guest of `rec` runs its kernel, or a reason it cannot say: a replay of its own (`rec`
 * and its `images`, as Session.replay takes them) runs until the decompressor starts writing the
 * kernel. A guest loaded as an ELF vmlinux, or a bzImage that is not relocatable, runs where it was
 * linked.
 */
export function findKernelPlacement(rec: ReadRecording, images: { [role: string]: Uint8Array }): KernelPlacement | { error: string } {
  const session = Session.replay(rec, () => {}, images);
  const plan = session.bootPlan;
  if (plan === undefined) return { error: "the guest is not a Linux kernel" };
  if (plan.format === "elf" || plan.header === undefined) {
    return { offset: 0, physical: plan.layout.runtimeStart, how: "the kernel was loaded as an ELF at its link address" };
  }
  const h = plan.header;
  if (!h.relocatable) return { offset: 0, physical: h.prefAddress, how: "the bzImage is not relocatable: its kernel runs at its link address" };
  const ram = rec.header.machine.ramSize;
  const slots: number[] = [];
  for (let slot = h.prefAddress; slot + ELF_MAGIC.length <= ram; slot += h.kernelAlignment) slots.push(slot);
  const dbg = new Debugger(session);
  try {
    for (const slot of slots) dbg.setWatchpoint("write", slot, ELF_MAGIC.length);
    let first = true;
    while (dbg.position().icount < FIND_WITHIN) {
      const stop = dbg.run({ maxInsns: SLICE, first });
      first = stop.kind !== "budget";
      if (stop.kind === "budget") continue;
      if (stop.kind !== "watch") return { error: `the replay stopped (${stop.kind}) before the decompressor wrote the kernel` };
      const bytes = dbg.readMemory(stop.addr, ELF_MAGIC.length);
      if (!ELF_MAGIC.every((b, i) => bytes[i] === b)) continue;
      const offset = stop.addr - h.prefAddress;
      const icount = dbg.position().icount.toLocaleString("en-US");
      const where = offset === 0 ? "at its link address" : `0x${offset.toString(16)} above its link address (KASLR)`;
      return { offset, physical: stop.addr, how: `the decompressor put the kernel at physical 0x${stop.addr.toString(16)}, ${where}: seen in a replay of it to icount ${icount}` };
    }
    return { error: `the decompressor wrote no kernel to a kernel_alignment slot within ${FIND_WITHIN.toLocaleString("en-US")} instructions` };
  } finally {
    dbg.close();
  }
}

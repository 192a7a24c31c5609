// The child process of ./v86.ts: boots the bench's Debian guest in v86 until its /init prints the
// marker, then writes this process's CPU and host seconds to stdout as one JSON line and exits.
// A process of its own, so that v86's WebAssembly compiler threads and heap are counted, and
// only counted, here. Arguments: KERNEL INITRD SEABIOS_DIR CMDLINE MARKER.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { V86 } from "v86";

const [kernelPath, initrdPath, biosDir, cmdline, marker] = process.argv.slice(2);
const t0 = process.hrtime.bigint();
const cpu0 = process.cpuUsage();

const image = (path: string): { buffer: ArrayBuffer } => {
  const b = readFileSync(path);
  return { buffer: b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer };
};

const build = dirname(fileURLToPath(import.meta.resolve("v86")));
const emulator = new V86({
  wasm_path: join(build, "v86.wasm"),
  bios: image(join(biosDir, "bios.bin")),
  vga_bios: image(join(biosDir, "vgabios-stdvga.bin")),
  bzimage: image(kernelPath),
  initrd: image(initrdPath),
  cmdline,
  memory_size: 256 << 20,
  autostart: true,
  disable_speaker: true,
});

// v86's instruction counter is 32 bits wide: read it often enough that it cannot wrap unseen
// (v86 runs well under 4 G instructions in 100 ms) and keep the sum.
let instructions = 0;
let lastCounter = 0;
const countInstructions = (): void => {
  const now = emulator.get_instruction_counter();
  instructions += (now - lastCounter) >>> 0;
  lastCounter = now;
};
setInterval(countInstructions, 100).unref();

let line = "";
emulator.add_listener("serial0-output-byte", (byte: number) => {
  if (byte !== 10 && byte !== 13) {
    line += String.fromCharCode(byte);
    return;
  }
  if (line.startsWith(marker)) {
    const cpu = process.cpuUsage(cpu0);
    countInstructions();
    const hostSecs = Number(process.hrtime.bigint() - t0) / 1e9;
    process.stdout.write(JSON.stringify({ cpuSecs: (cpu.user + cpu.system) / 1e6, hostSecs, instructions }) + "\n");
    process.exit(0);
  }
  line = "";
});

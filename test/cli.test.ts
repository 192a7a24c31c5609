import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { crc32, gzipSync } from "node:zlib";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "./layers.js";
import { nasm } from "./support/cpu.js";
import { oracle, runs } from "./support/oracle.js";
import { Debugger, GPR_NAMES } from "../src/replay/debug.js";
import { readRecording } from "../src/replay/recording.js";
import { Session } from "../src/replay/session.js";

const BIN = join(ROOT, "bin", "afterglow.js");
/** script(1), which gives the TUI the terminal it wants. */
const HAVE_SCRIPT = oracle("script", runs("script", "--version"), "apt-get install bsdutils");

function afterglow(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 60_000 });
}

describe("the afterglow command", () => {
  // The CLI runs from dist/: build it (a loaded machine takes far longer than the default 10 s).
  beforeAll(() => {
    execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT, stdio: "pipe" });
  }, 180_000);

  it("runs the built-in guest to its halt: serial output, paging, user mode, timer interrupts", () => {
    const r = afterglow("run");
    expect(r.stdout).toBe(
      [
        "afterglow: real mode ok",
        "afterglow: protected mode ok",
        "afterglow: paging on",
        "afterglow: user mode ok",
        "primes below 50000: 5133",
        "crc32(123456789): 0xcbf43926",
        "fib(40): 102334155",
        "sum 1000000/k, k=1..1000: 7485017",
        "afterglow: user program exited",
        "page fault at 0x00400000, error code 0x00000002",
        "demand-paged memory reads 0x12345678",
        "afterglow: 10 timer interrupts while idle",
        "afterglow: done",
        "",
      ].join("\n"),
    );
    // By default the guest runs in a VM on L4 and the VMM, and the layers' summary follows.
    const lines = r.stderr.split("\n");
    expect(lines[0]).toMatch(/^afterglow: guest halted at 0008:[0-9a-f]{8} after [\d,]+ instructions \(the guest halted with interrupts off\), .* MIPS$/);
    expect(lines[1]).toMatch(/^summary   [\d,]+ instructions, [\d.]+ s guest, [\d.]+ s host \([\d.]+ MIPS, [\d,]+ exits\/s\)$/);
    expect(lines[2]).toMatch(/^L4        [\d,]+ IPCs, [\d,]+ context switches, [\d,]+ system calls, \d+ interrupts$/);
    expect(lines[3]).toMatch(/^VMM       halted \(the guest halted with interrupts off\); 12 interrupts injected, [\d,]+ console bytes out, 0 in$/);
    expect(lines[4]).toMatch(/^VM exits  [\d,]+$/);
    // The guest's serial port is polled: I/O exits dominate; it idles with HLT between its ten ticks.
    expect(lines[5]).toMatch(/^  IO_INSTRUCTION +[\d,]+ +\d+\.\d% +#+$/);
    expect(r.stderr).toMatch(/\n  HLT +1[01] /);
    expect(r.status).toBe(0);
  });

  it("runs the built-in guest on the bare machine with --bare: the same output, no layers to summarize", () => {
    const stack = afterglow("run");
    const r = afterglow("run", "--bare");
    expect(r.stdout).toBe(stack.stdout);
    expect(r.stderr).toMatch(/^afterglow: guest halted at 0008:[0-9a-f]{8} after [\d,]+ instructions, .* MIPS\nPOST      0x00 .*\n$/);
    expect(r.status).toBe(0);
  });

  it("stops at an instruction limit with a non-zero status", () => {
    const r = afterglow("run", "--max-insns", "1000");
    expect(r.stderr).toMatch(/^afterglow: limit reached at [0-9a-f]{4}:[0-9a-f]{8} after 1,000 instructions \(--max-insns: 1,000 instructions\)/);
    expect(r.status).toBe(2);
  });

  it("reports a missing image in one line", () => {
    const r = afterglow("run", "--image", "/nonexistent/guest.bin");
    expect(r.stderr).toBe("afterglow: cannot read /nonexistent/guest.bin: no such file\n");
    expect(r.status).toBe(1);
  });

  it("refuses less RAM than the guest runs in, in one line naming the least, instead of a guest faulting forever", () => {
    const r = afterglow("run", "--bare", "--ram", "1");
    expect(r.stderr).toBe("afterglow: --ram 1: the built-in guest needs at least 2 MiB: its user program's stack is at 2 MiB\n");
    expect(r.status).toBe(1);
    expect(afterglow("run", "--bare", "--ram", "2").status).toBe(0);
  });

  it("reports an empty boot image in one line, on the stack and bare, and records nothing", () => {
    const dir = mkdtempSync(join(tmpdir(), "afterglow-cli-"));
    const empty = join(dir, "empty.bin");
    writeFileSync(empty, "");
    for (const args of [["run"], ["run", "--bare"], ["record", "-o", join(dir, "x.rec")], ["chaos", "--runs", "1", "--dir", dir]]) {
      const r = afterglow(...args, "--image", empty);
      expect(r.stderr, args.join(" ")).toBe(`afterglow: the boot image ${empty} is empty\n`);
      expect(r.status, args.join(" ")).toBe(1);
    }
    expect(existsSync(join(dir, "x.rec"))).toBe(false);
  });

  it("refuses a gdb command file (-x) it cannot read in one line, where gdb would only warn and attach without it", () => {
    const vm = join(ROOT, "recordings", "hello-vm.rec");
    const r = afterglow("gdb", vm, "-x", "/nonexistent", "--", "-batch");
    expect(r.stderr).toBe("afterglow: -x /nonexistent: cannot read /nonexistent: no such file\n");
    expect(r.status).toBe(1);
  });

  it("says what is wrong with an option in one line and where the help is, for every command, instead of the whole help", () => {
    const hint = "(--help after the command lists its options)\n";
    const cases: [string[], string][] = [
      [["replay", "x.rec", "--bogus"], "error: unknown option '--bogus'\n"],
      [["run", "--kernel"], "error: option '--kernel <bzImage>' argument missing\n"],
      [["guest", "fetch", "linux", "--bogus"], "error: unknown option '--bogus'\n"],
    ];
    for (const [args, line] of cases) {
      const r = afterglow(...args);
      expect(r.stderr, args.join(" ")).toBe(line + hint);
      expect(r.status, args.join(" ")).toBe(1);
    }
    const r = afterglow("bogus");
    expect(r.stderr).toBe("error: unknown command 'bogus'\n(afterglow --help lists the commands)\n");
    expect(r.status).toBe(1);
  });

  it("tells a gdb user who gives gdb's options to afterglow gdb where they go, instead of the whole usage", () => {
    const vm = join(ROOT, "recordings", "hello-vm.rec");
    const r = afterglow("gdb", vm, "-ex", "monitor when");
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("error: unknown option '-ex'\nusage: afterglow gdb [options] FILE [-- GDB-ARGS] (gdb's own options, as -ex and -batch, go after --; --help lists afterglow's)\n");
  });

  it("refuses a file of another kind for --image, --kernel or --initrd in one line that names the option that fits", () => {
    const dir = mkdtempSync(join(tmpdir(), "afterglow-cli-"));
    const gz = join(dir, "initramfs.cpio.gz");
    writeFileSync(gz, gzipSync(Buffer.from("070701")));
    const bz = join(dir, "bzImage");
    const header = Buffer.alloc(0x400);
    header.write("HdrS", 0x202, "latin1");
    writeFileSync(bz, header);
    const elf = join(ROOT, "guests", "chaos", "race.elf");
    const rec = join(ROOT, "recordings", "hello.rec");
    const cases: [string[], RegExp][] = [
      [["--image", bz], /is a Linux bzImage, not a flat boot image: boot it with --kernel$/],
      [["--image", elf], /race\.elf is an ELF file, not a flat boot image: `objcopy -O binary \S+race\.elf \S+race\.bin` makes the flat image from it$/],
      [["--image", gz], /is gzip-compressed, not a flat boot image: an initramfs goes with --initrd, beside --kernel$/],
      [["--image", rec], /is an afterglow recording, not a flat boot image: replay it with `afterglow replay \S+hello\.rec`$/],
      [["--kernel", elf], /race\.elf is an ELF file without Linux's ELF notes, a program rather than a kernel/],
      [["--kernel", gz], /^afterglow: --kernel \S+initramfs\.cpio\.gz is gzip-compressed, not a kernel: an initramfs goes with --initrd$/],
      [["--kernel", gz, "--initrd", bz], /^afterglow: --initrd \S+bzImage is a kernel, not an initrd: are --kernel and --initrd swapped\?$/],
      [["--kernel", join(ROOT, "guests", "builtin", "hello.bin")], /^afterglow: --kernel \S+hello\.bin: not a Linux bzImage/],
    ];
    for (const [args, message] of cases) {
      for (const command of [["run"], ["record", "-o", join(dir, "x.rec")]]) {
        const r = afterglow(...command, ...args);
        expect(r.stderr.trimEnd(), args.join(" ")).toMatch(message);
        expect(r.stderr.trimEnd().split("\n"), args.join(" ")).toHaveLength(1);
        expect(r.status, args.join(" ")).toBe(1);
      }
    }
    expect(existsSync(join(dir, "x.rec"))).toBe(false);
  });

  it("starts a chaos campaign of a billion runs without listing its seeds, and refuses more runs than there are seeds", () => {
    const dir = mkdtempSync(join(tmpdir(), "afterglow-cli-"));
    const r = spawnSync(process.execPath, [BIN, "chaos", "--runs", "1e9", "--jobs", "1", "--max-insns", "10", "--seed", "7", "--dir", dir], { encoding: "utf8", timeout: 10_000 });
    expect(r.stderr).toBe("afterglow: chaos: 1,000,000,000 runs of hello.bin in a VM, seeds 7..1000000006, 1 at a time\n");
    const more = afterglow("chaos", "--runs", "5000000000", "--dir", dir);
    expect(more.stderr).toBe("afterglow: --runs 5000000000: there are 4,294,967,296 seeds, so at most as many different runs\n");
    expect(more.status).toBe(1);
  }, 30_000);

  it("ends quietly, as cat does, when the reader of its output stops reading (| head)", () => {
    const dir = mkdtempSync(join(tmpdir(), "afterglow-cli-"));
    const big = join(dir, "big.bin");
    writeFileSync(big, Buffer.alloc(1 << 20, 0x90));
    for (const args of [["disasm", big], ["disasm", big, "--bits", "16"]]) {
      const r = spawnSync("bash", ["-c", `"$0" "$@" 2>"${join(dir, "err")}" | head -1 >/dev/null; exit \${PIPESTATUS[0]}`, process.execPath, BIN, ...args], { timeout: 60_000 });
      expect(r.status, args[0]).toBe(141); // 128 + SIGPIPE
      expect(readFileSync(join(dir, "err"), "utf8"), args[0]).toBe("");
    }
  });

  it("reports an address it cannot listen on as the user's to change, in one line, for gdb and the inspector", () => {
    const vm = join(ROOT, "recordings", "hello-vm.rec");
    const cases: [string[], string][] = [
      [["run", "--gdb", "nosuchhost.invalid:5559"], "nosuchhost.invalid:5559: no such host"],
      [["replay", vm, "--gdb", "1.2.3.4.5:99"], "1.2.3.4.5:99: no such host"],
      [["replay", vm, "--inspect", "nosuchhost.invalid:9229"], "nosuchhost.invalid:9229: no such host"],
      [["replay", vm, "--inspect", "0", "--gdb", "nosuchhost.invalid:1"], "nosuchhost.invalid:1: no such host"],
    ];
    for (const [args, what] of cases) {
      const r = afterglow(...args);
      expect(r.stderr, args.join(" ")).toBe(`afterglow: cannot listen on ${what}\n`);
      expect(r.status, args.join(" ")).toBe(1);
    }
  });

  it.skipIf(!HAVE_SCRIPT)("refuses a gdb address for the TUI that is not on this machine in one line, with no warning of a listener that never was", () => {
    const vm = join(ROOT, "recordings", "hello-vm.rec");
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): no machine's own address.
    const r = spawnSync("script", ["-qec", `'${process.execPath}' '${BIN}' tui '${vm}' --gdb 192.0.2.1:1234`, "/dev/null"], { input: "", encoding: "utf8", timeout: 60_000 });
    expect(r.stdout.replace(/\r\n/g, "\n")).toBe("afterglow: gdb cannot listen on 192.0.2.1:1234: this machine has no such address\n");
    expect(r.status).toBe(1);
  });

  it("reports a file or directory it cannot write as the user's to fix, in one line, for every command that writes one", () => {
    const dir = mkdtempSync(join(tmpdir(), "afterglow-cli-"));
    const file = join(dir, "file.rec");
    writeFileSync(file, "in the way\n");
    const vm = join(ROOT, "recordings", "hello-vm.rec");
    const cases: [string[], string][] = [
      [["pack", vm, "-o", "/nonexistent/x.rec"], "cannot write /nonexistent/x.rec: no such directory"],
      [["pack", vm, "-o", dir], `cannot write ${dir}: it is a directory`],
      [["record", "-o", "/nonexistent/dir/x.rec"], "cannot write /nonexistent/dir/x.rec: no such directory"],
      [["record", "-o", join(file, "x.rec")], `cannot write ${file}/x.rec: a part of the path is not a directory`],
      [["chaos", "--runs", "1", "--dir", file], `cannot make the directory ${file}: it exists and is not a directory`],
      [["chaos", "--runs", "1", "--dir", join(file, "sub")], `cannot make the directory ${file}/sub: a part of the path is not a directory`],
    ];
    for (const [args, message] of cases) {
      const r = afterglow(...args);
      expect(r.stderr, args.join(" ")).toBe(`afterglow: ${message}\n`);
      expect(r.status, args.join(" ")).toBe(1);
    }
  });

  it("refuses a --symbols file that is missing or not an ELF in one line, in every command that takes one, before gdb starts", () => {
    const vm = join(ROOT, "recordings", "hello-vm.rec");
    const readme = join(ROOT, "README.md");
    const commands = [["gdb", vm], ["triage", vm], ["replay", vm, "--gdb", "0"], ["run", "--gdb", "0"]];
    for (const command of commands) {
      for (const [symbols, why] of [["/nonexistent", "cannot read /nonexistent: no such file"], [readme, "not an ELF file"]]) {
        const r = afterglow(...command, "--symbols", symbols, ...(command[0] === "gdb" ? ["--", "-batch"] : []));
        expect(r.stderr, command[0]).toBe(`afterglow: --symbols ${symbols}: ${why}\n`);
        expect(r.status, command[0]).toBe(1);
      }
    }
  });

  it("shows each option's default once in every command's help, in the unit the option is written in", () => {
    const commands = (...parent: string[]): string[][] => {
      const help = afterglow(...parent, "--help").stdout;
      const names = [...help.slice(help.indexOf("\nCommands:")).matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1]).filter((n) => n !== "help");
      return names.flatMap((n) => (n === "guest" ? commands(...parent, n) : [[...parent, n]]));
    };
    const all = commands();
    expect(all.length).toBeGreaterThan(10);
    const options = new Map<string, string>();
    for (const command of all) {
      // An option's help, its wrapped lines joined.
      for (const entry of afterglow(...command, "--help").stdout.split(/\n(?= {2}-)/)) {
        const text = entry.replace(/\n\s+/g, " ");
        expect(text.match(/\(default/g)?.length ?? 0, `${command.join(" ")}: ${text}`).toBeLessThanOrEqual(1);
        options.set(`${command.join(" ")} ${text.split(" ").find((w) => w.startsWith("--"))}`, text);
      }
    }
    expect(options.get("run --hang-time")).toMatch(/\(default: 10 s\)$/);
    expect(options.get("chaos --jobs")).toMatch(/\(default: one per core\)$/);
  });

  it("reports a guest that triple faults or dies on an exception without a stack trace", () => {
    // An empty IDT: the #UD cannot be delivered, nor the #GP that follows, nor the double fault.
    const dir = mkdtempSync(join(tmpdir(), "afterglow-cli-"));
    const image = join(dir, "bad.bin");
    writeFileSync(image, nasm("lidt [cs:idt]\nud2\nidt: dw 0, 0, 0", 16, 0x7c00));
    const r = afterglow("run", "--image", image);
    expect(r.stderr).toMatch(/^afterglow: triple fault \(shutdown\) at 0000:00007c[0-9a-f]{2} after 1 instructions \(triple fault at EIP 0x7c[0-9a-f]{2}\)/);
    expect(r.stderr).toMatch(/\n  TRIPLE_FAULT +1 /);
    expect(r.stderr).not.toMatch(/Error|    at /);
    expect(r.status).toBe(2);
    const bare = afterglow("run", "--bare", "--image", image);
    expect(bare.stderr).toMatch(/^afterglow: triple fault \(shutdown\) at 0000:00007c[0-9a-f]{2} after 1 instructions/);
    expect(bare.stderr.trim().split("\n")).toHaveLength(2); // the stop, and the POST latch
    expect(bare.status).toBe(2);
  });

  it("prints each POST code with --post and the last one in the summary, bare and on the stack", () => {
    const dir = mkdtempSync(join(tmpdir(), "afterglow-cli-"));
    const image = join(dir, "post.bin");
    writeFileSync(image, nasm("mov al, 0x1a\n out 0x80, al\n mov al, 0x2b\n out 0x80, al\n mov dx, 0x80\n mov al, 0x3c\n out dx, al\n cli\n hlt", 16, 0x7c00));
    const posts = (stderr: string) => stderr.split("\n").filter((l) => l.startsWith("POST 0x"));
    const last = "\nPOST      0x3c (port 0x80's latch: the last code written, 00 after power-on)\n";
    // Bare: the icount of each OUT is the number of instructions before it.
    const bare = afterglow("run", "--bare", "--image", image, "--post");
    expect(posts(bare.stderr)).toEqual(["POST 0x1a at icount 1", "POST 0x2b at icount 3", "POST 0x3c at icount 6"]);
    expect(bare.stderr).toContain(last);
    expect(bare.status).toBe(0);
    // The stack: the first write exits and the VMM passes the port through; the guest runs the OUT
    // again, and it and the rest reach the PC's port itself.
    const stack = afterglow("run", "--image", image, "--post");
    const lines = posts(stack.stderr);
    expect(lines.map((l) => l.replace(/ at icount \d+$/, ""))).toEqual(["POST 0x1a", "POST 0x2b", "POST 0x3c"]);
    const icounts = lines.map((l) => Number(/icount (\d+)$/.exec(l)![1]));
    expect(icounts[0]).toBeLessThan(icounts[1]);
    expect(icounts[1]).toBeLessThan(icounts[2]);
    expect(stack.stderr).toContain(last);
    // Without --post only the summary tells.
    const quiet = afterglow("run", "--image", image);
    expect(posts(quiet.stderr)).toEqual([]);
    expect(quiet.stderr).toContain(last);
  });

  describe("record, replay and info", () => {
    const dir = mkdtempSync(join(tmpdir(), "afterglow-rec-"));
    const echo = join(ROOT, "guests", "builtin", "echo.bin");
    const rec = join(dir, "echo.rec");
    let recorded: ReturnType<typeof afterglow>;
    const typed = "one\ntwo\nq";
    beforeAll(() => {
      recorded = spawnSync(process.execPath, [BIN, "record", "-o", rec, "--image", echo], { input: typed, encoding: "utf8", timeout: 60_000 });
    }, 120_000);

    it("records a run with typed input and replays it in another process, byte for byte, with no input", () => {
      expect(recorded.status, recorded.stderr).toBe(0);
      expect(recorded.stdout).toMatch(/^echo: type; q quits\nONE\n[0-9A-F]{4}\nTWO\n[0-9A-F]{4}\nQecho: bye\n$/);
      expect(recorded.stderr).toContain(`afterglow: recorded to ${rec}\n`);
      const r = spawnSync(process.execPath, [BIN, "replay", rec, "--image", echo], { input: "ignored\n", encoding: "utf8", timeout: 60_000 });
      expect(r.stdout).toBe(recorded.stdout);
      expect(r.stderr).toMatch(/^afterglow: replayed to the recording's end \(halt: the guest halted with interrupts off\) at icount [\d,]+, guest [\d.]+ s; every state hash and all [\d,]+ VM exits matched;/);
      expect(r.status).toBe(0);
    });

    it("says up front in one line what a small --hash-every costs, and lets the host in after at most a thousand hashes", () => {
      expect(recorded.stderr).not.toContain("--hash-every");
      const small = join(dir, "small.rec");
      const r = afterglow("record", "-o", small, "--hash-every", "1", "--max-insns", "2500");
      expect(r.status).toBe(2); // the limit
      expect(r.stderr.split("\n")[0]).toMatch(/^afterglow: --hash-every 1: each state hash costs about as much host time as 10,000 instructions, so expect this record to run up to 10,000x slower and write 70 MB per million instructions \(from 100,000 up the cost is small\)$/);
      const records = readRecording(readFileSync(small), "small.rec").records;
      expect(records.filter((x) => x.t === "hash")).toHaveLength(2500);
      // Each slice ends in a pause, which writes its position: Ctrl-A keys, signals and the status line get in there.
      expect(records.filter((x) => x.t === "pos").map((x) => x.icount)).toEqual([1000, 2000, 2500]);
    });

    it("replay --to goes to an icount or a VM exit and prints the position and registers a forward replay has there", () => {
      const vm = join(ROOT, "recordings", "hello-vm.rec");
      const r = afterglow("replay", vm, "--to", "icount:5000");
      expect(r.status, r.stderr).toBe(0);
      const lines = r.stdout.split("\n");
      expect(lines[0]).toMatch(/^icount 5000 exits \d+ guest-ns \d+ eip 0x[0-9a-f]{8}$/);
      // The oracle: a plain replay of 5000 instructions, no checkpoints.
      const d = new Debugger(Session.replay(readRecording(new Uint8Array(readFileSync(vm))), () => {}));
      d.run({ maxInsns: 5000, first: false });
      const regs = d.registers() as unknown as { [k: string]: number };
      expect(lines[1]).toBe(GPR_NAMES.map((n) => `${n} 0x${regs[n].toString(16).padStart(8, "0")}`).join(" "));
      expect(lines[2]).toMatch(new RegExp(`^eip 0x${regs.eip.toString(16).padStart(8, "0")} eflags 0x${regs.eflags.toString(16).padStart(8, "0")} es 0x`));
      const e = afterglow("replay", vm, "--to", "exit:100");
      expect(e.stdout).toMatch(/^icount \d+ exits 101 /);
      const bad = afterglow("replay", vm, "--to", "exit:99999");
      expect(bad.status).toBe(1);
      const exits = Session.replay(readRecording(new Uint8Array(readFileSync(vm))), () => {}).recordedExits().length;
      expect(bad.stderr).toBe(`afterglow: the recording has ${exits} VM exits (0 to ${exits - 1}): there is no exit 99999\n`);
      // A recording of the bare PC has no VM exits to count: it says so, for --to and explain-exit alike.
      const bare = join(ROOT, "recordings", "hello.rec");
      expect(afterglow("replay", bare, "--to", "exit:3").stderr).toBe("afterglow: the recording ran on the bare PC, which has no VM exits: there is no exit 3\n");
      expect(afterglow("explain-exit", bare, "3").stderr).toBe("afterglow: explain-exit: the recording ran on the bare PC, which has no VM exits: there is no exit 3\n");
      expect(afterglow("replay", vm, "--to", "later").stderr).toMatch(/^afterglow: .*--to wants icount:N or exit:N \(N decimal or 0x hex\), not "later"\n$/);
      // In hex as monitor seek takes it: the same position.
      expect(afterglow("replay", vm, "--to", "icount:0x1388").stdout).toBe(r.stdout);
      // Beside a debugger it would be ignored: said so, in one line.
      for (const beside of [["--gdb", "0"], ["--inspect", "0"], ["--tui"]]) {
        const r = afterglow("replay", vm, "--to", "icount:5", ...beside);
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`^afterglow: --to does not go with ${beside[0]}: [^\n]+\n$`));
      }
      const both = afterglow("replay", vm, "--to", "exit:700", "--max-insns", "10");
      expect(both.status).toBe(1);
      expect(both.stderr).toBe("afterglow: --to and --max-insns both say where the replay stops: give one of them\n");
    });

    it("replay --to icount:0 is where gdb attaches, the guest's first instruction, not the reset before it", () => {
      const vm = join(ROOT, "recordings", "hello-vm.rec");
      const r = afterglow("replay", vm, "--to", "icount:0");
      expect(r.status, r.stderr).toBe(0);
      const d = new Debugger(Session.replay(readRecording(new Uint8Array(readFileSync(vm))), () => {}));
      d.toFirstInstruction();
      const p = d.position();
      expect(r.stdout.split("\n")[0]).toBe(`icount 0 exits 0 guest-ns ${p.ns} eip 0x${p.eip.toString(16).padStart(8, "0")}`);
      expect(p.eip).not.toBe(0);
    });

    it("says the clock is not known when a recording was cut before its RTC's record, instead of leaving the line out", () => {
      const dir = mkdtempSync(join(tmpdir(), "afterglow-cli-"));
      const cut = join(dir, "cut.rec");
      // The header's chunk (the embedded image) survives; the chunk with the RTC's start does not.
      writeFileSync(cut, readFileSync(join(ROOT, "recordings", "hello-vm.rec")).subarray(0, 2000));
      const r = afterglow("info", cut);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^clock +not known: the RTC's start is not in what is left of the recording$/m);
      expect(r.stdout).toMatch(/^end +none: truncated at byte \d+/m);
      expect(afterglow("info", join(ROOT, "recordings", "hello-vm.rec")).stdout).toMatch(/^clock +RTC starts at /m);
    });

    it("describes a recording: images, inputs, end", () => {
      const r = afterglow("info", rec);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain("image      boot image echo.bin 290 bytes sha256 ");
      expect(r.stdout).toContain("inputs     3 console deliveries, 9 bytes");
      expect(r.stdout).toMatch(/end        halt \(the guest halted with interrupts off\) at icount [\d,]+, guest [\d.]+ s/);
      // The exit histogram: the guest polls and writes its UART, sleeps in HLT between inputs.
      expect(r.stdout).toMatch(/\nexits      [\d,]+ VM exits\n  IO_INSTRUCTION +[\d,]+ +\d+\.\d% +#+\n/);
      expect(r.stdout).toMatch(/\n  HLT +[\d,]+ +\d+\.\d% +#+\n/);
    });

    it("shows the command a recording was made with quoted for the shell, so it can be pasted", () => {
      const spaced = join(dir, "my run.rec");
      expect(spawnSync(process.execPath, [BIN, "record", "-o", spaced, "--image", echo], { input: typed, encoding: "utf8", timeout: 60_000 }).status).toBe(0);
      const made = /^made by .*: afterglow (.*)$/m.exec(afterglow("info", spaced).stdout)![1];
      const words = spawnSync("sh", ["-c", `printf '%s\\n' ${made}`], { encoding: "utf8" }).stdout.trimEnd().split("\n");
      expect(words).toEqual(["record", "-o", spaced, "--image", echo]);
    });

    it("leaves a recording that already carries its images byte for byte as it was, in place or copied", () => {
      const packed = join(dir, "packed-once.rec");
      expect(afterglow("pack", rec, "-o", packed, "--image", echo).status).toBe(0);
      const bytes = readFileSync(packed);
      const again = afterglow("pack", packed);
      expect(again.stderr).toBe(`afterglow: ${packed} already carries its images (echo.bin): left it as it was\n`);
      expect(again.status).toBe(0);
      expect(readFileSync(packed).equals(bytes)).toBe(true);
      const copy = join(dir, "packed-copy.rec");
      expect(afterglow("pack", packed, "-o", copy).stderr).toBe(`afterglow: ${packed} already carries its images (echo.bin): copied it to ${copy}\n`);
      expect(readFileSync(copy).equals(bytes)).toBe(true);
    });

    it("packs the images in, so the recording replays without them", () => {
      const packed = join(dir, "packed.rec");
      expect(afterglow("pack", rec, "-o", packed, "--image", echo).status).toBe(0);
      const r = afterglow("replay", packed);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe(recorded.stdout);
    });

    it("gives one clear line and a non-zero exit for a corrupt, truncated, foreign, newer or wrong-image recording", () => {
      const bytes = readFileSync(rec);
      const corrupt = join(dir, "corrupt.rec");
      const flipped = Buffer.from(bytes);
      flipped[flipped.length - 5] ^= 0x10;
      writeFileSync(corrupt, flipped);
      const cut = join(dir, "cut.rec");
      writeFileSync(cut, bytes.subarray(0, bytes.length - 7));
      const foreign = join(dir, "foreign.rec");
      writeFileSync(foreign, "not a recording\n");
      const newer = join(dir, "newer.rec");
      // The header's "format" field is msgpack fixint 1 right after its key: make it 9.
      const key = Buffer.from([0xa6, ...Buffer.from("format")]);
      const at = bytes.indexOf(key) + key.length;
      const future = Buffer.from(bytes);
      future[at] = 9;
      // Its chunk checksum must still hold for the version check to be what fails.
      const len = future.readUInt32LE(8);
      future.writeUInt32LE(crc32(future.subarray(16, 16 + len)), 12);
      writeFileSync(newer, future);
      const older = join(dir, "older.rec");
      future[at] = 3;
      future.writeUInt32LE(crc32(future.subarray(16, 16 + len)), 12);
      writeFileSync(older, future);
      const cases: [string, string[], RegExp][] = [
        ["corrupt", ["replay", corrupt, "--image", echo], /^afterglow: .*corrupt\.rec is corrupt: chunk \d+ at byte \d+ fails its checksum\n$/],
        ["truncated", ["replay", cut, "--image", echo], /^afterglow: .*cut\.rec is truncated at byte \d+ \(cut off while recording\): replayed all it holds, to icount [\d,]+, guest [\d.]+ s; every state hash and all [\d,]+ VM exits matched\n$/],
        ["foreign", ["replay", foreign], /^afterglow: .*foreign\.rec is not an afterglow recording \(no AGLOWREC signature\)\n$/],
        ["newer", ["info", newer], /^afterglow: .*newer\.rec is format version 9; this afterglow reads version 5\n$/],
        ["older", ["replay", older], /^afterglow: .*older\.rec is format version 3, which counted a REP string instruction once; record it again with this afterglow \(it reads version 5\)\n$/],
        ["wrong image", ["replay", rec, "--image", join(ROOT, "guests", "builtin", "hello.bin")], /^afterglow: wrong boot image: it has sha256 [0-9a-f]{16}…, the recording was made with echo\.bin/],
        ["another image than it carries", ["replay", join(ROOT, "recordings", "hello-vm.rec"), "--image", echo], /^afterglow: --image \S+echo\.bin is not the boot image \S+hello-vm\.rec carries \(hello\.bin, sha256 [0-9a-f]{16}…\): leave --image out\n$/],
        ["an image it has no place for", ["replay", rec, "--kernel", echo], /^afterglow: --kernel \S+echo\.bin: \S+echo\.rec has no kernel to give \(it was made with boot image echo\.bin\)\n$/],
      ];
      for (const [what, args, message] of cases) {
        const r = afterglow(...args);
        expect(r.status, what).not.toBe(0);
        expect(r.stderr.replace(/^(?!afterglow:).*\n/gm, ""), what).toMatch(message);
        expect(r.stderr, what).not.toMatch(/\n\s+at /);
      }
    });
  });
});

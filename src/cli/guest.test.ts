// `afterglow guest`: the initramfs it builds, unpacked by the host's cpio, and the fetch.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INIT_SCRIPT, buildInitramfs, defaultGuestDir, registerGuest } from "./guest.js";
import { packageRoot } from "./images.js";

/** An i386 ELF executable header, static unless `interp`, its one segment loaded at `vaddr`. */
function fakeBusybox(interp = false, { type = 2, vaddr = 0x8048000 } = {}): Uint8Array {
  const b = new Uint8Array(0x200);
  const v = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  v.setUint16(16, type, true);
  v.setUint16(18, 3, true);
  v.setUint32(28, 52, true);
  v.setUint16(42, 32, true);
  v.setUint16(44, 1, true);
  v.setUint32(52, interp ? 3 : 1, true);
  v.setUint32(52 + 8, vaddr, true);
  for (let i = 0x100; i < 0x200; i++) b[i] = i & 0xff;
  return b;
}

/** Runs `afterglow guest ...` in-process; returns what it printed. */
async function guest(...args: string[]): Promise<string> {
  const program = new Command("afterglow").exitOverride();
  registerGuest(program);
  let out = "";
  const write = process.stdout.write;
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  try {
    await program.parseAsync(["node", "afterglow", "guest", ...args]);
  } finally {
    process.stdout.write = write;
  }
  return out;
}

describe("the guest initramfs", () => {
  let dir: string;
  beforeAll(() => {
    if (spawnSync("cpio", ["--version"]).status !== 0) throw new Error("GNU cpio is required for this test: apt-get install cpio");
    dir = mkdtempSync(join(tmpdir(), "afterglow-guest-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("holds busybox, a console node and the marker-printing /init, gzip-compressed", () => {
    const busybox = fakeBusybox();
    const cpio = gunzipSync(buildInitramfs({ busybox, workload: "echo one\necho two" }));
    const list = spawnSync("cpio", ["-t", "-v", "--quiet"], { input: cpio, encoding: "utf8" });
    expect(list.status).toBe(0);
    const names = spawnSync("cpio", ["-t", "--quiet"], { input: cpio, encoding: "utf8" }).stdout.trim().split("\n");
    expect(names).toEqual(["bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "dev/console", "bin/busybox", "bin/sh", "init", "workload"]);
    expect(list.stdout).toMatch(/^lrwxrwxrwx .* bin\/sh -> busybox$/m);
    expect(list.stdout).toMatch(/^crw-------\s+1 root\s+root\s+5,\s+1 .* dev\/console$/m);
    expect(list.stdout).toMatch(/^-rwxr-xr-x\s+1 root\s+root\s+512 .* bin\/busybox$/m);

    // Unpack all but the device node (mknod needs root).
    const out = join(dir, "root");
    const x = spawnSync("sh", ["-c", `mkdir -p '${out}' && cd '${out}' && cpio -i -d --quiet --no-absolute-filenames --nonmatching 'dev/console'`], { input: cpio, encoding: "utf8" });
    expect(x.stderr).toBe("");
    expect(new Uint8Array(readFileSync(join(out, "bin/busybox")))).toEqual(busybox);
    expect(readFileSync(join(out, "init"), "utf8")).toBe(INIT_SCRIPT);
    expect(readFileSync(join(out, "workload"), "utf8")).toBe("#!/bin/sh\necho one\necho two\n");
    expect(INIT_SCRIPT).toMatch(/^#!\/bin\/busybox sh\n/);
    expect(INIT_SCRIPT).toContain('echo "BOOT-OK $(uname -r)"');
    expect(INIT_SCRIPT).toContain("[ -x /workload ] && /workload\necho \"WORKLOAD-DONE\"\n");
    expect(INIT_SCRIPT).toMatch(/grep -qw shell \/proc\/cmdline && mount -t devtmpfs dev \/dev && setsid cttyhack sh\nreboot -f\n$/);
  });

  it("has no /workload when none is given, and is the same bytes each time", () => {
    const a = buildInitramfs({ busybox: fakeBusybox() });
    expect(a).toEqual(buildInitramfs({ busybox: fakeBusybox() }));
    const list = spawnSync("cpio", ["-t", "--quiet"], { input: gunzipSync(a), encoding: "utf8" });
    expect(list.stdout).not.toContain("workload");
  });

  it("refuses a busybox the guest could not run", () => {
    expect(() => buildInitramfs({ busybox: new Uint8Array(100) })).toThrow("busybox is not an ELF executable");
    expect(() => buildInitramfs({ busybox: new Uint8Array(100), busyboxPath: "/etc/passwd" })).toThrow(/^\/etc\/passwd is not an ELF executable/);
    expect(() => buildInitramfs({ busybox: fakeBusybox(true) })).toThrow(/dynamically linked.*busybox-static/);
    // Beside busybox in guests/cache lies vmlinux, a static i386 ELF too; and an object file is no program.
    expect(() => buildInitramfs({ busybox: fakeBusybox(false, { vaddr: 0xc1000000 }) })).toThrow(/^busybox is a kernel: it loads at 0xc1000000, .*busybox-static/);
    expect(() => buildInitramfs({ busybox: fakeBusybox(false, { type: 1 }) })).toThrow(/^busybox is not an executable but an ELF relocatable file: .*busybox-static/);
  });

  it("is written by `guest build-initramfs`", async () => {
    const bb = join(dir, "busybox");
    writeFileSync(bb, fakeBusybox());
    const out = join(dir, "sub", "initramfs.cpio.gz");
    const printed = await guest("build-initramfs", "--busybox", bb, "--out", out, "--workload", "true");
    expect(printed).toMatch(/^initrd {2}.*initramfs\.cpio\.gz \(\d+ bytes\)\n$/);
    expect(new Uint8Array(readFileSync(out))).toEqual(buildInitramfs({ busybox: fakeBusybox(), workload: "true" }));
    await expect(guest("build-initramfs", "--busybox", join(dir, "none"), "--out", out)).rejects.toThrow(/^cannot read .*none: no such file$/);
    // A file where the output's directory should be: the user's to fix, said in one line.
    await expect(guest("build-initramfs", "--busybox", bb, "--out", join(bb, "x.cpio.gz"))).rejects.toThrow(`cannot make the directory ${bb}: it exists and is not a directory`);
    await expect(guest("build-initramfs", "--busybox", bb, "--out", dir)).rejects.toThrow(`cannot write ${dir}: it is a directory`);
  });
});

describe("guest fetch linux", () => {
  it("fills the guest directory with Debian's kernel, its config, the versions and an initramfs", async () => {
    const printed = await guest("fetch", "linux", "--workload", "uname -a");
    const dir = defaultGuestDir();
    expect(printed).toMatch(/^kernel {2}.*\/vmlinuz-686 \(linux-image-\S+-686 \S+\)\ninitrd {2}.*\/initramfs\.cpio\.gz\nconfig {2}.*\/config-686\n$/);
    for (const f of ["vmlinuz-686", "config-686", "busybox", "VERSIONS", "initramfs.cpio.gz"]) expect(existsSync(join(dir, f)), f).toBe(true);
    expect(readFileSync(join(dir, "config-686"), "utf8")).toMatch(/^CONFIG_RELOCATABLE=y$/m);
    expect(readFileSync(join(dir, "VERSIONS"), "utf8")).toMatch(/^busybox-static busybox-static \S+\nlinux-image-686 linux-image-\S+-686 \S+\n/);
  }, 600_000);

  // apt-get against a proxy that refuses connections: the download starts and fails at once. It
  // needs apt and the i386 package lists, which a first fetch as root sets up (.ci/run does).
  const aptReady = spawnSync("apt-cache", ["show", "busybox-static:i386"]).status === 0;
  it.skipIf(!aptReady)("leaves nothing of a failed download behind", () => {
    const dir = mkdtempSync(join(tmpdir(), "afterglow-fetch-"));
    const conf = join(dir, "apt.conf");
    writeFileSync(conf, 'Acquire::http::Proxy "http://127.0.0.1:9";\nAcquire::Retries "0";\n');
    try {
      const r = spawnSync("bash", [join(packageRoot(), "scripts", "fetch-debian.sh"), join(dir, "cache")], { encoding: "utf8", env: { ...process.env, APT_CONFIG: conf } });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/Failed to fetch|Could not connect/);
      expect(existsSync(join(dir, "cache", "tmp"))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("knows only linux", async () => {
    await expect(guest("fetch", "windows")).rejects.toThrow('guest fetch knows only "linux", not "windows"');
  });
});

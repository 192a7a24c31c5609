// A writer for the cpio "newc" format (the SVR4 portable format with no CRC, magic 070701) — the
// format the Linux kernel unpacks as an initramfs (Documentation/driver-api/early-userspace/
// buffer-format.rst). Each entry is a 110-byte ASCII header of thirteen 8-digit hex fields, the
// NUL-terminated name, padding to a multiple of 4, the data, padding to a multiple of 4; a
// "TRAILER!!!" entry ends the archive. Deterministic: owners, times and inode numbers come from the
// entries and their order, never from the host.

export type CpioEntry =
  | { type: "dir"; name: string; mode?: number }
  | { type: "file"; name: string; data: Uint8Array; mode?: number }
  | { type: "symlink"; name: string; target: string }
  | { type: "char" | "block"; name: string; major: number; minor: number; mode?: number };

export interface CpioOptions {
  /** Modification time of every entry, in seconds since the epoch (default 0). */
  mtime?: number;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const TRAILER = "TRAILER!!!";

/** The archive holding `entries` in order, owned by root, followed by the trailer. */
export function writeCpio(entries: readonly CpioEntry[], opts: CpioOptions = {}): Uint8Array {
  const mtime = opts.mtime ?? 0;
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  let size = 0;
  const push = (b: Uint8Array) => {
    parts.push(b);
    size += b.length;
    const pad = (4 - (size % 4)) % 4;
    if (pad) {
      parts.push(new Uint8Array(pad));
      size += pad;
    }
  };
  const names = new Set<string>();
  const record = (ino: number, mode: number, nlink: number, name: string, data: Uint8Array, rdev = [0, 0]) => {
    const nameBytes = enc.encode(name + "\0");
    const fields = [ino, mode, 0, 0, nlink, mtime, data.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0];
    const header = "070701" + fields.map((f) => hex8(f)).join("");
    const hdrName = new Uint8Array(header.length + nameBytes.length);
    hdrName.set(enc.encode(header));
    hdrName.set(nameBytes, header.length);
    push(hdrName);
    if (data.length) push(data);
  };

  entries.forEach((e, k) => {
    const name = e.name.replace(/^\/+/, "");
    if (name === "" || name === TRAILER || name.split("/").some((c) => c === "" || c === "..")) {
      throw new Error(`cpio: bad entry name "${e.name}"`);
    }
    if (names.has(name)) throw new Error(`cpio: duplicate entry "${name}"`);
    names.add(name);
    const ino = k + 1;
    switch (e.type) {
      case "dir":
        record(ino, S_IFDIR | perm(e.mode ?? 0o755), 2, name, new Uint8Array(0));
        break;
      case "file":
        record(ino, S_IFREG | perm(e.mode ?? 0o644), 1, name, e.data);
        break;
      case "symlink":
        record(ino, S_IFLNK | 0o777, 1, name, enc.encode(e.target));
        break;
      case "char":
      case "block":
        record(ino, (e.type === "char" ? S_IFCHR : S_IFBLK) | perm(e.mode ?? 0o600), 1, name, new Uint8Array(0), [e.major, e.minor]);
        break;
    }
  });
  record(0, 0, 1, TRAILER, new Uint8Array(0));

  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function perm(mode: number): number {
  return mode & 0o7777;
}

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`cpio: field value ${n} does not fit in 32 bits`);
  return n.toString(16).toUpperCase().padStart(8, "0");
}

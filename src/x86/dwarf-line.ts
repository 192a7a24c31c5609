// Just enough of DWARF (versions 2 to 5) to name the source line of a code address: the line
// number programs of `.debug_line`, run once into one table sorted by address. No npm package
// reads DWARF line tables on Node (those there are for WebAssembly or bind native libraries), so
// this reads them itself; the ELF sections come from ./elf32.ts. Debian's kernel (vmlinux-dbg) has
// version 5 units whose paths are in `.debug_line_str`; older compilers write version 4 with
// paths inline.

import { elf32Sections, sectionBytes } from "./elf32.js";

/** The sections a line table is read from: `.debug_line`, and the string sections its paths may be in. */
export interface LineSections {
  debugLine: Uint8Array;
  lineStr?: Uint8Array;
  str?: Uint8Array;
}

/** The line sections of an ELF, or null when it has no `.debug_line` (no DWARF line information). */
export function elfLineSections(elf: Uint8Array): LineSections | null {
  const sections = elf32Sections(elf);
  const get = (name: string) => {
    const s = sections.find((x) => x.name === name);
    return s === undefined ? undefined : sectionBytes(elf, s);
  };
  const debugLine = get(".debug_line");
  return debugLine === undefined ? null : { debugLine, lineStr: get(".debug_line_str"), str: get(".debug_str") };
}

export class DwarfError extends Error {
  override name = "DwarfError";
}

// Forms a version 5 header's entry formats use (DWARF 5, 7.5.6).
const FORM_BLOCK = 0x09, FORM_DATA1 = 0x0b, FORM_DATA2 = 0x05, FORM_DATA4 = 0x06, FORM_DATA8 = 0x07, FORM_DATA16 = 0x1e;
const FORM_STRING = 0x08, FORM_STRP = 0x0e, FORM_UDATA = 0x0f, FORM_LINE_STRP = 0x1f;
const LNCT_PATH = 1, LNCT_DIRECTORY_INDEX = 2;

/** A cursor over little-endian bytes. */
class Reader {
  private readonly view: DataView;
  constructor(readonly buf: Uint8Array, public at = 0) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  u8(): number {
    if (this.at >= this.buf.length) throw new DwarfError("truncated .debug_line");
    return this.buf[this.at++];
  }
  u16(): number {
    const v = this.view.getUint16(this.at, true);
    this.at += 2;
    return v;
  }
  u32(): number {
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }
  /** An offset or a length: 4 bytes, or 8 in 64-bit DWARF (whose high half must be 0 here). */
  offset(wide: boolean): number {
    const lo = this.u32();
    if (wide && this.u32() !== 0) throw new DwarfError("a 64-bit .debug_line offset beyond 4 GiB");
    return lo;
  }
  uleb(): number {
    return this.leb(false);
  }
  sleb(): number {
    return this.leb(true);
  }
  /** LEB128; signed, the last byte's bit 6 is the sign of all the bits read. */
  private leb(signed: boolean): number {
    let v = 0, mul = 1, b: number;
    do {
      b = this.u8();
      v += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80);
    return signed && b & 0x40 ? v - mul : v;
  }
  cstring(): string {
    const end = this.buf.indexOf(0, this.at);
    if (end < 0) throw new DwarfError("unterminated string in .debug_line");
    const s = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.at, end - this.at).toString("utf8");
    this.at = end + 1;
    return s;
  }
}

function stringAt(section: Uint8Array | undefined, offset: number, name: string): string {
  if (section === undefined || offset >= section.length) throw new DwarfError(`a path in ${name}, which is missing or too short`);
  return new Reader(section, offset).cstring();
}

/** A source position: the file's path as the compiler wrote it (directory and name) and the line. */
export interface SourceLine {
  file: string;
  line: number;
}

/**
 * Every row of every line number program, by address: `lookup(addr)` is the line the compiler
 * says the instruction at `addr` came from (the row at or before it in its sequence).
 */
export class LineTable {
  private constructor(
    private readonly addrs: Uint32Array,
    /** The row's line; 0 ends a sequence (no line from there on). */
    private readonly lines: Uint32Array,
    private readonly files: Uint32Array,
    private readonly paths: string[],
  ) {}

  get rows(): number {
    return this.addrs.length;
  }

  lookup(addr: number): SourceLine | undefined {
    const a = addr >>> 0;
    let lo = 0, hi = this.addrs.length - 1, best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.addrs[mid] <= a) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (best < 0 || this.lines[best] === 0) return undefined;
    return { file: this.paths[this.files[best]], line: this.lines[best] };
  }

  /** Runs every unit's line program; throws a DwarfError naming what is wrong. */
  static read(s: LineSections): LineTable {
    const paths: string[] = [];
    const pathIds = new Map<string, number>();
    const pathId = (p: string) => {
      let id = pathIds.get(p);
      if (id === undefined) pathIds.set(p, (id = paths.push(p) - 1));
      return id;
    };
    let addrs = new Uint32Array(1 << 16), lines = new Uint32Array(1 << 16), files = new Uint32Array(1 << 16);
    let n = 0;
    const row = (addr: number, file: number, line: number) => {
      if (n === addrs.length) {
        const grow = (a: Uint32Array) => {
          const b = new Uint32Array(a.length * 2);
          b.set(a);
          return b;
        };
        addrs = grow(addrs);
        lines = grow(lines);
        files = grow(files);
      }
      addrs[n] = addr >>> 0;
      lines[n] = line;
      files[n] = file;
      n++;
    };
    /** Sequences as [first row, end row): each in address order, sorted among themselves below. */
    const sequences: [number, number][] = [];

    const r = new Reader(s.debugLine);
    while (r.at < s.debugLine.length) {
      let length = r.u32();
      const wide = length === 0xffffffff;
      if (wide) length = r.offset(true);
      const end = r.at + length;
      if (end > s.debugLine.length) throw new DwarfError("a .debug_line unit runs past its section");
      const version = r.u16();
      if (version < 2 || version > 5) throw new DwarfError(`.debug_line version ${version} (this reads 2 to 5)`);
      if (version >= 5) {
        r.u8(); // address size: set_address's operand says it too
        r.u8(); // segment selector size
      }
      const headerLength = r.offset(wide);
      const program = r.at + headerLength;
      const minInsn = r.u8();
      if (version >= 4) r.u8(); // maximum operations per instruction: 1 on x86
      r.u8(); // default is_stmt
      const lineBase = (r.u8() << 24) >> 24;
      const lineRange = r.u8();
      const opcodeBase = r.u8();
      const argCounts = [0];
      for (let i = 1; i < opcodeBase; i++) argCounts.push(r.u8());
      if (lineRange === 0) throw new DwarfError("a .debug_line unit with a line range of 0");

      const dirs: string[] = [];
      const fileIds: number[] = [];
      const join = (dir: string | undefined, name: string) => (dir === undefined || dir === "" || name.startsWith("/") ? name : `${dir}/${name}`);
      if (version >= 5) {
        const entries = (): { path: string; dir: number }[] => {
          const formats: [number, number][] = [];
          const count = r.u8();
          for (let i = 0; i < count; i++) formats.push([r.uleb(), r.uleb()]);
          const out: { path: string; dir: number }[] = [];
          const total = r.uleb();
          for (let i = 0; i < total; i++) {
            const e = { path: "", dir: 0 };
            for (const [type, form] of formats) {
              let value: number | string;
              switch (form) {
                case FORM_STRING: value = r.cstring(); break;
                case FORM_LINE_STRP: value = stringAt(s.lineStr, r.offset(wide), ".debug_line_str"); break;
                case FORM_STRP: value = stringAt(s.str, r.offset(wide), ".debug_str"); break;
                case FORM_UDATA: value = r.uleb(); break;
                case FORM_DATA1: value = r.u8(); break;
                case FORM_DATA2: value = r.u16(); break;
                case FORM_DATA4: value = r.u32(); break;
                case FORM_DATA8: value = r.u32() + r.u32() * 2 ** 32; break;
                case FORM_DATA16: r.at += 16; value = 0; break;
                case FORM_BLOCK: r.at += r.uleb(); value = 0; break;
                default: throw new DwarfError(`.debug_line entry form 0x${form.toString(16)} (not read here)`);
              }
              if (type === LNCT_PATH && typeof value === "string") e.path = value;
              else if (type === LNCT_DIRECTORY_INDEX && typeof value === "number") e.dir = value;
            }
            out.push(e);
          }
          return out;
        };
        for (const d of entries()) dirs.push(d.path);
        for (const f of entries()) fileIds.push(pathId(join(dirs[f.dir], f.path)));
      } else {
        // Directory 0 and file 0 are the unit's own; the tables list from 1.
        dirs.push("");
        for (let d = r.cstring(); d !== ""; d = r.cstring()) dirs.push(d);
        fileIds.push(pathId("?"));
        for (let f = r.cstring(); f !== ""; f = r.cstring()) {
          const dir = r.uleb();
          r.uleb();
          r.uleb();
          fileIds.push(pathId(join(dirs[dir], f)));
        }
      }

      r.at = program;
      let addr = 0, file = version >= 5 ? 0 : 1, line = 1, first = n;
      const reset = () => {
        addr = 0;
        file = version >= 5 ? 0 : 1;
        line = 1;
      };
      const emit = () => row(addr, fileIds[file] ?? pathId("?"), line);
      while (r.at < end) {
        const op = r.u8();
        if (op >= opcodeBase) {
          const adj = op - opcodeBase;
          addr += Math.floor(adj / lineRange) * minInsn;
          line += lineBase + (adj % lineRange);
          emit();
        } else if (op === 0) {
          const len = r.uleb();
          const next = r.at + len;
          const sub = r.u8();
          if (sub === 1) {
            // End of a sequence: a row with line 0, so that addresses past it have no line.
            row(addr, 0, 0);
            if (n > first) sequences.push([first, n]);
            first = n;
            reset();
          } else if (sub === 2) addr = r.u32(); // an 8-byte address's high half is skipped with the rest (r.at = next)
          else if (sub === 3) {
            const name = r.cstring();
            const dir = r.uleb();
            fileIds.push(pathId(join(dirs[dir], name)));
          }
          r.at = next;
        } else {
          switch (op) {
            case 1: emit(); break; // copy
            case 2: addr += r.uleb() * minInsn; break;
            case 3: line += r.sleb(); break;
            case 4: file = r.uleb(); break;
            case 8: addr += Math.floor((255 - opcodeBase) / lineRange) * minInsn; break;
            case 9: addr += r.u16(); break;
            default: for (let k = 0; k < argCounts[op]; k++) r.uleb();
          }
        }
      }
      r.at = end;
      // A sequence without its end (a cut unit) is left out.
      n = first;
    }

    // Rows are in address order within a sequence; sequences are put in order by where they start
    // (a sequence that ends where the next starts: the start wins, being after it).
    sequences.sort((a, b) => addrs[a[0]] - addrs[b[0]]);
    const out = { addrs: new Uint32Array(n), lines: new Uint32Array(n), files: new Uint32Array(n) };
    let k = 0;
    for (const [from, to] of sequences) {
      // A sequence that covers no bytes (its end at its start, as for discarded functions) says nothing.
      if (addrs[to - 1] === addrs[from]) continue;
      out.addrs.set(addrs.subarray(from, to), k);
      out.lines.set(lines.subarray(from, to), k);
      out.files.set(files.subarray(from, to), k);
      k += to - from;
    }
    return new LineTable(out.addrs.slice(0, k), out.lines.slice(0, k), out.files.slice(0, k), paths);
  }
}

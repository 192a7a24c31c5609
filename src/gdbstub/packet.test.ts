import { describe, expect, it } from "vitest";
import {
  PacketDecoder,
  checksum,
  encodeRunLength,
  escapeBinary,
  frame,
  unescapeBinary,
  type PacketEvent,
} from "./packet.js";

const bytes = (s: string) => Uint8Array.from(Buffer.from(s, "latin1"));
const feed = (s: string, max?: number) => new PacketDecoder(max).feed(bytes(s));

/** Run-length expansion as gdb's reader does it, to check the encoder against the spec. */
function expand(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "*") out += out[out.length - 1].repeat(s.charCodeAt(++i) - 29);
    else out += s[i];
  }
  return out;
}

describe("packet framing", () => {
  it("computes the checksum as the byte sum modulo 256", () => {
    expect(checksum("")).toBe(0);
    expect(checksum("?")).toBe(0x3f);
    expect(checksum("qSupported")).toBe(0x37);
    expect(frame("OK")).toBe("$OK#9a");
  });

  it("decodes a packet with a good checksum", () => {
    expect(feed("$?#3f")).toEqual([{ type: "packet", payload: "?" }]);
    expect(feed("$g#67")).toEqual([{ type: "packet", payload: "g" }]);
  });

  it("accepts upper-case checksum digits", () => {
    expect(feed("$OK#9A")).toEqual([{ type: "packet", payload: "OK" }]);
  });

  it("decodes a packet fed one byte at a time", () => {
    const d = new PacketDecoder();
    const events: PacketEvent[] = [];
    for (const b of bytes(frame("m1000,4"))) events.push(...d.feed(Uint8Array.of(b)));
    expect(events).toEqual([{ type: "packet", payload: "m1000,4" }]);
  });

  it("reports a bad checksum and a non-hex checksum as badChecksum", () => {
    expect(feed("$?#40")).toEqual([{ type: "badChecksum" }]);
    expect(feed("$?#zz")).toEqual([{ type: "badChecksum" }]);
    expect(feed("$?#3z")).toEqual([{ type: "badChecksum" }]);
  });

  it("sees acks, nacks and a Ctrl-C between packets", () => {
    expect(feed("+-\x03")).toEqual([{ type: "ack" }, { type: "nack" }, { type: "interrupt" }]);
  });

  it("treats 0x03, + and - inside a packet as data", () => {
    const payload = "X0,3:\x03+-";
    expect(feed(frame(payload))).toEqual([{ type: "packet", payload }]);
  });

  it("ignores garbage between packets", () => {
    expect(feed("hello\r\n$?#3fxyz#12$g#67")).toEqual([
      { type: "packet", payload: "?" },
      { type: "packet", payload: "g" },
    ]);
  });

  it("abandons a partial packet when a new one starts", () => {
    expect(feed("$m10$?#3f")).toEqual([{ type: "packet", payload: "?" }]);
  });

  it("drops an oversized packet at its end and keeps decoding after it", () => {
    const big = "M0,9000:" + "00".repeat(0x9000);
    expect(feed(frame(big) + "$?#3f")).toEqual([
      { type: "oversized", size: big.length },
      { type: "packet", payload: "?" },
    ]);
  });

  it("honours a configured maximum exactly", () => {
    expect(feed(frame("abcd"), 4)).toEqual([{ type: "packet", payload: "abcd" }]);
    expect(feed(frame("abcde"), 4)).toEqual([{ type: "oversized", size: 5 }]);
  });
});

describe("run-length encoding", () => {
  it("expands x*n into n-29 more copies of x", () => {
    // '0' then "* " (32-29 = 3 more): four zeros.
    expect(feed(frame("0* "))).toEqual([{ type: "packet", payload: "0000" }]);
    expect(feed(frame("a*!b"))).toEqual([{ type: "packet", payload: "aaaaab" }]);
  });

  it("rejects a run marker with nothing before it, without a count, or with a count out of range", () => {
    expect(feed(frame("*!"))[0].type).toBe("malformed");
    expect(feed(frame("a*"))[0].type).toBe("malformed");
    expect(feed(frame("a*\x01"))[0].type).toBe("malformed");
    expect(feed(frame("a*\x7f"))[0].type).toBe("malformed");
  });

  it("refuses an expansion past the maximum packet size", () => {
    expect(feed(frame("a*~*~*~"), 100)[0].type).toBe("oversized");
  });

  it("encodes runs so that gdb's expansion gives the original back", () => {
    for (const s of ["", "abc", "0000", "00000000", "x".repeat(7), "x".repeat(8), "y".repeat(9), "0".repeat(500), "ab" + "f".repeat(98) + "c"]) {
      const enc = encodeRunLength(s);
      expect(expand(enc)).toBe(s);
      expect(enc).not.toMatch(/\*[#$]/);
    }
    expect(encodeRunLength("000000000")).toBe("0*%");
    expect(encodeRunLength("00000000")).toBe("0*\"00");
    expect(encodeRunLength("0".repeat(352)).length).toBeLessThan(20);
  });

  it("never compresses framing or escape characters", () => {
    expect(encodeRunLength("}}}}}")).toBe("}}}}}");
  });

  it("round-trips an encoded frame through the decoder", () => {
    const payload = "T05thread:1;" + "0".repeat(100) + "ffffffff";
    expect(feed(frame(payload, true))).toEqual([{ type: "packet", payload }]);
  });
});

describe("binary escaping", () => {
  it("escapes # $ } * as } and the byte xor 0x20", () => {
    expect(escapeBinary(bytes("a#b$c}d*e"))).toBe("a}\x03b}\x04c}]d}\x0ae");
  });

  it("unescapes what it escaped, for every byte value", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(unescapeBinary(escapeBinary(all))).toEqual(all);
  });

  it("rejects data that ends inside an escape", () => {
    expect(unescapeBinary("ab}")).toBeUndefined();
  });

  it("carries escaped binary through framing intact", () => {
    const data = Uint8Array.of(0x23, 0x24, 0x7d, 0x2a, 0x03, 0x00, 0xff);
    const events = feed(frame("X1000,7:" + escapeBinary(data)));
    expect(events[0].type).toBe("packet");
    const payload = (events[0] as { payload: string }).payload;
    expect(unescapeBinary(payload.slice("X1000,7:".length))).toEqual(data);
  });
});

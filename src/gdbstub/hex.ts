// Hex text as the remote protocol spells it: lower-case pairs for bytes, big-endian digit strings
// for numbers (addresses, lengths, register numbers). Parsers return undefined on anything that is
// not strict hex, so that a malformed packet becomes an error reply rather than a NaN in a register.

const HEX = "0123456789abcdef";

export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += HEX[b >> 4] + HEX[b & 15];
  return s;
}

/** Bytes of a hex string, or undefined when it has an odd length or a non-hex digit. */
export function fromHex(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return undefined;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/**
 * An unsigned number of at most 32 significant bits (leading zeros allowed, since gdb pads), or
 * undefined. Addresses on this target are 32-bit: anything wider is a malformed request.
 */
export function parseU32(text: string): number | undefined {
  if (!/^[0-9a-fA-F]+$/.test(text)) return undefined;
  const digits = text.replace(/^0+(?=.)/, "");
  if (digits.length > 8) return undefined;
  return parseInt(digits, 16) >>> 0;
}

/** A 32-bit value as 8 hex digits in target (little-endian) byte order, as `g` and `p` want. */
export function u32le(value: number): string {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value >>> 0, true);
  return toHex(b);
}

export function hexOfText(text: string): string {
  return toHex(new TextEncoder().encode(text));
}

/** Text from hex, or undefined on malformed hex. Invalid UTF-8 is replaced, not fatal. */
export function textOfHex(hex: string): string | undefined {
  const bytes = fromHex(hex);
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
}

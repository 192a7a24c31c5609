// Software extended-precision (80-bit) arithmetic with the x87's rounding, precision control,
// special values and exception flags. JavaScript doubles are never used for a result: every
// operation computes the exact value (or the exact value plus a "sticky" bit below it) in BigInt
// and rounds once, as IEEE 754 and the x87 require.
//
// An 80-bit value is `se` (sign << 15 | 15-bit biased exponent) and `m` (the 64-bit significand
// with its explicit integer bit J at bit 63). Unpacked, a finite value is sig × 2^e with `e` the
// exponent of sig's least significant bit.
//
// Exception behaviour follows the SDM (vol. 1, 4.9 and 8.5): an operation records what it raised
// in `env.flags`; an operation that raised an *unmasked* IE, DE or ZE returns null (the instruction
// must leave its destination alone); unmasked OE/UE on a register destination deliver the result
// with its exponent adjusted by ∓24576, on a memory destination nothing is stored (null).

/** Exception flag bits, as in the status word (and the masks in the control word). */
export const enum Exc { IE = 1, DE = 2, ZE = 4, OE = 8, UE = 16, PE = 32, SF = 64 }

/** Control word rounding control (bits 11:10). */
export const enum Rc { NEAREST = 0, DOWN = 1, UP = 2, ZERO = 3 }

export interface F80 { se: number; m: bigint }

/**
 * What an operation needs from and reports to the FPU: the control word (masks, precision and
 * rounding control) in; the raised exception flags and C1 ("the result was rounded up") out.
 */
export interface FpEnv { cw: number; flags: number; c1: boolean }

export const BIAS = 16383;
const J = 1n << 63n;
const M64 = (1n << 64n) - 1n;
/** The unmasked-overflow/underflow exponent adjustment (SDM vol. 1, 4.9.1.4/5). */
const WRAP = 24576;

/** The x87 "real indefinite": the QNaN every masked invalid operation returns. */
export const INDEFINITE: Readonly<F80> = Object.freeze({ se: 0xffff, m: 0xc000000000000000n });
export const ZERO: Readonly<F80> = Object.freeze({ se: 0, m: 0n });
export const ONE: Readonly<F80> = Object.freeze({ se: BIAS, m: J });

export const enum Cls { ZERO, DENORMAL, NORMAL, INF, QNAN, SNAN, UNSUPPORTED }

export function classify(a: F80): Cls {
  const e = a.se & 0x7fff;
  if (e === 0) return a.m === 0n ? Cls.ZERO : Cls.DENORMAL; // pseudo-denormals (J set) too
  if ((a.m & J) === 0n) return Cls.UNSUPPORTED; // unnormals, pseudo-infinities, pseudo-NaNs
  if (e !== 0x7fff) return Cls.NORMAL;
  if (a.m === J) return Cls.INF;
  return (a.m & (1n << 62n)) !== 0n ? Cls.QNAN : Cls.SNAN;
}

export const f80 = (se: number, m: bigint): F80 => ({ se: se & 0xffff, m: m & M64 });
export const signOf = (a: F80): number => (a.se >> 15) & 1;
export const neg = (a: F80): F80 => ({ se: a.se ^ 0x8000, m: a.m });
export const abs = (a: F80): F80 => ({ se: a.se & 0x7fff, m: a.m });
const inf = (sign: number): F80 => ({ se: (sign << 15) | 0x7fff, m: J });
const zero = (sign: number): F80 => ({ se: sign << 15, m: 0n });
const isNaNCls = (c: Cls): boolean => c === Cls.QNAN || c === Cls.SNAN;

/** Significand bits for the control word's precision control (00 = 24, 10 = 53, 11 = 64). */
export function precisionBits(cw: number): number {
  const pc = (cw >> 8) & 3;
  return pc === 0 ? 24 : pc === 2 ? 53 : 64;
}

export function bitLen(x: bigint): number {
  let n = 0;
  while (x >= 1n << 64n) {
    x >>= 64n;
    n += 64;
  }
  const hi = Number(x >> 32n);
  return hi !== 0 ? n + 64 - Math.clz32(hi) : n + 32 - Math.clz32(Number(x));
}

/** A finite nonzero value as sig × 2^e, sig normalized to 64 bits (denormals included). */
interface Unpacked { sign: number; sig: bigint; e: number }

function unpack(a: F80): Unpacked {
  const exp = Math.max(a.se & 0x7fff, 1);
  let sig = a.m;
  let e = exp - BIAS - 63;
  if ((sig & J) === 0n) {
    const s = 64 - bitLen(sig);
    sig <<= BigInt(s);
    e -= s;
  }
  return { sign: (a.se >> 15) & 1, sig, e };
}

function unmasked(env: FpEnv, bits: number): boolean {
  return (env.flags & bits & ~env.cw & 0x3f) !== 0;
}

// ------------------------------------------------------------------------------------------------
// Rounding: the one place a result loses bits.

/** Out of `rshift`: whether bits were lost, and whether the kept part was incremented. */
let rInexact = false;
let rUp = false;

/** sig × 2^-shift rounded to an integer by `rc` (sticky: a nonzero fraction below sig's LSB). */
function rshift(sig: bigint, shift: number, sticky: boolean, rc: number, sign: number): bigint {
  let q: bigint;
  let rest = 0n;
  let half = 0n;
  if (shift <= 0) {
    q = sig << BigInt(-shift);
  } else {
    const s = BigInt(shift);
    q = sig >> s;
    rest = sig & ((1n << s) - 1n);
    half = 1n << (s - 1n);
  }
  rInexact = rest !== 0n || sticky;
  rUp = false;
  if (rInexact) {
    if (rc === Rc.NEAREST) rUp = shift > 0 && (rest > half || (rest === half && (sticky || (q & 1n) === 1n)));
    else if (rc === Rc.DOWN) rUp = sign === 1;
    else if (rc === Rc.UP) rUp = sign === 0;
  }
  return rUp ? q + 1n : q;
}

/**
 * x87 detects tininess after rounding (as SoftFloat's 8086 specialization): a result is tiny when,
 * rounded to the precision with an unbounded exponent, it is below the smallest normal.
 */
const TININESS_AFTER_ROUNDING = true;

/** Out of `roundCore`: the biased exponent (0: denormal or zero) and the p-bit significand. */
let outE = 0;
let outQ = 0n;

/**
 * Rounds (-1)^sign × (sig + sticky·ε) × 2^e to `p` significand bits in a format with `bias` and
 * largest finite biased exponent `emax`, with the masked and unmasked overflow/underflow
 * responses. Returns false when nothing may be stored (memory destination, unmasked OE/UE).
 * Callers pass `sticky` only with sig holding at least p + 2 bits.
 */
function roundCore(env: FpEnv, sign: number, sig: bigint, e: number, sticky: boolean, p: number, bias: number, emax: number, toMemory: boolean): boolean {
  const rc = (env.cw >> 10) & 3;
  if (sig === 0n) {
    outE = 0;
    outQ = 0n;
    return true;
  }
  const n = bitLen(sig);
  let E = e + n - 1 + bias; // biased exponent of the leading bit
  if (E < 1) {
    let tiny = true;
    if (TININESS_AFTER_ROUNDING && E === 0) {
      const q = rshift(sig, E - (p - 1) - bias - e, sticky, rc, sign);
      tiny = q < 1n << BigInt(p);
    }
    if (tiny) {
      if ((env.cw & Exc.UE) === 0) {
        env.flags |= Exc.UE;
        if (toMemory) return false;
        if (E + WRAP < 1) {
          // So tiny that even the bias adjustment cannot bring it into range (FSCALE can do
          // this): the host delivers a signed zero, inexact.
          env.flags |= Exc.PE;
          env.c1 = false;
          outE = 0;
          outQ = 0n;
          return true;
        }
        return roundCore(env, sign, sig, e + WRAP, sticky, p, bias, emax, false);
      }
      const q = rshift(sig, 1 - (p - 1) - bias - e, sticky, rc, sign);
      if (rInexact) env.flags |= Exc.UE | Exc.PE;
      env.c1 = rUp;
      outQ = q;
      outE = q >= 1n << BigInt(p - 1) ? 1 : 0;
      return true;
    }
  }
  const lowE = Math.max(E, 1);
  let q = rshift(sig, lowE - (p - 1) - bias - e, sticky, rc, sign);
  if (q >= 1n << BigInt(p)) {
    q >>= 1n;
    E = lowE + 1;
  } else {
    E = q >= 1n << BigInt(p - 1) ? lowE : 0;
  }
  if (rInexact) env.flags |= Exc.PE;
  env.c1 = rUp;
  if (E > emax) {
    if ((env.cw & Exc.OE) === 0) {
      env.flags = (env.flags | Exc.OE) & ~Exc.PE;
      env.c1 = false;
      if (toMemory) return false;
      if (E - WRAP > emax) {
        // Too large even bias-adjusted: the host delivers infinity, inexact, rounded up.
        env.flags |= Exc.PE;
        env.c1 = true;
        outE = emax + 1;
        outQ = 1n << BigInt(p - 1);
        return true;
      }
      return roundCore(env, sign, sig, e - WRAP, sticky, p, bias, emax, false);
    }
    env.flags |= Exc.OE | Exc.PE;
    const toInf = rc === Rc.NEAREST || (rc === Rc.DOWN && sign === 1) || (rc === Rc.UP && sign === 0);
    env.c1 = toInf;
    if (toInf) {
      outE = emax + 1;
      outQ = 1n << BigInt(p - 1);
    } else {
      outE = emax;
      outQ = (1n << BigInt(p)) - 1n;
    }
    return true;
  }
  outE = E;
  outQ = q;
  return true;
}

/** Rounds to an 80-bit register value with `p` significand bits. */
function round80(env: FpEnv, sign: number, sig: bigint, e: number, sticky: boolean, p = 64): F80 {
  roundCore(env, sign, sig, e, sticky, p, BIAS, 0x7ffe, false);
  return { se: (sign << 15) | outE, m: outQ << BigInt(64 - p) };
}

/** Rounds an exact value to a register with precision control (arithmetic results). */
export function roundExact(env: FpEnv, sign: number, sig: bigint, e: number, sticky = false, p = 64): F80 {
  return round80(env, sign, sig, e, sticky, p);
}

// ------------------------------------------------------------------------------------------------
// NaNs and operand checks

const quiet = (a: F80): F80 => ({ se: a.se, m: a.m | (1n << 62n) });

/** The x87 NaN rules (SDM vol. 1, table 4-7) for one or two operands, at least one a NaN. */
function nanResult(env: FpEnv, a: F80, b?: F80): F80 {
  const ca = classify(a);
  const cb = b ? classify(b) : Cls.ZERO;
  if (ca === Cls.SNAN || cb === Cls.SNAN) env.flags |= Exc.IE;
  if (!b || !isNaNCls(cb)) return quiet(a);
  if (!isNaNCls(ca)) return quiet(b);
  if (ca === Cls.SNAN && cb === Cls.QNAN) return b;
  if (cb === Cls.SNAN && ca === Cls.QNAN) return a;
  const ma = a.m | (1n << 62n);
  const mb = b.m | (1n << 62n);
  if (ma > mb) return quiet(a);
  if (mb > ma) return quiet(b);
  return quiet(a.se < b.se ? a : b);
}

function invalid(env: FpEnv): F80 {
  env.flags |= Exc.IE;
  return INDEFINITE;
}

/**
 * The checks every arithmetic operation starts with: unsupported formats and NaNs. Returns the
 * result when they decide it, else undefined.
 */
function specials(env: FpEnv, ca: Cls, cb: Cls, a: F80, b: F80): F80 | undefined {
  if (ca === Cls.UNSUPPORTED || cb === Cls.UNSUPPORTED) return invalid(env);
  if (isNaNCls(ca) || isNaNCls(cb)) return nanResult(env, a, b);
  return undefined;
}

/** Sets DE for denormal operands; true when that stops the operation (DE unmasked). */
function denormal(env: FpEnv, ca: Cls, cb: Cls = Cls.ZERO): boolean {
  if (ca === Cls.DENORMAL || cb === Cls.DENORMAL) env.flags |= Exc.DE;
  return unmasked(env, Exc.DE);
}

/** null when an unmasked IE/DE/ZE means the destination must not change. */
function done(env: FpEnv, r: F80): F80 | null {
  return unmasked(env, Exc.IE | Exc.DE | Exc.ZE) ? null : r;
}

// ------------------------------------------------------------------------------------------------
// The basic operations

/** a + b (or a − b with `subtract`), rounded to the control word's precision. */
export function add(env: FpEnv, a: F80, b: F80, subtract = false, bDenormal = false): F80 | null {
  const ca = classify(a), cb = classify(b);
  const s = specials(env, ca, cb, a, b);
  if (s) return done(env, s);
  if (subtract) b = neg(b);
  if (bDenormal) env.flags |= Exc.DE;
  const rc = (env.cw >> 10) & 3;
  if (ca === Cls.INF || cb === Cls.INF) {
    if (ca === Cls.INF && cb === Cls.INF && signOf(a) !== signOf(b)) return done(env, invalid(env));
    if (denormal(env, ca, cb)) return null;
    return ca === Cls.INF ? a : b;
  }
  if (denormal(env, ca, cb)) return null;
  if (ca === Cls.ZERO && cb === Cls.ZERO) {
    return zero(signOf(a) === signOf(b) ? signOf(a) : rc === Rc.DOWN ? 1 : 0);
  }
  const p = precisionBits(env.cw);
  if (ca === Cls.ZERO) { const u = unpack(b); return round80(env, u.sign, u.sig, u.e, false, p); }
  if (cb === Cls.ZERO) { const u = unpack(a); return round80(env, u.sign, u.sig, u.e, false, p); }
  let x = unpack(a), y = unpack(b);
  if (x.e < y.e) [x, y] = [y, x];
  const d = x.e - y.e;
  let sx: bigint, sy: bigint, e: number;
  if (d <= 160) {
    sx = x.sig << BigInt(d);
    sy = y.sig;
    e = y.e;
  } else {
    // y lies entirely below x's rounding position: it only decides direction (a jammed 1).
    sx = x.sig << 70n;
    sy = 1n;
    e = x.e - 70;
  }
  let sig: bigint, sign: number;
  if (x.sign === y.sign) {
    sig = sx + sy;
    sign = x.sign;
  } else if (sx >= sy) {
    sig = sx - sy;
    sign = x.sign;
  } else {
    sig = sy - sx;
    sign = y.sign;
  }
  if (sig === 0n) return zero(rc === Rc.DOWN ? 1 : 0);
  return round80(env, sign, sig, e, false, p);
}

export function mul(env: FpEnv, a: F80, b: F80, bDenormal = false): F80 | null {
  const ca = classify(a), cb = classify(b);
  const s = specials(env, ca, cb, a, b);
  if (s) return done(env, s);
  if (bDenormal) env.flags |= Exc.DE;
  const sign = signOf(a) ^ signOf(b);
  if (ca === Cls.INF || cb === Cls.INF) {
    if (ca === Cls.ZERO || cb === Cls.ZERO) return done(env, invalid(env));
    if (denormal(env, ca, cb)) return null;
    return inf(sign);
  }
  if (denormal(env, ca, cb)) return null;
  if (ca === Cls.ZERO || cb === Cls.ZERO) return zero(sign);
  const x = unpack(a), y = unpack(b);
  return round80(env, sign, x.sig * y.sig, x.e + y.e, false, precisionBits(env.cw));
}

export function div(env: FpEnv, a: F80, b: F80, aDenormal = false, bDenormal = false): F80 | null {
  const ca = classify(a), cb = classify(b);
  const s = specials(env, ca, cb, a, b);
  if (s) return done(env, s);
  const sign = signOf(a) ^ signOf(b);
  if (ca === Cls.INF) {
    if (cb === Cls.INF) return done(env, invalid(env));
    if (bDenormal) env.flags |= Exc.DE;
    if (denormal(env, ca, cb)) return null;
    return inf(sign);
  }
  if (cb === Cls.INF) {
    if (aDenormal) env.flags |= Exc.DE;
    if (denormal(env, ca, cb)) return null;
    return zero(sign);
  }
  if (ca === Cls.ZERO && cb === Cls.ZERO) return done(env, invalid(env));
  if (cb === Cls.ZERO) {
    // Division by zero outranks a denormal dividend.
    env.flags |= Exc.ZE;
    return done(env, inf(sign));
  }
  if (aDenormal || bDenormal) env.flags |= Exc.DE;
  if (denormal(env, ca, cb)) return null;
  if (ca === Cls.ZERO) return zero(sign);
  const x = unpack(a), y = unpack(b);
  const n = x.sig << 130n;
  const q = n / y.sig;
  return round80(env, sign, q, x.e - y.e - 130, q * y.sig !== n, precisionBits(env.cw));
}

export function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt((bitLen(n) + 1) >> 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

export function sqrt(env: FpEnv, a: F80): F80 | null {
  const ca = classify(a);
  const s = specials(env, ca, Cls.ZERO, a, ZERO);
  if (s) return done(env, s);
  if (ca === Cls.ZERO) return a;
  if (signOf(a) === 1) return done(env, invalid(env));
  if (ca === Cls.INF) return a;
  if (denormal(env, ca)) return null;
  const x = unpack(a);
  const k = (x.e & 1) === 0 ? 140 : 141;
  const n = x.sig << BigInt(k);
  const r = isqrt(n);
  return round80(env, 0, r, (x.e - k) / 2, r * r !== n, precisionBits(env.cw));
}

// ------------------------------------------------------------------------------------------------
// Comparison

export const enum Cmp { LT = 0, EQ = 1, GT = 2, UN = 3 }

/**
 * Compares a with b. `quietNaN` (FUCOM*): QNaN operands do not raise IE. The result is decided
 * even when an exception is unmasked (the host's condition codes say so; the instruction then
 * does not pop).
 */
export function compare(env: FpEnv, a: F80, b: F80, quietNaN: boolean, bDenormal = false): Cmp {
  const ca = classify(a), cb = classify(b);
  if (ca === Cls.UNSUPPORTED || cb === Cls.UNSUPPORTED || ca === Cls.SNAN || cb === Cls.SNAN) {
    env.flags |= Exc.IE;
    return Cmp.UN;
  }
  if (isNaNCls(ca) || isNaNCls(cb)) {
    if (!quietNaN) env.flags |= Exc.IE;
    return Cmp.UN;
  }
  if (bDenormal) env.flags |= Exc.DE;
  denormal(env, ca, cb);
  const va = order(a, ca), vb = order(b, cb);
  if (va === 0n && vb === 0n) return Cmp.EQ;
  const sa = signOf(a), sb = signOf(b);
  if (va === 0n) return sb ? Cmp.GT : Cmp.LT;
  if (vb === 0n) return sa ? Cmp.LT : Cmp.GT;
  if (sa !== sb) return sa ? Cmp.LT : Cmp.GT;
  if (va === vb) return Cmp.EQ;
  return (va < vb) !== (sa === 1) ? Cmp.LT : Cmp.GT;
}

/** A key ordering magnitudes of non-NaN values (0 for zeros); pseudo-denormals order as exp 1. */
function order(a: F80, c: Cls): bigint {
  if (c === Cls.ZERO) return 0n;
  const exp = BigInt(Math.max(a.se & 0x7fff, 1));
  return (exp << 64n) + a.m;
}

// ------------------------------------------------------------------------------------------------
// Integers

/** Exact conversion of an integer (|v| < 2^64) to extended precision. */
export function fromInt(v: bigint): F80 {
  if (v === 0n) return ZERO;
  const sign = v < 0n ? 1 : 0;
  const mag = sign ? -v : v;
  const n = bitLen(mag);
  return { se: (sign << 15) | (BIAS + n - 1), m: mag << BigInt(64 - n) };
}

/**
 * Rounds a finite value to an integer by the rounding control (or toward zero): the integer, with
 * PE and C1 set as the rounding says. Zeros and values below 1 handled; a, not NaN/inf.
 */
function roundInt(env: FpEnv, a: F80, rc: number): bigint {
  const c = classify(a);
  if (c === Cls.ZERO) return 0n;
  const u = unpack(a);
  const q = rshift(u.sig, -u.e, false, rc, u.sign);
  if (rInexact) env.flags |= Exc.PE;
  env.c1 = rUp;
  return u.sign ? -q : q;
}

/**
 * FIST/FISTP (and FISTTP's truncation with `truncate`): the integer of `bits` bits as a BigInt,
 * the integer indefinite for masked invalid operations, null when IE is unmasked.
 */
export function toInt(env: FpEnv, a: F80, bits: 16 | 32 | 64, truncate = false): bigint | null {
  const c = classify(a);
  const indefinite = -(1n << BigInt(bits - 1));
  if (c === Cls.UNSUPPORTED || isNaNCls(c) || c === Cls.INF) {
    env.flags |= Exc.IE;
    return unmasked(env, Exc.IE) ? null : indefinite;
  }
  // Out of range by exponent alone (saves rounding a huge value).
  if ((a.se & 0x7fff) > BIAS + 64) {
    env.flags |= Exc.IE;
    return unmasked(env, Exc.IE) ? null : indefinite;
  }
  const saved = env.flags;
  const v = roundInt(env, a, truncate ? Rc.ZERO : (env.cw >> 10) & 3);
  if (v < indefinite || v > -indefinite - 1n) {
    env.flags = saved | Exc.IE;
    env.c1 = false;
    return unmasked(env, Exc.IE) ? null : indefinite;
  }
  return v;
}

/** FRNDINT: rounds to an integral value by the rounding control. */
export function roundToInt(env: FpEnv, a: F80): F80 | null {
  const c = classify(a);
  if (c === Cls.UNSUPPORTED) return done(env, invalid(env));
  if (isNaNCls(c)) return done(env, nanResult(env, a));
  if (c === Cls.INF || c === Cls.ZERO) return a;
  if (denormal(env, c)) return null;
  if ((a.se & 0x7fff) >= BIAS + 63) return a;
  const v = roundInt(env, a, (env.cw >> 10) & 3);
  return v === 0n ? zero(signOf(a)) : { ...fromInt(v), se: (signOf(a) << 15) | (fromInt(v).se & 0x7fff) };
}

// ------------------------------------------------------------------------------------------------
// Single and double precision

/**
 * FLD m32: exact widening; SNaN → IE (quieted), denormal → DE. As an arithmetic operand
 * (`operand`), an SNaN stays signaling for the operation's NaN rules to see.
 */
export function fromF32(env: FpEnv, bits: number, operand = false): F80 | null {
  const sign = bits >>> 31;
  const exp = (bits >>> 23) & 0xff;
  const frac = BigInt(bits & 0x7fffff);
  return widen(env, sign, exp, frac, 23, 0xff, 127, operand);
}

/** FLD m64. */
export function fromF64(env: FpEnv, bits: bigint, operand = false): F80 | null {
  const sign = Number(bits >> 63n) & 1;
  const exp = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  return widen(env, sign, exp, frac, 52, 0x7ff, 1023, operand);
}

function widen(env: FpEnv, sign: number, exp: number, frac: bigint, fbits: number, emaxAll: number, bias: number, operand: boolean): F80 | null {
  const up = BigInt(63 - fbits);
  if (exp === emaxAll) {
    if (frac === 0n) return inf(sign);
    const nan = { se: (sign << 15) | 0x7fff, m: J | (frac << up) };
    if (!operand && (frac & (1n << BigInt(fbits - 1))) === 0n) {
      env.flags |= Exc.IE;
      return done(env, quiet(nan));
    }
    return nan;
  }
  if (exp === 0) {
    if (frac === 0n) return zero(sign);
    // A load completes even with DE unmasked (the exception is then pending); an arithmetic
    // operand's DE is raised by the operation, after its NaN checks.
    if (!operand) env.flags |= Exc.DE;
    const n = bitLen(frac);
    return { se: (sign << 15) | (BIAS - bias + 1 - (fbits - n + 1)), m: frac << BigInt(64 - n) };
  }
  return { se: (sign << 15) | (exp - bias + BIAS), m: J | (frac << up) };
}

/** FST m32: the float32 bits, or null when nothing may be stored. */
export function toF32(env: FpEnv, a: F80): number | null {
  const r = narrow(env, a, 24, 127, 0xfe, 8);
  return r === null ? null : Number(r) >>> 0;
}

/** FST m64: the float64 bits, or null. */
export function toF64(env: FpEnv, a: F80): bigint | null {
  return narrow(env, a, 53, 1023, 0x7fe, 11);
}

function narrow(env: FpEnv, a: F80, p: number, bias: number, emax: number, ebits: number): bigint | null {
  const c = classify(a);
  const sign = BigInt(signOf(a));
  const fbits = BigInt(p - 1);
  const signBit = sign << BigInt(ebits + p - 1);
  const expAll = BigInt(emax + 1) << fbits;
  switch (c) {
    case Cls.ZERO: return signBit;
    case Cls.INF: return signBit | expAll;
    case Cls.UNSUPPORTED:
      env.flags |= Exc.IE;
      if (unmasked(env, Exc.IE)) return null;
      return narrowNaN(INDEFINITE, p, ebits, emax);
    case Cls.SNAN:
      env.flags |= Exc.IE;
      if (unmasked(env, Exc.IE)) return null;
      return narrowNaN(quiet(a), p, ebits, emax);
    case Cls.QNAN:
      return narrowNaN(a, p, ebits, emax);
  }
  const u = unpack(a);
  if (!roundCore(env, u.sign, u.sig, u.e, false, p, bias, emax, true)) return null;
  return signBit | (BigInt(outE) << fbits) | (outQ & ((1n << fbits) - 1n));
}

function narrowNaN(a: F80, p: number, ebits: number, emax: number): bigint {
  const fbits = BigInt(p - 1);
  return (BigInt(signOf(a)) << BigInt(ebits + p - 1)) | (BigInt(emax + 1) << fbits) | ((a.m >> BigInt(64 - p)) & ((1n << fbits) - 1n));
}

// ------------------------------------------------------------------------------------------------
// Packed BCD (FBLD/FBSTP): 18 digits in bytes 0–8, the sign in bit 7 of byte 9.

/** FBLD: exact. Invalid digits are undefined on hardware; they are taken at face value. */
export function fromBcd(bytes: ArrayLike<number>): F80 {
  let v = 0n;
  for (let k = 8; k >= 0; k--) v = v * 100n + BigInt((bytes[k] >> 4) * 10 + (bytes[k] & 15));
  const r = fromInt(v);
  return (bytes[9] & 0x80) !== 0 ? { se: r.se | 0x8000, m: r.m } : r;
}

/** The packed BCD indefinite FBSTP stores for a masked invalid operation. */
export const BCD_INDEFINITE: readonly number[] = [0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff];

/** FBSTP: ten bytes, or null when IE is unmasked. */
export function toBcd(env: FpEnv, a: F80): number[] | null {
  const c = classify(a);
  const bad = (): number[] | null => {
    env.flags |= Exc.IE;
    return unmasked(env, Exc.IE) ? null : [...BCD_INDEFINITE];
  };
  if (c === Cls.UNSUPPORTED || isNaNCls(c) || c === Cls.INF || (a.se & 0x7fff) > BIAS + 64) return bad();
  const saved = env.flags;
  let v = roundInt(env, a, (env.cw >> 10) & 3);
  if (v < 0n) v = -v;
  if (v > 999_999_999_999_999_999n) {
    env.flags = saved;
    env.c1 = false;
    return bad();
  }
  const out = new Array<number>(10).fill(0);
  for (let k = 0; k < 9; k++) {
    const two = Number(v % 100n);
    v /= 100n;
    out[k] = ((two / 10) << 4) | (two % 10);
  }
  out[9] = signOf(a) ? 0x80 : 0;
  return out;
}

// ------------------------------------------------------------------------------------------------
// FSCALE, FXTRACT, FPREM/FPREM1

/** FSCALE: a × 2^trunc(b). */
export function scale(env: FpEnv, a: F80, b: F80): F80 | null {
  const ca = classify(a), cb = classify(b);
  const s = specials(env, ca, cb, a, b);
  if (s) return done(env, s);
  if (cb === Cls.INF) {
    if (signOf(b) === 0) {
      if (ca === Cls.ZERO) return done(env, invalid(env));
      if (denormal(env, ca)) return null;
      return inf(signOf(a));
    }
    if (ca === Cls.INF) return done(env, invalid(env));
    if (denormal(env, ca)) return null;
    return zero(signOf(a));
  }
  if (denormal(env, ca, cb)) return null;
  if (ca === Cls.ZERO || ca === Cls.INF) return a;
  let n: number;
  if (cb === Cls.ZERO) n = 0;
  else if ((b.se & 0x7fff) >= BIAS + 20) n = signOf(b) ? -(1 << 20) : 1 << 20;
  else {
    const u = unpack(b);
    n = Number(u.e >= 0 ? u.sig << BigInt(u.e) : u.sig >> BigInt(-u.e)) * (u.sign ? -1 : 1);
  }
  const u = unpack(a);
  return round80(env, u.sign, u.sig, u.e + n, false, 64);
}

/** FXTRACT: [exponent, significand] of a (the exponent is pushed first, the significand on top). */
export function extract(env: FpEnv, a: F80): [F80, F80] | null {
  const c = classify(a);
  if (c === Cls.UNSUPPORTED) { const r = invalid(env); return unmasked(env, Exc.IE) ? null : [r, r]; }
  if (isNaNCls(c)) { const r = nanResult(env, a); return unmasked(env, Exc.IE) ? null : [r, r]; }
  if (c === Cls.ZERO) {
    env.flags |= Exc.ZE;
    return unmasked(env, Exc.ZE) ? null : [inf(1), a];
  }
  if (c === Cls.INF) return [inf(0), a];
  if (denormal(env, c)) return null;
  const u = unpack(a);
  return [fromInt(BigInt(u.e + 63)), { se: (u.sign << 15) | BIAS, m: u.sig }];
}

export interface Remainder { r: F80; q: number; partial: boolean }

/**
 * FPREM (truncating quotient) and FPREM1 (IEEE: quotient rounded to nearest even). When the
 * exponents differ by 64 or more the result is partial: a is reduced by b × 2^(d − n) with
 * n = 32 + (d mod 32), and C2 tells software to loop.
 */
export function remainder(env: FpEnv, a: F80, b: F80, ieee: boolean): Remainder | null {
  const ca = classify(a), cb = classify(b);
  const s = specials(env, ca, cb, a, b);
  if (s) return unmasked(env, Exc.IE) ? null : { r: s, q: 0, partial: false };
  if (ca === Cls.INF || cb === Cls.ZERO) {
    const r = invalid(env);
    return unmasked(env, Exc.IE) ? null : { r, q: 0, partial: false };
  }
  if (denormal(env, ca, cb)) return null;
  if (ca === Cls.ZERO) return { r: a, q: 0, partial: false };
  const x = unpack(a), y = unpack(b);
  if (cb === Cls.INF) return { r: round80(env, x.sign, x.sig, x.e, false, 64), q: 0, partial: false };
  const d = x.e - y.e;
  if (d >= 64) {
    const n = (d & 31) | 32;
    const sh = d - n;
    const A = x.sig << BigInt(n);
    const q = A / y.sig;
    const r = A - q * y.sig;
    const res = r === 0n ? zero(x.sign) : round80(env, x.sign, r, y.e + sh, false, 64);
    return { r: res, q: Number(q & 7n), partial: true };
  }
  if (d < -1 || (d === -1 && !ieee)) return { r: round80(env, x.sign, x.sig, x.e, false, 64), q: 0, partial: false };
  const e0 = Math.min(x.e, y.e);
  const A = x.sig << BigInt(x.e - e0);
  const B = y.sig << BigInt(y.e - e0);
  let q = A / B;
  let r = A - q * B;
  let sign = x.sign;
  if (ieee && (2n * r > B || (2n * r === B && (q & 1n) === 1n))) {
    q += 1n;
    r = B - r;
    sign ^= 1;
  }
  const res = r === 0n ? zero(x.sign) : round80(env, sign, r, e0, false, 64);
  return { r: res, q: Number(q & 7n), partial: false };
}

// ------------------------------------------------------------------------------------------------
// Conversions for tests and debuggers

/** The value's 10 bytes as memory holds them (FSTP m80, FSAVE): significand, then sign and exponent, little-endian. */
export function toBytes(a: F80): Uint8Array {
  const b = new Uint8Array(10);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, a.m, true);
  dv.setUint16(8, a.se, true);
  return b;
}

/** The nearest double, for display only. */
export function toNumber(a: F80): number {
  const c = classify(a);
  const s = signOf(a) ? -1 : 1;
  if (c === Cls.ZERO) return s * 0;
  if (c === Cls.INF) return s * Infinity;
  if (c === Cls.QNAN || c === Cls.SNAN || c === Cls.UNSUPPORTED) return NaN;
  const u = unpack(a);
  return s * Number(u.sig) * 2 ** u.e;
}

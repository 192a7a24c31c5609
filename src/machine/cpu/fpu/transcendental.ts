// The x87 transcendental instructions (F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS, FSINCOS)
// and the constants (FLDPI & co.).
//
// Accuracy argument. Every function is evaluated in a binary floating-point format with a
// 200-bit significand and an unbounded exponent (BigInt significand; `Big` below), by series whose
// truncation error is below 2^-200 relative: atanh series for logarithms (|s| ≤ 0.172, so each
// term is 2^-5 of the last), Taylor series for expm1 (|y| ≤ ln 2) and sin/cos (|r| ≤ π/4), and an
// arctangent series after three argument halvings (|t| ≤ 0.1). Each elementary step truncates
// (error ≤ 2^-199 relative), and no step cancels more than a few bits except the argument
// reductions, which are done exactly. sin/cos/tan reduce x (|x| < 2^63) as the hardware does: by
// π/2 with π rounded to 66 significant bits (SDM vol. 1, 8.3.8), a value exact in our fixed point,
// so the reduced argument x − k·π₆₆/2 has no error at all. The total relative error is below
// 2^-180, and the one rounding to 64 bits (by the control word's rounding mode) gives the
// correctly rounded result except when the true value lies within 2^-180 of a rounding boundary —
// which no transcendental value of a 64-bit argument does, short of exact cases (log2 of a power
// of two, zeros), which are computed exactly. So results are within 0.5 ulp (round to nearest) or
// 1 ulp (directed) at 64-bit precision — of sin(x − k·π₆₆/2) for the trigonometric ones.
//
// That reduction is why FSIN(2^62) is far from sin(2^62) on Intel and AMD parts alike (and here):
// an x near a multiple of π/2 keeps the error of π₆₆ times k. With it, our FSIN/FCOS/FPTAN agree
// bit for bit with an AMD host on about 98% of random arguments up to 2^62; the rest differ by an
// ulp, the hardware's microcode being accurate to about 1 ulp rather than correctly rounded.

import { BIAS, Cls, Exc, INDEFINITE, bitLen, classify, isqrt, roundExact, signOf, type F80, type FpEnv } from "./float80.js";

const PREC = 200;

/** m × 2^e with signed BigInt m, at most PREC bits (truncated toward zero). */
interface Big { m: bigint; e: number }

function big(m: bigint, e: number): Big {
  const a = m < 0n ? -m : m;
  const n = bitLen(a);
  if (n <= PREC) return { m, e };
  const s = BigInt(n - PREC);
  return { m: m < 0n ? -(a >> s) : a >> s, e: e + n - PREC };
}

function add(a: Big, b: Big): Big {
  if (a.m === 0n) return b;
  if (b.m === 0n) return a;
  if (a.e < b.e) [a, b] = [b, a];
  const d = a.e - b.e;
  if (d > 2 * PREC + 64) {
    // b is far below a's last bit: align at a window that keeps PREC + 64 bits of a.
    return big((a.m << BigInt(PREC + 64)) + (b.m < 0n ? -1n : 1n), a.e - PREC - 64);
  }
  return big((a.m << BigInt(d)) + b.m, b.e);
}
const sub = (a: Big, b: Big): Big => add(a, { m: -b.m, e: b.e });
const mul = (a: Big, b: Big): Big => big(a.m * b.m, a.e + b.e);
function div(a: Big, b: Big): Big {
  const sa = bitLen(a.m < 0n ? -a.m : a.m), sb = bitLen(b.m < 0n ? -b.m : b.m);
  const s = PREC + 2 + sb - sa;
  return big((a.m << BigInt(Math.max(s, 0))) / b.m, a.e - b.e - Math.max(s, 0));
}
const divInt = (a: Big, n: number): Big => div(a, { m: BigInt(n), e: 0 });
function sqrtBig(a: Big): Big {
  let m = a.m, e = a.e;
  const s = 2 * PREC + 4 - bitLen(m);
  if (s > 0) {
    m <<= BigInt(s);
    e -= s;
  }
  if (e & 1) {
    m <<= 1n;
    e -= 1;
  }
  return big(isqrt(m), e / 2);
}
const ONE: Big = { m: 1n, e: 0 };
const isZero = (a: Big): boolean => a.m === 0n;

function fromF80(a: F80): Big {
  const exp = Math.max(a.se & 0x7fff, 1);
  const m = signOf(a) ? -a.m : a.m;
  return big(m, exp - BIAS - 63);
}

/** 2·atanh(s) = s·2·(1 + s²/3 + s⁴/5 + …), |s| small. */
function twoAtanh(s: Big): Big {
  const s2 = mul(s, s);
  let term = s;
  let sum = s;
  for (let k = 3; k < 400; k += 2) {
    term = mul(term, s2);
    const t = divInt(term, k);
    sum = add(sum, t); // the last, negligible term still sets the truncation's direction
    if (isZero(t) || magnitude(t) < magnitude(sum) - PREC - 4) break;
  }
  return { m: sum.m * 2n, e: sum.e };
}

/** e^y − 1 by Taylor series (|y| ≤ 1). */
function expm1(y: Big): Big {
  let term = y;
  let sum = y;
  for (let k = 2; k < 200; k++) {
    term = divInt(mul(term, y), k);
    sum = add(sum, term);
    if (isZero(term) || magnitude(term) < magnitude(sum) - PREC - 4) break;
  }
  return sum;
}

function magnitude(a: Big): number {
  return a.m === 0n ? -Infinity : bitLen(a.m < 0n ? -a.m : a.m) + a.e;
}

/** sin r and cos r by Taylor series, |r| ≤ π/4. */
function sinCos(r: Big): [Big, Big] {
  const r2 = mul(r, r);
  let s = r, st = r;
  let c = ONE, ct: Big = ONE;
  for (let k = 1; k < 200; k++) {
    st = divInt(mul(st, r2), (2 * k) * (2 * k + 1));
    ct = divInt(mul(ct, r2), (2 * k - 1) * (2 * k));
    const sm = k & 1 ? -1n : 1n;
    s = add(s, { m: st.m * sm, e: st.e });
    c = add(c, { m: ct.m * sm, e: ct.e });
    if ((isZero(st) || magnitude(st) < magnitude(s) - PREC - 4) && (isZero(ct) || magnitude(ct) < -PREC - 4)) break;
  }
  return [s, c];
}

/** atan t for 0 ≤ t ≤ 1: three halvings t → t / (1 + √(1 + t²)), then the series. */
function atan(t: Big): Big {
  for (let k = 0; k < 3; k++) t = div(t, add(ONE, sqrtBig(add(ONE, mul(t, t)))));
  const t2 = mul(t, t);
  let term = t;
  let sum = t;
  for (let k = 3; k < 600; k += 2) {
    term = mul(term, t2);
    const x = divInt(term, k);
    sum = k & 2 ? sub(sum, x) : add(sum, x);
    if (isZero(x) || magnitude(x) < magnitude(sum) - PREC - 4) break;
  }
  return { m: sum.m * 8n, e: sum.e };
}

// ------------------------------------------------------------------------------------------------
// Constants, computed once in fixed point.

const FIX = 704;
function atanInvFixed(n: bigint): bigint {
  // atan(1/n) × 2^FIX
  let term = (1n << BigInt(FIX)) / n;
  const n2 = n * n;
  let sum = term;
  for (let k = 3n; term !== 0n; k += 2n) {
    term /= n2;
    sum += ((k & 2n) !== 0n ? -term : term) / k;
  }
  return sum;
}
function atanhInvFixed(n: bigint): bigint {
  let term = (1n << BigInt(FIX)) / n;
  const n2 = n * n;
  let sum = term;
  for (let k = 3n; term !== 0n; k += 2n) {
    term /= n2;
    sum += term / k;
  }
  return sum;
}
/** π/2 × 2^FIX (Machin). */
const PIO2_FIX = (16n * atanInvFixed(5n) - 4n * atanInvFixed(239n)) / 2n;
const PI: Big = big(PIO2_FIX * 2n, -FIX);
const PIO2: Big = big(PIO2_FIX, -FIX);
const PIO4: Big = big(PIO2_FIX, -FIX - 1);
/** π/2 × 2^FIX with π rounded to 66 significant bits: what FSIN, FCOS, FSINCOS and FPTAN reduce by. */
const PIO2_66_FIX = (((PIO2_FIX >> BigInt(FIX - 66)) + 1n) >> 1n) << BigInt(FIX - 65);
const PIO4_66: Big = big(PIO2_66_FIX, -FIX - 1);
const LN2: Big = big(2n * atanhInvFixed(3n), -FIX);
const LN10: Big = add(big(2n * atanhInvFixed(9n), -FIX), mul(LN2, { m: 3n, e: 0 })); // ln 1.25 + 3 ln 2

/** The constants of FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2 as exact-enough Bigs. */
export const CONSTANTS = {
  l2t: div(LN10, LN2),
  l2e: div(ONE, LN2),
  pi: PI,
  lg2: div(LN2, LN10),
  ln2: LN2,
};

/** Rounds a Big to an 80-bit value (64-bit precision, RC from env), inexact unless `exact`. */
export function roundBig(env: FpEnv, a: Big, exact = false): F80 {
  const sign = a.m < 0n ? 1 : 0;
  let m = sign ? -a.m : a.m;
  let e = a.e;
  if (m === 0n) return { se: sign << 15, m: 0n };
  if (!exact && bitLen(m) < 70) {
    const s = 70 - bitLen(m);
    m <<= BigInt(s);
    e -= s;
  }
  return roundExact(env, sign, m, e, !exact, 64);
}

// ------------------------------------------------------------------------------------------------
// The instructions. Each returns null when an unmasked exception leaves the destination alone.

const unmasked = (env: FpEnv, bits: number): boolean => (env.flags & bits & ~env.cw & 0x3f) !== 0;
const isNaN = (c: Cls): boolean => c === Cls.QNAN || c === Cls.SNAN;
const zero = (sign: number): F80 => ({ se: sign << 15, m: 0n });
const inf = (sign: number): F80 => ({ se: (sign << 15) | 0x7fff, m: 1n << 63n });

function quietOf(env: FpEnv, a: F80, b?: F80): F80 {
  const ca = classify(a), cb = b ? classify(b) : Cls.ZERO;
  if (ca === Cls.SNAN || cb === Cls.SNAN) env.flags |= Exc.IE;
  const q = (x: F80): F80 => ({ se: x.se, m: x.m | (1n << 62n) });
  if (!b || !isNaN(cb)) return q(a);
  if (!isNaN(ca)) return q(b);
  if (ca === Cls.SNAN && cb === Cls.QNAN) return b;
  if (cb === Cls.SNAN && ca === Cls.QNAN) return a;
  const ma = a.m | (1n << 62n), mb = b.m | (1n << 62n);
  return q(ma > mb ? a : mb > ma ? b : a.se < b.se ? a : b);
}

/** Unsupported/NaN operands: the result, or undefined to go on. */
function pre(env: FpEnv, a: F80, b?: F80): F80 | undefined {
  const ca = classify(a), cb = b ? classify(b) : Cls.ZERO;
  if (ca === Cls.UNSUPPORTED || cb === Cls.UNSUPPORTED) {
    env.flags |= Exc.IE;
    return INDEFINITE;
  }
  if (isNaN(ca) || isNaN(cb)) return quietOf(env, a, b);
  return undefined;
}
function denorm(env: FpEnv, ...xs: F80[]): boolean {
  if (xs.some((x) => classify(x) === Cls.DENORMAL)) env.flags |= Exc.DE;
  return unmasked(env, Exc.DE);
}
function invalid(env: FpEnv): F80 | null {
  env.flags |= Exc.IE;
  return unmasked(env, Exc.IE) ? null : INDEFINITE;
}
const fin = (env: FpEnv, r: F80): F80 | null => (unmasked(env, Exc.IE | Exc.DE | Exc.ZE) ? null : r);

/** F2XM1: 2^x − 1. */
export function f2xm1(env: FpEnv, x: F80): F80 | null {
  const p = pre(env, x);
  if (p) return fin(env, p);
  const c = classify(x);
  if (c === Cls.ZERO) return x;
  if (c === Cls.INF) return signOf(x) ? { se: 0xbfff, m: 1n << 63n } : x;
  if (denorm(env, x)) return null;
  return roundBig(env, expm1(mul(fromF80(x), LN2)));
}

/** log2 of a positive finite value: the integer exponent k and log2 of the significand. */
function log2(x: F80): Big {
  const a = fromF80(x);
  // x = m × 2^k with m in [√½, √2)
  let k = magnitude(a) - 1;
  let m: Big = { m: a.m, e: a.e - k };
  if (m.m * m.m * 2n > 1n << BigInt(-2 * m.e + 2)) {
    // m > √2 (m² > 2)
    k += 1;
    m = { m: m.m, e: m.e - 1 };
  }
  const s = div(sub(m, ONE), add(m, ONE));
  const frac = isZero(s) ? s : div(twoAtanh(s), LN2);
  return add({ m: BigInt(k), e: 0 }, frac);
}

/** FYL2X: y × log2 x (y is ST(1), x is ST(0)). */
export function fyl2x(env: FpEnv, y: F80, x: F80): F80 | null {
  const p = pre(env, y, x);
  if (p) return fin(env, p);
  const cx = classify(x), cy = classify(y);
  const sy = signOf(y);
  if (cx !== Cls.ZERO && signOf(x)) return invalid(env);
  if (cx === Cls.ZERO) {
    if (cy === Cls.ZERO) return invalid(env);
    if (cy === Cls.INF) return inf(sy ^ 1);
    if (denorm(env, y)) return null;
    env.flags |= Exc.ZE;
    return fin(env, inf(sy ^ 1));
  }
  if (cx === Cls.INF) {
    if (cy === Cls.ZERO) return invalid(env);
    if (denorm(env, y)) return null;
    return inf(sy);
  }
  if (denorm(env, x, y)) return null;
  const isOne = x.se === BIAS && x.m === 1n << 63n;
  if (cy === Cls.INF) {
    if (isOne) return invalid(env);
    const below = (x.se & 0x7fff) < BIAS;
    return inf(sy ^ (below ? 1 : 0));
  }
  if (cy === Cls.ZERO || isOne) {
    const below = (x.se & 0x7fff) < BIAS;
    return zero(sy ^ (below ? 1 : 0));
  }
  const l = log2(x);
  const exact = l.m !== 0n && isPowerOfTwoSig(x);
  return roundBig(env, mul(fromF80(y), l), exact);
}

function isPowerOfTwoSig(x: F80): boolean {
  const m = x.m;
  return (m & (m - 1n)) === 0n;
}

/** FYL2XP1: y × log2(x + 1), for |x| < 1 − √2/2. */
export function fyl2xp1(env: FpEnv, y: F80, x: F80): F80 | null {
  const p = pre(env, y, x);
  if (p) return fin(env, p);
  const cx = classify(x), cy = classify(y);
  if (cx === Cls.INF) return invalid(env);
  if (cx === Cls.ZERO) {
    if (cy === Cls.INF) return invalid(env);
    if (denorm(env, y)) return null;
    return zero(signOf(x) ^ signOf(y));
  }
  const bx = fromF80(x);
  if (sub(bx, { m: -1n, e: 0 }).m <= 0n) return invalid(env);
  if (cy === Cls.INF) {
    if (denorm(env, x)) return null;
    return inf(signOf(x) ^ signOf(y));
  }
  if (denorm(env, x, y)) return null;
  if (cy === Cls.ZERO) return zero(signOf(x) ^ signOf(y));
  const s = div(bx, add({ m: 2n, e: 0 }, bx));
  return roundBig(env, mul(fromF80(y), div(twoAtanh(s), LN2)));
}

/** The result of a trigonometric operation: out of range (C2) leaves the operand alone. */
export type Trig = { outOfRange: true } | { outOfRange: false; r: F80[] } | null;

/** Reduces x (|x| < 2^63) by the hardware's π/2: the quadrant and the reduced argument, |r| ≤ π/4. */
function reduce(x: F80): [number, Big] {
  const a = fromF80(x);
  const neg = a.m < 0n;
  const m = neg ? -a.m : a.m;
  if (magnitude({ m, e: a.e }) < 0 || (magnitude({ m, e: a.e }) === 0 && sub({ m, e: a.e }, PIO4_66).m <= 0n)) {
    return [0, a];
  }
  const X = m << BigInt(a.e + FIX); // exponents here are ≥ −64
  const k = (X + PIO2_66_FIX / 2n) / PIO2_66_FIX;
  const r = big(X - k * PIO2_66_FIX, -FIX);
  const q = Number(k & 3n);
  return neg ? [(4 - q) & 3, { m: -r.m, e: r.e }] : [q, r];
}

function trig(env: FpEnv, x: F80, f: (q: number, r: Big) => F80[]): Trig {
  const p = pre(env, x);
  if (p) return unmasked(env, Exc.IE) ? null : { outOfRange: false, r: [p, p] };
  const c = classify(x);
  if (c === Cls.INF) {
    env.flags |= Exc.IE;
    return unmasked(env, Exc.IE) ? null : { outOfRange: false, r: [INDEFINITE, INDEFINITE] };
  }
  if ((x.se & 0x7fff) >= BIAS + 63) return { outOfRange: true };
  if (denorm(env, x)) return null;
  const [q, r] = reduce(x);
  return { outOfRange: false, r: f(q, r) };
}

function sinQ(env: FpEnv, q: number, r: Big, x: F80): F80 {
  if (isZero(r)) return q === 0 ? x : q === 2 ? zero(signOf(x) ^ 1) : roundBig(env, q === 1 ? ONE : { m: -1n, e: 0 }, true);
  const [s, c] = sinCos(r);
  const v = q === 0 ? s : q === 1 ? c : q === 2 ? { m: -s.m, e: s.e } : { m: -c.m, e: c.e };
  return roundBig(env, v);
}
function cosQ(env: FpEnv, q: number, r: Big): F80 {
  if (isZero(r)) return roundBig(env, q === 0 ? ONE : { m: -1n, e: 0 }, true);
  const [s, c] = sinCos(r);
  const v = q === 0 ? c : q === 1 ? { m: -s.m, e: s.e } : q === 2 ? { m: -c.m, e: c.e } : s;
  return roundBig(env, v);
}

export const fsin = (env: FpEnv, x: F80): Trig => trig(env, x, (q, r) => [sinQ(env, q, r, x)]);
export const fcos = (env: FpEnv, x: F80): Trig => trig(env, x, (q, r) => [cosQ(env, q, r)]);
/** FSINCOS: [sin, cos]. */
export const fsincos = (env: FpEnv, x: F80): Trig => trig(env, x, (q, r) => {
  // One rounding's C1 is what the instruction reports; take the cosine's (the value on top).
  const s = sinQ(env, q, r, x);
  return [s, cosQ(env, q, r)];
});
/** FPTAN: [tan]; the caller pushes 1.0. */
export const fptan = (env: FpEnv, x: F80): Trig => trig(env, x, (q, r) => {
  if (isZero(r)) return [x];
  if (q === 0 && magnitude(r) < -70) {
    // tan r = r + r³/3 + …: the correction only grows the magnitude, which truncation keeps.
    return [roundBig(env, add(r, divInt(mul(r, mul(r, r)), 3)))];
  }
  const [s, c] = sinCos(r);
  const t = (q & 1) === 0 ? div(s, c) : div({ m: -c.m, e: c.e }, s);
  return [roundBig(env, t)];
});

/** FPATAN: atan2(y, x) — y is ST(1), x is ST(0). */
export function fpatan(env: FpEnv, y: F80, x: F80): F80 | null {
  const p = pre(env, y, x);
  if (p) return fin(env, p);
  const cx = classify(x), cy = classify(y);
  const sx = signOf(x), sy = signOf(y);
  const signed = (v: Big): F80 => roundBig(env, sy ? { m: -v.m, e: v.e } : v);
  if (denorm(env, x, y)) return null;
  if (cy === Cls.ZERO) return sx ? signed(PI) : zero(sy);
  if (cx === Cls.ZERO) return signed(PIO2);
  if (cy === Cls.INF) {
    if (cx === Cls.INF) return signed(sx ? mul(PIO4, { m: 3n, e: 0 }) : PIO4);
    return signed(PIO2);
  }
  if (cx === Cls.INF) return sx ? signed(PI) : zero(sy);
  const ax = fromF80({ se: x.se & 0x7fff, m: x.m }), ay = fromF80({ se: y.se & 0x7fff, m: y.m });
  let a: Big;
  if (sub(ay, ax).m <= 0n) a = atan(div(ay, ax));
  else a = sub(PIO2, atan(div(ax, ay)));
  if (sx) a = sub(PI, a);
  return signed(a);
}

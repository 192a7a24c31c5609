// A small, fast seeded PRNG (mulberry32): the same seed gives the same numbers on every host. Chaos
// runs draw their machines' timing from it; the tests and the fuzzer draw their random programs
// and positions from it, so each prints a seed that replays it.

export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

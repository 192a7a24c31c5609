// A seeded generator, so a test's random choices can be replayed from its seed: the one the
// product uses (chaos runs), so the tests and the fuzzer draw alike.

export { seededRandom as seeded } from "../../src/replay/seeded-random.js";

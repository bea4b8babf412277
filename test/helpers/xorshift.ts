// A tiny deterministic PRNG (xorshift32) for tests and benchmarks that need the same
// "random" hashes on every run.

/** Returns a generator of uint32 values; seed 0 is replaced by 1 (xorshift's fixed point). */
export function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
}

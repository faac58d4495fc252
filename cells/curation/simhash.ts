import { Rng } from "../compute/random.ts";

/**
 * SimHash (Charikar 2002) for feature vectors: the signs of `bits` projections on seeded Gaussian
 * hyperplanes. Two vectors at angle θ agree on each bit with probability 1 − θ/π, so bands of
 * identical bits find pairs at high cosine similarity; candidates are then verified with the
 * exact cosine. MinHash needs sets; vectors need angles, hence a second family.
 *
 * Projections are summed in JS in float64 over the non-zero features in index order, not on
 * the compute backend: a sign near zero must not depend on the machine, or the flags would.
 *
 * Returns, per row, `bands` words of bits/bands sign bits each (≤ 32): one LSH key per band.
 */
export function simhashBands(rows: readonly Float32Array[], dims: number, bits: number, bands: number, seed: number): Uint32Array[] {
  const perBand = bits / bands;
  // Row-major [dims][bits]: one feature's hyperplane coefficients are contiguous.
  const planes = Rng.derive(seed, "simhash").normals(dims * bits);
  const acc = new Float64Array(bits);
  return rows.map((row) => {
    acc.fill(0);
    for (let d = 0; d < row.length; d++) {
      const v = row[d]!;
      if (v === 0) continue;
      const base = d * bits;
      for (let k = 0; k < bits; k++) acc[k]! += v * planes[base + k]!;
    }
    const words = new Uint32Array(bands);
    for (let b = 0; b < bands; b++) {
      let w = 0;
      for (let k = 0; k < perBand; k++) if (acc[b * perBand + k]! >= 0) w |= 1 << k;
      words[b] = w >>> 0;
    }
    return words;
  });
}

/** Exact cosine similarity; 0 when either vector is zero (a blank vector is like nothing). */
export function cosine(a: Float32Array, b: Float32Array, normA: number, normB: number): number {
  if (normA === 0 || normB === 0) return 0;
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
  return dot / (normA * normB);
}

export function norm(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}

import { Rng } from "../compute/random.ts";

/**
 * The Gaussian matrix [d, dim], N(0, 1/dim), that projection mode draws for one side (`a` or `b`)
 * of one gradient factor at one checkpoint: seeded by all three, so every engine and the
 * portable explainer project with the same numbers.
 */
export function projectionMatrix(seed: number, checkpoint: number, factor: string, side: "a" | "b", d: number, dim: number): Float32Array {
  return Rng.derive(seed, `projection:${checkpoint}:${factor}:${side}`).normals(d * dim, 1 / Math.sqrt(dim));
}

import { createHash } from "node:crypto";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { uniformInt } from "pure-rand/distribution/uniformInt";

/**
 * Seeded randomness for everything Tracebook draws (weight init, shuffles, projections).
 * Values are generated in JS, not by a backend's random ops, so the same seed gives the same
 * numbers on cpu, wasm, tensorflow and in the browser.
 */
export class Rng {
  private readonly gen;
  private spare: number | null = null;

  constructor(readonly seed: number) {
    this.gen = xoroshiro128plus(seed | 0);
  }

  /** An independent stream for a named purpose: `rng.derive("init:dense_1")`. */
  static derive(seed: number, purpose: string): Rng {
    return new Rng(deriveSeed(seed, purpose));
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return uniformFloat64(this.gen);
  }

  /** Integer in [from, to], both included. */
  int(from: number, to: number): number {
    return uniformInt(this.gen, from, to);
  }

  /** Standard normal, Box–Muller (pairs cached). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** A Float32Array of `n` normals with the given standard deviation. */
  normals(n: number, std = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal() * std;
    return out;
  }

  /** A Float32Array of `n` values uniform in [-limit, limit). */
  uniforms(n: number, limit: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = (this.uniform() * 2 - 1) * limit;
    return out;
  }

  /** Fisher–Yates, in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}

/** A 32-bit seed for (seed, purpose), from sha256: streams for different purposes do not overlap. */
export function deriveSeed(seed: number, purpose: string): number {
  return createHash("sha256").update(`tracebook.seed.v1:${seed}:${purpose}`).digest().readInt32LE(0);
}

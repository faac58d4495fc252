import { murmur3, Utf8Buffer } from "../compute/murmur.ts";
import { Rng } from "../compute/random.ts";

/**
 * MinHash over word shingles (Broder 1997), with LSH banding to find candidate pairs.
 *
 * - Text is NFKC-normalised and lower-cased, split into word tokens (runs of letters and digits,
 *   as the hashed-ngrams featurizer does), and cut into overlapping `k`-word shingles; a text with
 *   fewer than k words is one shingle of all its words. Each shingle is hashed to 32 bits with
 *   MurmurHash3 (seed 0) over its UTF-8 bytes; a document is the sorted set of those hashes.
 * - Hash function i is fmix32(h XOR sᵢ), MurmurHash3's finaliser over the shingle hash mixed with a
 *   seed sᵢ drawn from `Rng(seed)`: one cheap, well-mixed permutation per seed. The signature is
 *   the minimum of each over the document's shingles; two signatures agree at i with probability
 *   equal to the Jaccard similarity of the sets.
 * - Banding: `bands` bands of hashes/bands rows; two documents are candidates when one band is
 *   identical. Candidates are then verified with the exact Jaccard of their shingle sets, so the
 *   threshold a rule states is exact, and the only approximation is a missed candidate.
 */
const TOKEN = /[\p{L}\p{N}]+/gu;

/** The distinct 32-bit hashes of a text's word k-shingles, sorted. Empty when the text has no words. */
export function shingles(text: string, k: number): Uint32Array {
  const tokens = text.normalize("NFKC").toLowerCase().match(TOKEN) ?? [];
  if (!tokens.length) return new Uint32Array(0);
  // The words written once, a space between each: every shingle is a range of that text.
  const utf8 = buffer;
  utf8.reset();
  const starts = new Int32Array(tokens.length), ends = new Int32Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) {
    if (i) utf8.push(" ");
    starts[i] = utf8.push(tokens[i]!);
    ends[i] = utf8.length;
  }
  const last = Math.max(1, tokens.length - k + 1);
  const all = new Uint32Array(last);
  for (let i = 0; i < last; i++) all[i] = murmur3(utf8.bytes, starts[i]!, ends[Math.min(tokens.length, i + k) - 1]!, 0);
  // Sorted, then each value once (a Set of hashes above 2³⁰ holds them as heap numbers: slow).
  all.sort();
  let n = 0;
  for (let i = 0; i < last; i++) if (!i || all[i] !== all[i - 1]) all[n++] = all[i]!;
  return all.slice(0, n);
}
const buffer = new Utf8Buffer();

/** MurmurHash3's 32-bit finaliser: a bijection that mixes every input bit into every output bit. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The per-hash seeds of a MinHash family: the same `seed` gives the same family everywhere. */
export function minhashSeeds(hashes: number, seed: number): Uint32Array {
  const rng = Rng.derive(seed, "minhash");
  return Uint32Array.from({ length: hashes }, () => rng.int(0, 0xffffffff) >>> 0);
}

/** The MinHash signature of a shingle set; an empty set signs as all 0xffffffff (and is never a candidate). */
export function signature(set: Uint32Array, seeds: Uint32Array): Uint32Array {
  const sig = new Uint32Array(seeds.length).fill(0xffffffff);
  for (let i = 0; i < seeds.length; i++) {
    const s = seeds[i]!;
    let min = 0xffffffff;
    for (let j = 0; j < set.length; j++) {
      const v = fmix32(set[j]! ^ s);
      if (v < min) min = v;
    }
    sig[i] = min;
  }
  return sig;
}

/** Exact Jaccard similarity of two sorted sets of distinct values. */
export function jaccard(a: Uint32Array, b: Uint32Array): number {
  if (!a.length && !b.length) return 1;
  let i = 0, j = 0, both = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) { both++; i++; j++; }
    else if (a[i]! < b[j]!) i++;
    else j++;
  }
  return both / (a.length + b.length - both);
}

/** The LSH key of each band of a signature: its hashes/bands values, as one string. */
export function bandKeys(sig: Uint32Array, bands: number): string[] {
  const rows = sig.length / bands;
  return Array.from({ length: bands }, (_, b) => Array.from(sig.subarray(b * rows, (b + 1) * rows), (v) => v.toString(36)).join(","));
}

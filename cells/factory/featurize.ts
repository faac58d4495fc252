import { murmur3, Utf8Buffer } from "../compute/murmur.ts";
import { canonicalJson } from "../graph/canonical.ts";

/**
 * Featurizers turn a contribution's payload into a model input. They are part of a model's
 * identity: the spec is stored in the manifest and enters the model id.
 *
 * `hashed-ngrams` (mail): the title and text, NFKC-normalised and lower-cased, are split into
 * word tokens (runs of letters and digits; at most `maxTokens`). Each word ("w:token") and each
 * pair of neighbouring words ("b:one two") is hashed with MurmurHash3 (32-bit, `seed`) into
 * `dims` buckets (hash mod dims) with a sign from the hash's top bit, so collisions cancel on
 * average instead of piling up. A feature seen c times adds sign × (1 + ln c) to its bucket;
 * the row is then L2-normalised. No vocabulary is fitted, so nothing about the training split
 * leaks into the featurizer and any new text can be featurized.
 *
 * `features` (digits): the stored feature vector as is (digits are already scaled to [0, 1]).
 */
export type FeaturizerSpec =
  | { kind: "hashed-ngrams"; version: 1; dims: number; ngrams: 1 | 2; seed: number; maxTokens: number }
  | { kind: "features"; version: 1; size: number };

export interface Payload {
  title?: string | null;
  text?: string | null;
  features?: ArrayLike<number> | null;
}

/** A featurized set of rows; `fill` writes row i densely into `out` at `offset`. */
export interface FeatureMatrix {
  readonly rows: number;
  readonly dims: number;
  /** Row i written over out[offset, offset + dims), zeros included: `out` may hold an earlier batch (BatchBuffer). */
  fill(i: number, out: Float32Array, offset: number): void;
  /** Row i as (index, value) pairs, for sparse math (dot products in attribution). */
  sparse(i: number): { idx: Int32Array; val: Float32Array };
  /** Rows [from, to) as one row-major block without copying, where the storage is dense. */
  view?(from: number, to: number): Float32Array;
}

export function hashedNgrams(options: Partial<Omit<Extract<FeaturizerSpec, { kind: "hashed-ngrams" }>, "kind" | "version">> = {}): FeaturizerSpec {
  const dims = options.dims ?? 8192;
  if (!Number.isInteger(dims) || dims < 2 || dims > 1 << 22) throw new Error(`hashed-ngrams: dims must be an integer in [2, ${1 << 22}], got ${dims}`);
  return { kind: "hashed-ngrams", version: 1, dims, ngrams: options.ngrams ?? 2, seed: options.seed ?? 0, maxTokens: options.maxTokens ?? 4000 };
}

export function rawFeatures(size: number): FeaturizerSpec {
  return { kind: "features", version: 1, size };
}

export function featurizerDims(spec: FeaturizerSpec): number {
  return spec.kind === "hashed-ngrams" ? spec.dims : spec.size;
}

/** Featurize rows; throws naming the row (by index and, when given, id) that cannot be. */
export function featurize(spec: FeaturizerSpec, rows: readonly Payload[], ids?: readonly string[]): FeatureMatrix {
  const where = (i: number) => `row ${i}${ids?.[i] ? ` (${ids[i]!.slice(0, 12)})` : ""}`;
  if (spec.kind === "features") {
    const data = new Float32Array(rows.length * spec.size);
    rows.forEach((r, i) => {
      const f = r.features;
      if (!f) throw new Error(`${where(i)} has no features, but the model reads ${spec.size} features`);
      if (f.length !== spec.size) throw new Error(`${where(i)} has ${f.length} features, the model reads ${spec.size}`);
      data.set(f as ArrayLike<number>, i * spec.size);
    });
    return denseMatrix(data, rows.length, spec.size);
  }
  const cache = rowCache(spec);
  const sparse = rows.map((r, i) => {
    const text = `${r.title ?? ""}\n${r.text ?? ""}`;
    if (!text.trim()) throw new Error(`${where(i)} has no text to featurize`);
    return cache.get(text) ?? cache.put(text, hashRow(spec, text));
  });
  return sparseMatrix(sparse, spec.dims);
}

/** Texts kept per featurizer (in characters): about twice the mail corpus. */
const CACHE_CHARS = 48 * 2 ** 20;
const caches = new Map<string, RowCache>();

/**
 * Featurized rows by text, per featurizer, for the life of the process. The cells of one run
 * featurize the same contributions several times (training, influence, self-influence, label
 * errors, gradient features): on mail that was ~3 s each time (1.7 s since words are hashed
 * where their bytes lie). The rows are read-only; the oldest texts go first once the cache holds
 * CACHE_CHARS characters.
 */
class RowCache {
  private readonly rows = new Map<string, { idx: Int32Array; val: Float32Array }>();
  private chars = 0;

  get(text: string) {
    return this.rows.get(text);
  }

  put(text: string, row: { idx: Int32Array; val: Float32Array }) {
    this.rows.set(text, row);
    this.chars += text.length;
    for (const old of this.rows.keys()) {
      if (this.chars <= CACHE_CHARS) break;
      this.rows.delete(old);
      this.chars -= old.length;
    }
    return row;
  }
}

function rowCache(spec: Extract<FeaturizerSpec, { kind: "hashed-ngrams" }>): RowCache {
  const key = canonicalJson(spec); // every field: a featurizer that differs in any gets its own rows
  let cache = caches.get(key);
  if (!cache) caches.set(key, (cache = new RowCache()));
  return cache;
}

const TOKEN = /[\p{L}\p{N}]+/gu;
const wordBytes = new Utf8Buffer();
function hashRow(spec: Extract<FeaturizerSpec, { kind: "hashed-ngrams" }>, text: string): { idx: Int32Array; val: Float32Array } {
  const tokens = (text.normalize("NFKC").toLowerCase().match(TOKEN) ?? []).slice(0, spec.maxTokens);
  // Tokens as ids in first-seen order; a feature is a word (code w) or a pair (code D + a·D + b).
  // Counted in first-seen order, so each bucket sums its features in the order the text gives them.
  const idOf = new Map<string, number>();
  const distinct: string[] = [];
  const ids = new Int32Array(tokens.length);
  for (let t = 0; t < tokens.length; t++) {
    let id = idOf.get(tokens[t]!);
    if (id === undefined) idOf.set(tokens[t]!, (id = distinct.push(tokens[t]!) - 1));
    ids[t] = id;
  }
  const D = distinct.length;
  // Features in first-seen order (a word before the pair it ends): a word's code is its id, a
  // pair's D + its index; counted in typed arrays, the pairs found through one map.
  const order: number[] = [];
  const wordCount = new Int32Array(D);
  const pairOf = new Map<number, number>();
  const pairKey: number[] = [], pairCount: number[] = [];
  for (let t = 0; t < ids.length; t++) {
    const w = ids[t]!;
    if (wordCount[w]!++ === 0) order.push(w);
    if (spec.ngrams >= 2 && t > 0) {
      const key = ids[t - 1]! * D + w;
      let p = pairOf.get(key);
      if (p === undefined) {
        pairOf.set(key, (p = pairKey.push(key) - 1));
        pairCount.push(0);
        order.push(D + p);
      }
      pairCount[p]!++;
    }
  }
  // Each distinct word written once as "w:word" (its feature's bytes); a pair's "b:a b" is put
  // together from them at the end of the buffer, hashed, and dropped.
  const utf8 = wordBytes;
  utf8.reset();
  const starts = new Int32Array(D), ends = new Int32Array(D);
  for (let w = 0; w < D; w++) {
    starts[w] = utf8.push("w:");
    utf8.push(distinct[w]!);
    ends[w] = utf8.length;
  }
  const acc = bucketScratch(spec.dims);
  const touched: number[] = [];
  for (const code of order) {
    let h: number, c: number;
    if (code < D) {
      h = murmur3(utf8.bytes, starts[code]!, ends[code]!, spec.seed);
      c = wordCount[code]!;
    } else {
      const key = pairKey[code - D]!, a = Math.floor(key / D), b = key - a * D;
      const at = utf8.pair(starts[a]! + 2, ends[a]!, starts[b]! + 2, ends[b]!);
      h = murmur3(utf8.bytes, at, utf8.length, spec.seed);
      utf8.length = at;
      c = pairCount[code - D]!;
    }
    const bucket = h % spec.dims;
    if (acc.stamp[bucket] !== acc.row) {
      acc.stamp[bucket] = acc.row;
      acc.sum[bucket] = 0;
      touched.push(bucket);
    }
    acc.sum[bucket]! += (h >>> 31 ? -1 : 1) * (1 + Math.log(c));
  }
  acc.row++;
  // A typed array sorts numbers natively: a comparator over the array was a third of featurizing mail.
  const idx = Int32Array.from(touched).sort();
  const val = new Float32Array(idx.length);
  for (let k = 0; k < idx.length; k++) val[k] = acc.sum[idx[k]!]!;
  let norm = 0;
  for (const v of val) norm += v * v;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let k = 0; k < val.length; k++) val[k]! /= norm;
  return { idx, val };
}

/** Per-bucket sums, reused across rows: a bucket belongs to the current row when its stamp says so. */
const scratches = new Map<number, { sum: Float64Array; stamp: Uint32Array; row: number }>();
function bucketScratch(dims: number) {
  let s = scratches.get(dims);
  if (!s) scratches.set(dims, (s = { sum: new Float64Array(dims), stamp: new Uint32Array(dims), row: 1 }));
  return s;
}

export function denseMatrix(data: Float32Array, rows: number, dims: number): FeatureMatrix {
  return {
    rows, dims,
    fill: (i, out, offset) => out.set(data.subarray(i * dims, (i + 1) * dims), offset),
    view: (from, to) => data.subarray(from * dims, to * dims),
    sparse: (i) => {
      const row = data.subarray(i * dims, (i + 1) * dims);
      const idx: number[] = [];
      row.forEach((v, k) => v !== 0 && idx.push(k));
      return { idx: Int32Array.from(idx), val: Float32Array.from(idx, (k) => row[k]!) };
    },
  };
}

/** A feature matrix over rows held as (index, value) pairs, without copying them (the feature cache reads into these too). */
export function sparseMatrix(rows: { idx: Int32Array; val: Float32Array }[], dims: number): FeatureMatrix {
  return {
    rows: rows.length, dims,
    fill: (i, out, offset) => {
      out.fill(0, offset, offset + dims);
      const { idx, val } = rows[i]!;
      for (let k = 0; k < idx.length; k++) out[offset + idx[k]!] = val[k]!;
    },
    sparse: (i) => rows[i]!,
  };
}

/** Some rows of a matrix, in the order given, without copying them. */
export function selectRows(m: FeatureMatrix, rows: readonly number[]): FeatureMatrix {
  return { rows: rows.length, dims: m.dims, fill: (i, out, offset) => m.fill(rows[i]!, out, offset), sparse: (i) => m.sparse(rows[i]!) };
}

/**
 * Rows of a matrix as one dense row-major batch. Read-only: it may be a view of the matrix's own
 * storage, or of `into`'s buffer.
 */
export function batch(m: FeatureMatrix, rows: readonly number[], into?: BatchBuffer): Float32Array {
  // Consecutive rows of dense storage: a view (a shard of the digits is 6 MB not copied).
  if (m.view && rows.length && rows[rows.length - 1]! - rows[0]! === rows.length - 1) return m.view(rows[0]!, rows[0]! + rows.length);
  const out = into ? into.take(rows.length * m.dims) : new Float32Array(rows.length * m.dims);
  rows.forEach((r, k) => m.fill(r, out, k * m.dims)); // fill() writes every entry of the row, zeros too
  return out;
}

/**
 * One buffer that batch() writes batch after batch into, each valid until the next. Memory fresh
 * from the allocator costs a page fault per 4 KiB on first touch: 200 ms of the 210 ms that a
 * 2,048-row shard of mail (8,192 dims, 67 MB) took to densify, for every shard. Only for a
 * consumer done with a batch before it asks for the next: an onnxruntime run, awaited, or a TF.js
 * tensor disposed first (TF.js's cpu backend keeps the array it is given, not a copy).
 */
export class BatchBuffer {
  private buf = new Float32Array(0);

  take(n: number): Float32Array {
    if (this.buf.length < n) this.buf = new Float32Array(n);
    return this.buf.length === n ? this.buf : this.buf.subarray(0, n);
  }
}

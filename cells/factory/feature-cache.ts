import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { canonicalJson } from "../graph/fingerprint.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import { featurize, sparseMatrix, type FeatureMatrix, type FeaturizerSpec, type Payload } from "./featurize.ts";

const MAGIC = 0x31464254; // "TBF1", little-endian
const HEADER = 4; // int32s: magic, rows, dims, nnz

/** Where featurized training rows are kept: a cache (`tracebook gc` empties it; anything in it is rebuilt on use). */
export function featureCacheDir(home: string): string {
  return path.join(home, "cache", "features");
}

/**
 * Hashed n-grams of a training set, kept on disk between processes. Each command that traces
 * attribution (`explain`, `receipt --recompute`, `infer --settle`, a run after a paid inference,
 * `report`) featurizes the same training rows again; on mail that is 1.7 s of a few seconds.
 * Keyed by the featurizer (every field) and the exact texts in order, so a hit is what
 * featurizing would give; an unreadable file is featurized again and rewritten. `write` false
 * (a workspace open read-only) reads a hit and writes nothing.
 */
export async function featurizeCached(home: string, spec: FeaturizerSpec, rows: readonly Payload[], ids?: readonly string[], write = true): Promise<FeatureMatrix> {
  const limit = featureCacheLimit();
  // Stored features are a copy already: nothing to save. A limit of 0 turns the cache off.
  if (spec.kind !== "hashed-ngrams" || limit === 0) return featurize(spec, rows, ids);
  const hash = createHash("sha256").update(canonicalJson(spec));
  for (const r of rows) {
    const text = `${r.title ?? ""}\n${r.text ?? ""}`;
    hash.update(`${Buffer.byteLength(text)}:`).update(text);
  }
  const file = path.join(featureCacheDir(home), `${hash.digest("hex")}.bin`);
  const cached = read(file, rows.length, spec.dims);
  if (cached) {
    touch(file); // recently used: the last to go
    return cached;
  }
  const m = featurize(spec, rows, ids);
  // A workspace open read-only is not written to; a cache that cannot be written is no cache.
  if (!write) return m;
  try {
    await writeFileAtomic(file, encode(m));
  } catch {
    return m;
  }
  pruneFeatureCache(home, limit, file);
  return m;
}

/** Bytes the cache may hold: TRACEBOOK_FEATURE_CACHE_MB (MiB; default 512, about 35 mail training sets); 0 turns it off. */
export function featureCacheLimit(): number {
  const raw = process.env.TRACEBOOK_FEATURE_CACHE_MB;
  if (raw === undefined || raw.trim() === "") return 512 * 2 ** 20;
  const mb = Number(raw);
  if (!Number.isFinite(mb) || mb < 0) throw new Error(`TRACEBOOK_FEATURE_CACHE_MB must be a number of MiB ≥ 0, got ${JSON.stringify(raw)}`);
  return Math.floor(mb * 2 ** 20);
}

/**
 * Keep the cache within `limit` bytes: every retrain adds a training set (14.5 MB on mail), and
 * only the current ones are read again. The least recently used files go first (their mtime: a
 * hit touches its file); `keep`, the file just written, stays even alone over the limit. Another
 * process may remove the same file at the same time: a file already gone is no error.
 */
export function pruneFeatureCache(home: string, limit: number, keep?: string): { removed: number; bytes: number } {
  const dir = featureCacheDir(home);
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith(".bin"));
  } catch {
    return { removed: 0, bytes: 0 };
  }
  const files = names.flatMap((n) => {
    try {
      const st = fs.statSync(path.join(dir, n));
      return [{ file: path.join(dir, n), bytes: st.size, used: st.mtimeMs }];
    } catch {
      return [];
    }
  }).sort((a, b) => b.used - a.used || (a.file < b.file ? -1 : 1));
  let held = 0, removed = 0, freed = 0;
  for (const f of files) {
    if (f.file === keep || held + f.bytes <= limit) {
      held += f.bytes;
      continue;
    }
    fs.rmSync(f.file, { force: true });
    removed++;
    freed += f.bytes;
  }
  return { removed, bytes: freed };
}

function touch(file: string): void {
  const now = new Date();
  try {
    fs.utimesSync(file, now, now);
  } catch {
    // gone meanwhile (another process pruned it): nothing to keep fresh
  }
}

function encode(m: FeatureMatrix): Uint8Array {
  let nnz = 0;
  for (let i = 0; i < m.rows; i++) nnz += m.sparse(i).idx.length;
  const buf = new ArrayBuffer(4 * (HEADER + m.rows + 1 + 2 * nnz));
  const head = new Int32Array(buf, 0, HEADER + m.rows + 1);
  head.set([MAGIC, m.rows, m.dims, nnz]);
  const idx = new Int32Array(buf, 4 * (HEADER + m.rows + 1), nnz), val = new Float32Array(buf, 4 * (HEADER + m.rows + 1 + nnz), nnz);
  let at = 0;
  for (let i = 0; i < m.rows; i++) {
    const r = m.sparse(i);
    head[HEADER + i] = at;
    idx.set(r.idx, at);
    val.set(r.val, at);
    at += r.idx.length;
  }
  head[HEADER + m.rows] = at;
  return new Uint8Array(buf);
}

function read(file: string, rows: number, dims: number): FeatureMatrix | null {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    return null;
  }
  // Typed views need 4-byte alignment: a copy when the buffer's offset is not.
  const buf = bytes.byteOffset % 4 === 0 ? bytes.buffer : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const base = bytes.byteOffset % 4 === 0 ? bytes.byteOffset : 0;
  if (bytes.byteLength < 4 * (HEADER + 1)) return null;
  const head = new Int32Array(buf, base, HEADER);
  const nnz = head[3]!;
  if (head[0] !== MAGIC || head[1] !== rows || head[2] !== dims || bytes.byteLength !== 4 * (HEADER + rows + 1 + 2 * nnz)) return null;
  const offsets = new Int32Array(buf, base + 4 * HEADER, rows + 1);
  const idx = new Int32Array(buf, base + 4 * (HEADER + rows + 1), nnz), val = new Float32Array(buf, base + 4 * (HEADER + rows + 1 + nnz), nnz);
  const out: { idx: Int32Array; val: Float32Array }[] = [];
  for (let i = 0; i < rows; i++) {
    const a = offsets[i]!, b = offsets[i + 1]!;
    if (!(a >= 0 && a <= b && b <= nnz)) return null;
    out.push({ idx: idx.subarray(a, b), val: val.subarray(a, b) });
  }
  return sparseMatrix(out, dims);
}

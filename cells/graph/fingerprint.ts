import { createHash } from "node:crypto";

/**
 * Canonical JSON: object keys sorted, bigint as decimal strings, typed arrays as lists, Dates
 * as ISO strings. Two params objects that mean the same thing give the same text; anything
 * that cannot be canonicalised (functions, symbols, undefined in lists) is refused.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonical(value, "params"));
}

function canonical(value: unknown, path: string): unknown {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`${path}: ${value} cannot be part of a fingerprint`);
    return value;
  }
  if (typeof value === "bigint") return { $bigint: value.toString() };
  if (value instanceof Date) return { $date: value.toISOString() };
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as unknown as ArrayLike<number>);
  if (Array.isArray(value)) return value.map((v, i) => canonical(v, `${path}[${i}]`));
  if (typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = canonical(v, `${path}.${key}`);
    }
    return out;
  }
  throw new Error(`${path}: a ${typeof value} cannot be part of a fingerprint`);
}

export function sha256(text: string | Uint8Array): string {
  return createHash("sha256").update(text).digest("hex");
}

export interface FingerprintParts {
  kind: string;
  version: string;
  params: unknown;
  /** Input cell name → that input's data version. */
  inputs: Record<string, string>;
  /** Version of outside state a source cell reads (e.g. a Datanet snapshot root). */
  source?: string | null;
}

/** fingerprint = hash(kind, kind's code version, canonical params, input data versions [, source version]). */
export function fingerprint(parts: FingerprintParts): string {
  return sha256(canonicalJson({
    kind: parts.kind, version: parts.version, params: parts.params, inputs: parts.inputs, source: parts.source ?? null,
  }));
}

/**
 * Merkle root over leaf hashes (hex), sorted so the root names a set, not an order. Pairs are
 * hashed left‖right; an odd node is carried up unchanged. A single proof path can later show
 * that one contribution was in a snapshot without revealing the others.
 */
export function merkleRoot(leaves: string[]): string {
  if (leaves.length === 0) return sha256("tracebook.merkle.empty");
  let level: Buffer[] = [...leaves].sort().map((h) => Buffer.from(h, "hex"));
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const right = level[i + 1];
      next.push(right ? createHash("sha256").update(level[i]!).update(right).digest() : level[i]!);
    }
    level = next;
  }
  return level[0]!.toString("hex");
}

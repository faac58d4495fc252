import crypto, { createHash } from "node:crypto";
import { canonicalJson } from "./canonical.ts";

// Its own module (no node:crypto) so the browser can featurize; re-exported for the cells.
export { canonicalJson };

/**
 * Node's one-shot digest (20.12 and later): 5-7 times faster than a Hash object for the short
 * texts hashed by the hundred thousand (reward lines, receipts, Merkle nodes): a report's ledger
 * roots at 385,172 reward lines took 3.5 s with createHash.
 */
const oneShot = (crypto as { hash?: (algorithm: string, data: string | Uint8Array, encoding: "hex" | "buffer") => string | Buffer }).hash;

export function sha256(text: string | Uint8Array): string {
  return oneShot ? (oneShot("sha256", text, "hex") as string) : createHash("sha256").update(text).digest("hex");
}

/** The SHA-256 digest of `bytes`, as bytes. */
function sha256Of(bytes: Uint8Array): Buffer {
  return oneShot ? (oneShot("sha256", bytes, "buffer") as Buffer) : createHash("sha256").update(bytes).digest();
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
 * hashed left‖right; an odd node is carried up unchanged. A path (merkleTree) shows that one
 * leaf is in the set without revealing the others.
 */
export function merkleRoot(leaves: string[]): string {
  if (leaves.length === 0) return sha256("tracebook.merkle.empty");
  return merkleLevels(leaves).at(-1)!.hex(0);
}

/** One step of a Merkle path: the sibling's hash, and on which side of the running hash it goes. */
export interface MerkleStep { side: "left" | "right"; hash: string }

/**
 * The tree over `leaves`, built once: its root (merkleRoot's) and the path of any of its leaves
 * to that root, so a proof of many leaves costs one tree, not one per leaf.
 */
export function merkleTree(leaves: string[]): { root: string; paths(wanted: readonly string[]): MerkleStep[][] } {
  if (leaves.length === 0) return { root: merkleRoot(leaves), paths: (wanted) => wanted.map((leaf) => { throw new Error(`merkleTree: ${leaf} is not one of the leaves`); }) };
  const levels = merkleLevels(leaves);
  const index = new Map<string, number>();
  for (let i = 0; i < levels[0]!.length; i++) if (!index.has(levels[0]!.hex(i))) index.set(levels[0]!.hex(i), i);
  return {
    root: levels.at(-1)!.hex(0),
    paths: (wanted) => wanted.map((leaf) => {
      let i = index.get(leaf.toLowerCase());
      if (i === undefined) throw new Error(`merkleTree: ${leaf} is not one of the leaves`);
      const path: MerkleStep[] = [];
      for (const level of levels.slice(0, -1)) {
        const sibling = i ^ 1;
        if (sibling < level.length) path.push({ side: sibling < i ? "left" : "right", hash: level.hex(sibling) });
        i >>= 1; // a node without a sibling is carried up to the same place
      }
      return path;
    }),
  };
}

/** The root a leaf and its path lead to: what the holder of one leaf compares with a root published elsewhere. */
export function rootFromPath(leaf: string, path: readonly MerkleStep[]): string {
  let h: Buffer = Buffer.from(leaf, "hex");
  for (const step of path) {
    const sibling = Buffer.from(step.hash, "hex");
    h = sha256Of(step.side === "left" ? Buffer.concat([sibling, h]) : Buffer.concat([h, sibling]));
  }
  return h.toString("hex");
}

/** A level of the tree: its nodes' 32-byte digests side by side, one allocation rather than one per node. */
class Level {
  constructor(readonly bytes: Buffer, readonly length: number) {}
  node(i: number): Buffer {
    return this.bytes.subarray(i * 32, i * 32 + 32);
  }
  hex(i: number): string {
    return this.bytes.toString("hex", i * 32, i * 32 + 32);
  }
}

const DIGEST = /^[0-9a-fA-F]{64}$/;

/** Every level of the tree, the sorted leaves first and the root last. */
function merkleLevels(leaves: string[]): Level[] {
  const sorted = [...leaves].sort();
  // Hex decoding stops at the first character that is not hex: every leaf 64 characters and the
  // whole 32 bytes a leaf says each was a digest (a regular expression per leaf cost 0.2 s at 385,172).
  const bytes = Buffer.from(sorted.join(""), "hex");
  const odd = sorted.find((h) => h.length !== 64) ?? (bytes.length === sorted.length * 32 ? undefined : sorted.find((h) => !DIGEST.test(h)));
  if (odd !== undefined) throw new Error(`merkle leaves are SHA-256 digests (64 hex characters), not ${JSON.stringify(odd.slice(0, 80))}`);
  let level = new Level(bytes, sorted.length);
  const levels = [level];
  while (level.length > 1) {
    const next = new Level(Buffer.allocUnsafe(Math.ceil(level.length / 2) * 32), Math.ceil(level.length / 2));
    for (let i = 0; i < level.length; i += 2) {
      // Two siblings lie side by side: their node is the hash of those 64 bytes as they are.
      const node = i + 1 < level.length ? sha256Of(level.bytes.subarray(i * 32, i * 32 + 64)) : level.node(i);
      node.copy(next.bytes, (i / 2) * 32);
    }
    levels.push(next);
    level = next;
  }
  return levels;
}

import { createHash } from "node:crypto";
import { canonicalJson } from "./canonical.ts";

// Its own module (no node:crypto) so the browser can featurize; re-exported for the cells.
export { canonicalJson };

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
 * hashed left‖right; an odd node is carried up unchanged. A path (merkleTree) shows that one
 * leaf is in the set without revealing the others.
 */
export function merkleRoot(leaves: string[]): string {
  if (leaves.length === 0) return sha256("tracebook.merkle.empty");
  return merkleLevels(leaves).at(-1)![0]!.toString("hex");
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
  levels[0]!.forEach((b, i) => { if (!index.has(b.toString("hex"))) index.set(b.toString("hex"), i); });
  return {
    root: levels.at(-1)![0]!.toString("hex"),
    paths: (wanted) => wanted.map((leaf) => {
      let i = index.get(leaf.toLowerCase());
      if (i === undefined) throw new Error(`merkleTree: ${leaf} is not one of the leaves`);
      const path: MerkleStep[] = [];
      for (const level of levels.slice(0, -1)) {
        const sibling = i ^ 1;
        if (sibling < level.length) path.push({ side: sibling < i ? "left" : "right", hash: level[sibling]!.toString("hex") });
        i >>= 1; // a node without a sibling is carried up to the same place
      }
      return path;
    }),
  };
}

/** The root a leaf and its path lead to: what the holder of one leaf compares with a root published elsewhere. */
export function rootFromPath(leaf: string, path: readonly MerkleStep[]): string {
  let h = Buffer.from(leaf, "hex");
  for (const step of path) {
    const sibling = Buffer.from(step.hash, "hex");
    h = createHash("sha256").update(step.side === "left" ? sibling : h).update(step.side === "left" ? h : sibling).digest();
  }
  return h.toString("hex");
}

/** Every level of the tree, the sorted leaves first and the root last. */
function merkleLevels(leaves: string[]): Buffer[][] {
  let level: Buffer[] = [...leaves].sort().map((h) => Buffer.from(h, "hex"));
  const levels = [level];
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const right = level[i + 1];
      next.push(right ? createHash("sha256").update(level[i]!).update(right).digest() : level[i]!);
    }
    levels.push(next);
    level = next;
  }
  return levels;
}

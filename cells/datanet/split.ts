import { createHash } from "node:crypto";

export type Split = "train" | "test";

export const SPLIT_RULE =
  "test if sha256('tracebook.split.v1:' || seed || ':' || contribution_id), read as a 48-bit fraction, is below test_fraction";

/**
 * A deterministic split keyed on the content hash: the same contribution lands in the same
 * split whatever the import order, and duplicates can never straddle train and test.
 */
export function splitOf(id: string, seed: number, testFraction: number): Split {
  const digest = createHash("sha256").update(`tracebook.split.v1:${seed}:${id}`).digest();
  return digest.readUIntBE(0, 6) / 2 ** 48 < testFraction ? "test" : "train";
}

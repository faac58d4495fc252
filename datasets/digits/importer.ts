import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import type { ContributionInput, ContributorInfo, DatanetSpec } from "../../cells/datanet/types.ts";
import { packageRoot, type Corpus, type CorpusRows } from "../corpus.ts";

const PACKAGE = "mnist";
export const PIXELS = 28 * 28;

/** Samples per digit in the mnist package (10,000 MNIST images in all). */
export const DIGIT_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978] as const;

/**
 * The package ships each digit's images in a fixed order. Contributors are twelve scribes
 * with Zipf-shaped shares (weight 1/k for scribe k): the i-th of a digit's n images goes to the
 * first scribe whose cumulative share exceeds i/n. Every scribe writes every digit, in uneven
 * amounts (scribe-01 about 32 %, scribe-12 about 2.7 %).
 */
export const SCRIBES = 12;
export const CONTRIBUTOR_RULE =
  "image i of digit d's n images (package order) → scribe-k, the first k with sum_{j<=k}(1/j) / H_12 > i/n";

export function scribeOf(i: number, n: number): string {
  const harmonic = Array.from({ length: SCRIBES }, (_, k) => 1 / (k + 1)).reduce((a, b) => a + b, 0);
  let cumulative = 0;
  for (let k = 1; k <= SCRIBES; k++) {
    cumulative += 1 / k / harmonic;
    if (i / n < cumulative) return scribeId(k);
  }
  return scribeId(SCRIBES);
}

const scribeId = (k: number) => `scribe-${String(k).padStart(2, "0")}`;

export const digits: Corpus = {
  name: "digits",
  importer: "tracebook/digits@1",
  spec(): DatanetSpec {
    const { version } = packageRoot(PACKAGE);
    return {
      name: "digits",
      kind: "features",
      description: "MNIST handwritten digits from the mnist package: 28×28 grey levels in [0, 1] as 784 features, label 0-9",
      source: `npm:${PACKAGE}@${version}`,
      labels: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
      featureDim: PIXELS,
      contributorRule: CONTRIBUTOR_RULE,
      splitSeed: 0,
      testFraction: 0.2,
    };
  },
  async load(onProgress) {
    const { dir, version } = packageRoot(PACKAGE);
    const digest = createHash("sha256");
    const rows: ContributionInput[] = [];
    const contributors = new Map<string, ContributorInfo>();
    const importedAt = new Date();
    for (let d = 0; d <= 9; d++) {
      const file = path.join(dir, "src", "digits", `${d}.json`);
      const raw = fs.readFileSync(file);
      digest.update(raw);
      const { data } = JSON.parse(raw.toString("utf8")) as { data: number[] };
      if (data.length % PIXELS !== 0) throw new Error(`${file}: ${data.length} values is not a whole number of 28×28 images`);
      const n = data.length / PIXELS;
      for (let i = 0; i < n; i++) {
        const contributor = scribeOf(i, n);
        contributors.set(contributor, { displayName: contributor, rule: CONTRIBUTOR_RULE });
        const source = `${PACKAGE}@${version}/src/digits/${d}.json#${i}`;
        rows.push({
          contributor,
          label: String(d),
          features: data.slice(i * PIXELS, (i + 1) * PIXELS),
          submittedAt: importedAt,
          source,
          where: { file: `${PACKAGE}/src/digits/${d}.json`, row: i + 1 },
        });
      }
      onProgress?.(rows.length, 10_000);
    }
    return { rows, contributors, sourceSha256: digest.digest("hex"), notes: {} } satisfies CorpusRows;
  },
};

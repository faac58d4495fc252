// The feature cache: featurized training rows kept on disk between commands, exactly what
// featurizing gives, and rebuilt when the file is unreadable.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { featurize, hashedNgrams, type FeatureMatrix } from "../cells/factory/featurize.ts";
import { featureCacheDir, featurizeCached } from "../cells/factory/feature-cache.ts";
import { tempDir } from "./helpers/workspace.ts";

const rows = Array.from({ length: 50 }, (_, i) => ({ title: i % 3 ? `Subject ${i}` : null, text: `message number ${i}: ${"free offer click here ".repeat(i % 7)} meeting notes ${i * 7}` }));
const asArrays = (m: FeatureMatrix) => Array.from({ length: m.rows }, (_, i) => [Array.from(m.sparse(i).idx), Array.from(m.sparse(i).val)]);

describe("featurizeCached", () => {
  it("gives what featurizing gives, from the file on the second call, and rebuilds a damaged file", async () => {
    const home = tempDir("tb-features-");
    const spec = hashedNgrams({ dims: 512, ngrams: 2, seed: 0 });
    const fresh = featurize(spec, rows);
    expect(asArrays(await featurizeCached(home, spec, rows))).toEqual(asArrays(fresh));
    const [file] = fs.readdirSync(featureCacheDir(home)).map((f) => path.join(featureCacheDir(home), f));
    expect(file).toBeDefined();

    // Read back from disk: a value changed in the file shows up (the file is what answers).
    const bytes = fs.readFileSync(file!);
    const changed = Buffer.from(bytes);
    changed.writeFloatLE(1234.5, changed.length - 4);
    fs.writeFileSync(file!, changed);
    const read = await featurizeCached(home, spec, rows);
    expect(read.sparse(rows.length - 1).val.at(-1)).toBe(1234.5);

    // A truncated file is featurized again and rewritten.
    fs.writeFileSync(file!, bytes.subarray(0, 100));
    expect(asArrays(await featurizeCached(home, spec, rows))).toEqual(asArrays(fresh));
    expect(fs.readFileSync(file!).equals(bytes)).toBe(true);

    // Another featurizer, or other texts, another file.
    await featurizeCached(home, hashedNgrams({ dims: 512, ngrams: 2, seed: 1 }), rows);
    await featurizeCached(home, spec, rows.slice(1));
    expect(fs.readdirSync(featureCacheDir(home))).toHaveLength(3);
  });
});

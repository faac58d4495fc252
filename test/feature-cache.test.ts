// The feature cache: featurized training rows kept on disk between commands, exactly what
// featurizing gives, and rebuilt when the file is unreadable.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { featurize, hashedNgrams, type FeatureMatrix } from "../cells/factory/featurize.ts";
import { featureCacheDir, featurizeCached, featureCacheLimit } from "../cells/factory/feature-cache.ts";
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

  it("stays within TRACEBOOK_FEATURE_CACHE_MB, the least recently used training set first; 0 keeps nothing", async () => {
    const home = tempDir("tb-features-");
    const before = process.env.TRACEBOOK_FEATURE_CACHE_MB;
    const sets = [0, 1, 2, 3].map((k) => rows.map((r) => ({ ...r, text: `${r.text} set ${k}` })));
    const spec = hashedNgrams({ dims: 512, ngrams: 2, seed: 0 });
    const files = () => new Set(fs.readdirSync(featureCacheDir(home)));
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)); // mtimes set by hand: no waiting on the clock
    try {
      await featurizeCached(home, spec, sets[0]!);
      const [one] = [...files()];
      const size = fs.statSync(path.join(featureCacheDir(home), one!)).size;
      process.env.TRACEBOOK_FEATURE_CACHE_MB = String((2.5 * size) / 2 ** 20); // room for two sets
      const stamp = (name: string, s: number) => fs.utimesSync(path.join(featureCacheDir(home), name), at(s), at(s));
      stamp(one!, 1);
      await featurizeCached(home, spec, sets[1]!);
      const two = [...files()].find((f) => f !== one)!;
      stamp(two, 2);
      // Set 0 is read again: now the most recently used, so set 1 goes when set 2 comes.
      await featurizeCached(home, spec, sets[0]!);
      expect(fs.statSync(path.join(featureCacheDir(home), one!)).mtimeMs).toBeGreaterThan(at(2).getTime());
      await featurizeCached(home, spec, sets[2]!);
      const now = files();
      expect(now.size).toBe(2);
      expect(now.has(one!)).toBe(true);
      expect(now.has(two)).toBe(false);
      // What is read back is still exactly what featurizing gives.
      expect(asArrays(await featurizeCached(home, spec, sets[0]!))).toEqual(asArrays(featurize(spec, sets[0]!)));
      // A limit below one set keeps the set just written, alone.
      process.env.TRACEBOOK_FEATURE_CACHE_MB = "0.0001";
      await featurizeCached(home, spec, sets[3]!);
      expect(files().size).toBe(1);
      // 0: nothing is written, the answer is the same.
      process.env.TRACEBOOK_FEATURE_CACHE_MB = "0";
      fs.rmSync(featureCacheDir(home), { recursive: true });
      expect(asArrays(await featurizeCached(home, spec, sets[1]!))).toEqual(asArrays(featurize(spec, sets[1]!)));
      expect(fs.existsSync(featureCacheDir(home))).toBe(false);
      process.env.TRACEBOOK_FEATURE_CACHE_MB = "lots";
      expect(() => featureCacheLimit()).toThrow(/TRACEBOOK_FEATURE_CACHE_MB must be a number of MiB ≥ 0, got "lots"/);
    } finally {
      if (before === undefined) delete process.env.TRACEBOOK_FEATURE_CACHE_MB;
      else process.env.TRACEBOOK_FEATURE_CACHE_MB = before;
    }
  });
});

import fc from "fast-check";
import murmurhash from "murmurhash";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ingest } from "../cells/datanet/ingest.ts";
import type { ContributionInput, DatanetSpec } from "../cells/datanet/types.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { runRules, validate } from "../cells/curation/validate.ts";
import { artifactPath, pipeline, pipelineStatus, runPipeline } from "../cells/index.ts";
import { decide } from "../cells/datanet/decisions.ts";
import { defaultRuleSet, parseRuleSet, RULES_FORMAT, ruleRef, type Rule } from "../cells/curation/ruleset.ts";
import { jaccard, minhashSeeds, shingles, signature } from "../cells/curation/minhash.ts";
import { simhashBands } from "../cells/curation/simhash.ts";
import { Rng } from "../cells/compute/random.ts";
import { tempWorkspace } from "./helpers/workspace.ts";

const AT = new Date("2024-03-01T00:00:00Z");
const text = (name: string, labels: string[] | null = null): DatanetSpec =>
  ({ name, kind: "text", description: name, source: "test", labels, contributorRule: "test", splitSeed: 0, testFraction: 0.2 });
const row = (t: string, label: string, contributor = "ann", at = AT, title: string | null = null): ContributionInput =>
  ({ text: t, title, label, contributor, submittedAt: at, source: "test" });
async function load(ws: Workspace, spec: DatanetSpec, rows: ContributionInput[]): Promise<void> {
  await ingest(ws, spec, rows, { mode: "create", status: "approved", validator: "test", importer: "test@1" });
}
/** One rule of a kind, with its defaults and these overrides. */
const only = (rule: Partial<Rule> & { kind: Rule["kind"] }) => parseRuleSet({ format: RULES_FORMAT, name: "t", version: 1, rules: [rule] });
const idOf = async (ws: Workspace, like: string) => (await ws.rows<{ id: string }>("select id from contributions where text like ?", [like]))[0]!.id;

/** A paragraph of `n` distinct words, seeded. */
function prose(n: number, seed: number): string {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => `w${rng.int(0, 5000)}`).join(" ");
}

describe("rule sets", () => {
  it("fill in documented defaults, and refuse what they do not know, naming the rule and field", () => {
    const set = defaultRuleSet("mail");
    expect(set.rules.map((r) => r.kind)).toEqual(["schema", "empty", "oversize", "exact-duplicate", "near-duplicate", "label-set", "rate-limit"]);
    expect(set.rules.find((r) => r.kind === "near-duplicate")).toMatchObject({ shingle: 5, hashes: 128, bands: 32, threshold: 0.8, cosine: 0.99 });
    expect(ruleRef(set, "empty")).toBe("mail@1/empty");
    expect(() => parseRuleSet({ ...set, format: "x" })).toThrow(/format must be "tracebook.rules\/1"/);
    expect(() => only({ kind: "near-duplicate", threshold: 1.5 } as never)).toThrow(/rule 1 \(near-duplicate\): threshold must be in \(0, 1\]/);
    expect(() => only({ kind: "empty", minchars: 3 } as never)).toThrow(/unknown field "minchars" \(fields: minChars\)/);
    expect(() => only({ kind: "nope" } as never)).toThrow(/unknown kind "nope"/);
    expect(() => parseRuleSet({ ...set, rules: [set.rules[0], set.rules[0]] })).toThrow(/rule id "schema" is used twice/);
    expect(() => only({ kind: "near-duplicate", hashes: 100, bands: 32 } as never)).toThrow(/multiple of bands/);
  });
});

describe("MinHash", () => {
  it("hashes shingles as the definition says: MurmurHash3 of the k words joined by spaces (brute force)", () => {
    const word = fc.constantFrom("the", "Same", "wörds", "ﬁne", "日本", "𝒳y", "a1", "z");
    const text = fc.array(fc.tuple(word, fc.constantFrom(" ", ", ", "\n", "--")), { maxLength: 40 }).map((ws) => ws.map(([w, sep]) => w + sep).join(""));
    fc.assert(fc.property(text, fc.integer({ min: 1, max: 6 }), (t, k) => {
      const tokens = t.normalize("NFKC").toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
      const expected = new Set<number>();
      for (let i = 0; i < Math.max(1, tokens.length - k + 1) && tokens.length; i++) expected.add(murmurhash.v3(tokens.slice(i, i + k).join(" "), 0) >>> 0);
      expect(Array.from(shingles(t, k))).toEqual([...expected].sort((a, b) => a - b));
    }), { numRuns: 300, seed: 5 });
  });

  it("estimates Jaccard similarity, deterministically from its seed", () => {
    const a = shingles(prose(300, 1), 5);
    const words = prose(300, 1).split(" ");
    for (let i = 0; i < 300; i += 30) words[i] = "changed"; // 10 words changed
    const b = shingles(words.join(" "), 5);
    const exact = jaccard(a, b);
    expect(exact).toBeGreaterThan(0.7);
    expect(exact).toBeLessThan(0.9);
    const seeds = minhashSeeds(256, 3);
    expect(minhashSeeds(256, 3)).toEqual(seeds);
    const [sa, sb] = [signature(a, seeds), signature(b, seeds)];
    const agree = sa.filter((v, i) => v === sb[i]).length / seeds.length;
    expect(Math.abs(agree - exact)).toBeLessThan(0.1); // binomial sd at 256 hashes ≈ 0.025
    expect(jaccard(shingles("Hello, World!", 5), shingles("hello world", 5))).toBe(1); // NFKC, case and punctuation aside
    expect(shingles("   ", 5).length).toBe(0);
  });
});

describe("SimHash", () => {
  // The definition, one bit at a time: the sign of the float64 sum over every feature, in index
  // order, of feature × hyperplane coefficient (zeros included), packed least significant first.
  const bruteForce = (rows: Float32Array[], dims: number, bits: number, bands: number, seed: number) => {
    const planes = Rng.derive(seed, "simhash").normals(dims * bits), perBand = bits / bands;
    return rows.map((row) => Uint32Array.from({ length: bands }, (_, b) => {
      let w = 0;
      for (let k = 0; k < perBand; k++) {
        let s = 0;
        for (let d = 0; d < row.length; d++) s += row[d]! * planes[d * bits + b * perBand + k]!;
        if (s >= 0) w |= 1 << k;
      }
      return w >>> 0;
    }));
  };

  it("gives the sign bits of the definition exactly, for any number of non-zero features", () => {
    // Sparse rows with every remainder of non-zeros mod 4, tiny values and cancelling ones among them.
    const value = fc.oneof(fc.constant(0), fc.constant(0), fc.float({ min: -2, max: 2, noNaN: true }).map(Math.fround), fc.constantFrom(1e-30, -1e-30, 0.5, -0.5));
    fc.assert(fc.property(fc.integer({ min: 1, max: 24 }), fc.constantFrom([32, 1], [64, 2], [96, 4]), fc.nat(1000), fc.array(fc.nat(1000), { maxLength: 12 }), (dims, [bits, bands], seed, picks) => {
      const rows = picks.map((p) => Float32Array.from({ length: p % 3 ? dims : 0 }, (_, d) => (p + d) % 5 === 0 ? 0 : Math.fround(Math.sin(p * 31 + d) * 2)));
      rows.push(Float32Array.from(fc.sample(value, { numRuns: dims, seed })));
      expect(simhashBands(rows, dims, bits, bands, seed)).toEqual(bruteForce(rows, dims, bits, bands, seed));
    }), { numRuns: 200, seed: 9 });
    expect(() => simhashBands([new Float32Array(5)], 4, 32, 1, 1)).toThrow(/row 0 has 5 features, more than the 4/);
  });
});

describe("validation rules", () => {
  let ws: Workspace;
  beforeEach(async () => { ws = await tempWorkspace(); });
  afterEach(() => ws.close());

  it("schema: flags a row changed behind ingest's back, a wrong split and an unknown contributor", async () => {
    await load(ws, text("notes"), [row("first message here", "a"), row("second message here", "b"), row("third message here", "a")]);
    const [tampered, moved, orphan] = [await idOf(ws, "first%"), await idOf(ws, "second%"), await idOf(ws, "third%")];
    await ws.run("update contributions set text = 'edited afterwards' where id = ?", [tampered]);
    await ws.run("update contributions set split = case split when 'train' then 'test' else 'train' end where id = ?", [moved]);
    await ws.run("update contributions set contributor = 'ghost' where id = ?", [orphan]);
    const flags = await runRules(ws, "notes", only({ kind: "schema" }));
    const by = new Map(flags.map((f) => [f.contribution, f.reason]));
    expect(by.get(tampered)).toMatch(/id is not the hash of its content .*changed after import/);
    expect(by.get(moved)).toMatch(/split is "(train|test)" but the split rule gives/);
    expect(by.get(orphan)).toMatch(/contributor "ghost" is not in the contributors table/);
    expect(flags.every((f) => f.severity === "error" && f.rule === "schema")).toBe(true);
  });

  it("empty and oversize: payloads too small or too large to be one example", async () => {
    await load(ws, text("notes"), [row("ok", "a", "ann", AT, "hi"), row("a reasonable message of some length", "a"), row("x".repeat(600), "b")]);
    const empty = await runRules(ws, "notes", only({ kind: "empty" }));
    expect(empty.map((f) => f.reason)).toEqual([expect.stringMatching(/^payload is 5 characters \(title and text; minimum 20\): too little to learn from/)]);
    const big = await runRules(ws, "notes", only({ kind: "oversize", maxTextBytes: 500 } as never));
    expect(big).toHaveLength(1);
    expect(big[0]!.reason).toMatch(/^text is 600 bytes \(limit 500\): usually a pasted attachment/);
  });

  it("empty: a constant feature vector is a blank example", async () => {
    const spec: DatanetSpec = { name: "px", kind: "features", description: "", source: "test", labels: null, featureDim: 4, contributorRule: "t", splitSeed: 0, testFraction: 0.2 };
    await load(ws, spec, [
      { features: [0, 0, 0, 0], label: "a", contributor: "ann", submittedAt: AT, source: "t" },
      { features: [0, 1, 0, 0], label: "a", contributor: "ann", submittedAt: AT, source: "t" },
    ]);
    const flags = await runRules(ws, "px", only({ kind: "empty" }));
    expect(flags.map((f) => f.reason)).toEqual(["all 4 features are 0: a blank example carries no signal; reject it"]);
  });

  it("label-set: labels outside the allowed set, with a hint for a near miss", async () => {
    await load(ws, text("notes", ["ham", "spam"]), [row("a message to keep", "ham"), row("another message here", "Spam"), row("yet another one here", "eggs")]);
    const declared = await runRules(ws, "notes", only({ kind: "label-set" }));
    expect(declared.map((f) => f.reason)).toEqual(expect.arrayContaining([
      expect.stringMatching(/^label "Spam" is not one of "ham", "spam" \(did the contributor mean "spam"\?\)/),
      expect.stringMatching(/^label "eggs" is not one of "ham", "spam": models cannot learn it/),
    ]));
    const ruled = await runRules(ws, "notes", only({ kind: "label-set", allowed: ["ham", "eggs"] } as never));
    expect(ruled).toHaveLength(1);
  });

  it("exact duplicates: the same payload under another label, re-spaced copies, and copies in another Datanet", async () => {
    const later = new Date(AT.getTime() + 86_400_000);
    await load(ws, text("other"), [row("shared across datanets", "a", "zed")]);
    await load(ws, text("notes"), [
      row("the same words", "a", "ann"), row("the same words", "b", "bob", later),
      row("spaced  out\ncopy", "a", "ann"), row("spaced out copy", "a", "cat", later),
      row("shared across datanets", "a", "dan", later), row("unique row", "a"),
    ]);
    const flags = await runRules(ws, "notes", only({ kind: "exact-duplicate" }));
    const conflict = flags.filter((f) => f.severity === "conflict");
    expect(conflict).toHaveLength(2); // both sides of a conflict: the curator must see both labels
    expect(conflict[0]!.reason).toMatch(/^same payload as [0-9a-f]{8}… \((ann|bob)\) labelled "(a|b)", here "(a|b)": at most one label is right/);
    const copies = flags.filter((f) => f.severity === "duplicate");
    expect(copies.map((f) => f.contributor).sort()).toEqual(["cat", "dan"]);
    expect(copies.find((f) => f.contributor === "cat")!.reason).toMatch(/up to spacing, same label/);
    expect(copies.find((f) => f.contributor === "dan")!.reason).toMatch(/in Datanet "other", submitted earlier \(2024-03-01\) by zed/);
    const blind = await runRules(ws, "notes", only({ kind: "exact-duplicate", acrossDatanets: false } as never));
    expect(blind.some((f) => f.contributor === "dan")).toBe(false);
  });

  it("validate cell: stale when the copy another Datanet holds is decided on, and its flag follows", async () => {
    const later = new Date(AT.getTime() + 86_400_000);
    await load(ws, text("other"), [row("shared across datanets", "a", "zed"), row("only over there", "a", "zed")]);
    await load(ws, text("notes"), [row("shared across datanets", "a", "dan", later), row("unique row", "a")]);
    const p = pipeline("v", { flags: validate("notes", { rules: only({ kind: "exact-duplicate" }) }) });
    const dan = async () => {
      await runPipeline(ws, p);
      const [run] = await ws.rows<{ data_version: string }>("select data_version from runs where pipeline = 'v' and status = 'succeeded' order by finished_at desc limit 1");
      return (await ws.rows(`select contributor from read_parquet('${artifactPath(ws, run!.data_version)}') where contributor = 'dan'`)).length;
    };
    expect(await dan()).toBe(1);
    // The earlier copy is rejected over there: this one is no longer a copy of anything standing.
    await decide(ws, { ids: [await idOf(ws, "shared across datanets")], datanet: "other", verdict: "rejected", validator: "t", reason: "r" });
    expect((await pipelineStatus(ws, p))[0]).toMatchObject({ state: "stale", reason: expect.stringMatching(/^Datanet notes snapshot \(and its content in other Datanets\) changed/) });
    expect(await dan()).toBe(0);
    // A decision on content this Datanet does not hold leaves it fresh.
    await decide(ws, { ids: [await idOf(ws, "only over there")], verdict: "rejected", validator: "t", reason: "r" });
    expect((await pipelineStatus(ws, p))[0]!.state).toBe("fresh");
  });

  it("near duplicates (text): MinHash candidates verified at the exact Jaccard threshold; label conflicts flag both sides", async () => {
    const base = prose(200, 7);
    const words = base.split(" ");
    words[50] = "different";
    const later = new Date(AT.getTime() + 86_400_000);
    await load(ws, text("notes"), [
      row(base, "spam", "ann"), row(words.join(" "), "spam", "bob", later), // a near copy
      row(prose(200, 8), "spam", "ann"), row(`${prose(200, 8)} tail`, "ham", "cat", later), // a near copy, relabelled
      row(prose(200, 9), "ham", "dan"), // unrelated
    ]);
    const flags = await runRules(ws, "notes", only({ kind: "near-duplicate" }));
    expect(flags.map((f) => [f.contributor, f.severity]).sort()).toEqual([["ann", "conflict"], ["bob", "duplicate"], ["cat", "conflict"]]);
    const bob = flags.find((f) => f.contributor === "bob")!;
    expect(bob.value!).toBeGreaterThan(0.9);
    expect(bob.reason).toMatch(/^near-duplicate of [0-9a-f]{8}… \(ann, 2024-03-01; Jaccard over 5-word shingles 0\.9\d\d ≥ 0\.8\): a copy adds no information/);
    expect(flags.find((f) => f.contributor === "cat")!.reason).toMatch(/labelled "spam" there, "ham" here: one label is wrong/);
    // Deterministic: the same rows and rules give the same flags.
    expect(await runRules(ws, "notes", only({ kind: "near-duplicate" }))).toEqual(flags);
    // The threshold is exact: above the pair's Jaccard, nothing.
    expect(await runRules(ws, "notes", only({ kind: "near-duplicate", threshold: 0.999 } as never))).toEqual([]);
  });

  it("near duplicates: a label conflict is reported before a closer copy under the same label", async () => {
    const a = prose(200, 11), words = a.split(" ");
    words[100] = "changed";
    const t = (s: number) => new Date(AT.getTime() + s * 1000);
    await load(ws, text("notes"), [row(a, "spam", "ann", t(0)), row(words.join(" "), "ham", "bob", t(1)), row(`${a} tail`, "spam", "cat", t(2))]);
    const cat = (await runRules(ws, "notes", only({ kind: "near-duplicate" }))).filter((f) => f.contributor === "cat");
    expect(cat).toHaveLength(1);
    expect(cat[0]!.severity).toBe("conflict");
    expect(cat[0]!.reason).toMatch(/\(bob, .*labelled "ham" there, "spam" here/);
  });

  it("near duplicates (features): SimHash candidates verified by exact cosine", async () => {
    const rng = new Rng(3);
    const vec = () => Array.from({ length: 64 }, () => rng.uniform());
    const a = vec();
    const spec: DatanetSpec = { name: "px", kind: "features", description: "", source: "test", labels: null, featureDim: 64, contributorRule: "t", splitSeed: 0, testFraction: 0.2 };
    await load(ws, spec, [
      { features: a, label: "1", contributor: "ann", submittedAt: AT, source: "t" },
      { features: a.map((v) => v + 0.001 * rng.normal()), label: "1", contributor: "bob", submittedAt: new Date(AT.getTime() + 1000), source: "t" },
      ...Array.from({ length: 20 }, () => ({ features: vec(), label: "2", contributor: "cat", submittedAt: AT, source: "t" })),
    ]);
    const flags = await runRules(ws, "px", only({ kind: "near-duplicate" }));
    expect(flags.map((f) => f.contributor)).toEqual(["bob"]);
    expect(flags[0]!.reason).toMatch(/cosine 1\.000 ≥ 0\.99/);
  });

  it("rate limit: a contributor far above the window's median, one flag about the contributor", async () => {
    const rows: ContributionInput[] = [];
    for (const [who, n] of [["ann", 3], ["bob", 4], ["cat", 5], ["dan", 120]] as const) {
      for (let i = 0; i < n; i++) rows.push(row(`${who} message number ${i}`, "a", who, new Date(AT.getTime() + i * 60_000)));
    }
    rows.push(row("dan again, weeks later", "a", "dan", new Date(AT.getTime() + 30 * 86_400_000)));
    await load(ws, text("notes"), rows);
    const flags = await runRules(ws, "notes", only({ kind: "rate-limit" }));
    expect(flags).toHaveLength(1);
    expect(flags[0]).toMatchObject({ contribution: null, contributor: "dan", severity: "notice" });
    // The median of 3, 4, 5 and 120 is 4.5: 120 is 26.7× that.
    expect(flags[0]!.reason).toMatch(/^120 submissions in 7 days from 2024-02-29: 26\.7× the median \(4\.5\) of 4 active contributors.*--where "contributor = 'dan' and submitted_at >= '2024-02-29' and submitted_at < '2024-03-07'"/);
    expect(await runRules(ws, "notes", only({ kind: "rate-limit", factor: 30 } as never))).toEqual([]);
  });
});

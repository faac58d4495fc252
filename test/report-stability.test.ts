import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { massBoundPenalties, penaltySides, penaltyStability } from "../reports/collect/stability.ts";
import { DUPLICATE_CONTENT } from "../cells/attribution/duplicate.ts";
import { round6 } from "../reports/collect/amount.ts";

describe("penalty stability", () => {
  it("lifts the penalty that one heavy inference decides, and counts the left-out mass", () => {
    // b is negative overall only because of q0, the inference with by far the most mass.
    const rows = [
      { query: "q0", key: "a", score: 5 }, { query: "q0", key: "b", score: -4 },
      ...Array.from({ length: 99 }, (_, i) => [{ query: `q${i + 1}`, key: "a", score: -0.01 }, { query: `q${i + 1}`, key: "b", score: 0.02 }]).flat(),
      { query: "q0", key: DUPLICATE_CONTENT, score: -100 },
    ];
    const epochs = new Map(Array.from({ length: 100 }, (_, i) => [`q${i}`, { epoch: "e1", model_id: "m" }]));
    const [s] = penaltyStability(rows, epochs);
    expect(s).toEqual({ epoch: "e1", model_id: "m", inferences: 100, left_out: 1, left_out_share: expect.closeTo(9 / (9 + 99 * 0.03), 6), penalised: 1, lifted: ["b"], added: ["a"] });
  });

  it("agrees with a brute-force recount for any rows, scope by scope (epoch and model)", () => {
    const row = fc.record({ query: fc.integer({ min: 0, max: 250 }).map((q) => `q${q}`), key: fc.constantFrom("a", "b", "c", "d"), score: fc.double({ min: -1, max: 1, noNaN: true }) });
    fc.assert(fc.property(fc.array(row, { maxLength: 400 }), (raw) => {
      // One row per (query, key), as a tracin table has.
      const rows = [...new Map(raw.map((r) => [`${r.query}/${r.key}`, r])).values()];
      const epochs = new Map(rows.map((r) => [r.query, { epoch: Number(r.query.slice(1)) % 2 ? "odd" : "even", model_id: `m${Number(r.query.slice(1)) % 3}` }]));
      const scopes = penaltyStability(rows, epochs);
      expect(scopes.map((s) => `${s.epoch}/${s.model_id}`)).toEqual([...new Set([...epochs.values()].map((e) => `${e.epoch}/${e.model_id}`))].sort());
      for (const s of scopes) {
        const mine = rows.filter((r) => epochs.get(r.query)!.epoch === s.epoch && epochs.get(r.query)!.model_id === s.model_id);
        const queries = [...new Set(mine.map((r) => r.query))];
        const mass = (q: string) => mine.filter((r) => r.query === q).reduce((t, r) => t + Math.abs(r.score), 0);
        const heavy = new Set(queries.sort().sort((x, y) => mass(y) - mass(x) || (x < y ? -1 : 1)).slice(0, Math.ceil(queries.length / 100)));
        const negative = (keep: (q: string) => boolean) => new Set(["a", "b", "c", "d"].filter((k) => mine.some((r) => r.key === k) &&
          [...mine].sort((x, y) => (x.query < y.query ? -1 : x.query > y.query ? 1 : 0)).filter((r) => r.key === k && keep(r.query)).reduce((t, r) => t + r.score, 0) < 0));
        const now = negative(() => true), without = negative((q) => !heavy.has(q));
        expect(s.inferences).toBe(queries.length);
        expect(s.penalised).toBe(now.size);
        expect(s.lifted).toEqual([...now].filter((k) => !without.has(k)).sort());
        expect(s.added).toEqual([...without].filter((k) => !now.has(k)).sort());
      }
    }), { numRuns: 200, seed: 3 });
  });
});

describe("which side the penalties fall on", () => {
  it("groups contributors by the one output they help, and counts the recorded penalties", () => {
    // s1, s2 help spam and oppose ham; h1 the reverse; m helps both. The workload asks for ham 3 times, spam once.
    const q = (query: string, prediction: string, scores: Record<string, number>) =>
      Object.entries(scores).map(([key, score]) => ({ query, key, score, prediction }));
    const rows = [
      ...q("a", "ham", { s1: -1, s2: -1, h1: 1, m: 1 }), ...q("b", "ham", { s1: -1, s2: -1, h1: 1, m: 1 }), ...q("c", "ham", { s1: -1, s2: -1, h1: 1, m: 1 }),
      ...q("d", "spam", { s1: 2, s2: 2, h1: -1, m: 1, [DUPLICATE_CONTENT]: 9 }),
    ];
    const epochs = new Map(["a", "b", "c", "d"].map((id) => [id, { epoch: "e1", model_id: "m" }]));
    // A penalty recorded on another model's inferences (h1 below) is not this scope's.
    expect(penaltySides(rows, epochs, [{ epoch: "e1", model_id: "m", contributor: "s1" }, { epoch: "e1", model_id: "m", contributor: "s2" }, { epoch: "e1", model_id: "other", contributor: "h1" }])).toEqual([{
      epoch: "e1", model_id: "m",
      // |scores| on ham inferences: 3 × 4 = 12; on spam (the duplicate group is nobody's): 6.
      predictions: [{ prediction: "ham", inferences: 3, mass_share: 0.666667 }, { prediction: "spam", inferences: 1, mass_share: 0.333333 }],
      sides: [{ helps: "ham", contributors: 1, penalised: 0 }, { helps: "spam", contributors: 2, penalised: 2 }, { helps: null, contributors: 1, penalised: 0 }],
    }]);
    // One predicted output, or none: no sides to take.
    expect(penaltySides(rows.filter((r) => r.prediction === "ham"), epochs, [])).toEqual([]);
    expect(penaltySides(rows.map((r) => ({ ...r, prediction: null })), epochs, [])).toEqual([]);
  });

  it("agrees with a brute-force recount for any rows", () => {
    const row = fc.record({
      query: fc.integer({ min: 0, max: 60 }).map((q) => `q${q}`), key: fc.constantFrom("a", "b", "c", "d"),
      score: fc.double({ min: -1, max: 1, noNaN: true }),
    });
    fc.assert(fc.property(fc.array(row, { maxLength: 300 }), fc.subarray(["a", "b", "c", "d"]), (raw, penalisedKeys) => {
      const rows = [...new Map(raw.map((r) => [`${r.query}/${r.key}`, r])).values()]
        .map((r) => ({ ...r, prediction: ["x", "y", "z"][Number(r.query.slice(1)) % 3]! }));
      const epochs = new Map(rows.map((r) => [r.query, { epoch: "e", model_id: "m" }]));
      const [s] = penaltySides(rows, epochs, penalisedKeys.map((contributor) => ({ epoch: "e", model_id: "m", contributor })));
      const outputs = [...new Set(rows.map((r) => r.prediction))];
      if (outputs.length < 2) {
        expect(s).toBeUndefined();
        return;
      }
      const inferences = (p: string) => new Set(rows.filter((r) => r.prediction === p).map((r) => r.query)).size;
      const total = rows.reduce((t, r) => t + Math.abs(r.score), 0);
      const share = (p: string) => rows.filter((r) => r.prediction === p).reduce((t, r) => t + Math.abs(r.score), 0) / total;
      expect(s!.predictions.map(({ mass_share: _m, ...p }) => p)).toEqual(outputs.map((p) => ({ prediction: p, inferences: inferences(p) }))
        .sort((x, y) => y.inferences - x.inferences || (x.prediction < y.prediction ? -1 : 1)));
      for (const p of s!.predictions) expect(p.mass_share).toBeCloseTo(total > 0 ? share(p.prediction) : 0, 5);
      const sorted = [...rows].sort((x, y) => (x.query < y.query ? -1 : x.query > y.query ? 1 : 0));
      const side = (k: string) => {
        const net = (p: string) => sorted.filter((r) => r.key === k && r.prediction === p).reduce((t, r) => t + r.score, 0);
        const present = outputs.filter((p) => rows.some((r) => r.key === k && r.prediction === p));
        const up = present.filter((p) => net(p) > 0);
        return up.length === 1 && present.every((p) => p === up[0] || net(p) < 0) ? up[0]! : null;
      };
      const keys = [...new Set(rows.map((r) => r.key))];
      for (const x of s!.sides) {
        const mine = keys.filter((k) => side(k) === x.helps);
        expect(x.contributors).toBe(mine.length);
        expect(x.penalised).toBe(mine.filter((k) => penalisedKeys.includes(k)).length);
      }
      expect(s!.sides.reduce((n, x) => n + x.contributors, 0)).toBe(keys.length);
    }), { numRuns: 200, seed: 5 });
  });
});

describe("penalties bound to where the influence mass sits", () => {
  const side = (helps: string | null, contributors: number, penalised: number) => ({ helps, contributors, penalised });
  const at = (ham: number) => [{ prediction: "ham", inferences: 860, mass_share: ham }, { prediction: "spam", inferences: 340, mass_share: 1 - ham }];
  it("names the lighter outputs when every penalty falls on their one-sided helpers, and nothing otherwise", () => {
    // Real mail before a retrain (ham predictions 80% of the mass) and after (13%).
    expect(massBoundPenalties({ epoch: "e", predictions: at(0.8), sides: [side("ham", 21, 0), side("spam", 7, 7)] })!.map((p) => p.prediction)).toEqual(["spam"]);
    expect(massBoundPenalties({ epoch: "e", predictions: at(0.13), sides: [side("ham", 20, 20), side("spam", 7, 0), side(null, 1, 0)] })!.map((p) => p.prediction)).toEqual(["ham"]);
    expect(massBoundPenalties({ epoch: "e", predictions: at(0.8), sides: [side("ham", 21, 0), side("spam", 7, 7), side(null, 2, 1)] })).toBeNull(); // a mixed one penalised
    expect(massBoundPenalties({ epoch: "e", predictions: at(0.8), sides: [side("ham", 21, 2), side("spam", 7, 0)] })).toBeNull(); // the heavier side penalised
    expect(massBoundPenalties({ epoch: "e", predictions: at(0.8), sides: [side("spam", 7, 7)] })).toBeNull(); // nobody spared to compare with
    expect(massBoundPenalties({ epoch: "e", predictions: at(0.8), sides: [side("ham", 21, 0), side("spam", 7, 0)] })).toBeNull(); // no penalty
  });
});

describe("the same figures, to the last bit, as sums over string-keyed maps in the same order", () => {
  // The analyses run over ranks in typed arrays (590,000 rows at 21,201 inferences); a report's
  // figures must not move by a rounding: here a reference that sums row by row in (query, key) order.
  type Row = { query: string; key: string; score: number; prediction: string | null };
  const byQueryKey = (a: Row, b: Row) => (a.query < b.query ? -1 : a.query > b.query ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  const scoped = (rows: Row[], scopeOf: Map<string, { epoch: string; model_id: string }>) => {
    const groups = new Map<string, Row[]>();
    for (const r of rows) {
      const s = scopeOf.get(r.query);
      if (!s || r.key === DUPLICATE_CONTENT) continue;
      const k = `${s.epoch}\u0000${s.model_id}`;
      groups.set(k, [...(groups.get(k) ?? []), r]);
    }
    return [...groups].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, list]) => [k.split("\u0000"), list.sort(byQueryKey)] as const);
  };
  const sum = (xs: number[]) => xs.reduce((t, v) => t + v, 0);

  it("for rows of several scopes, keys in any script, shuffled", () => {
    const row = fc.record({
      query: fc.integer({ min: 0, max: 80 }).map((q) => `q${q}`),
      key: fc.constantFrom("a", "B", "é", "\u{1F600}x", "\uFFFDy", DUPLICATE_CONTENT),
      // Repeated values too: queries of equal mass are told apart by id.
      score: fc.oneof(fc.double({ min: -1, max: 1, noNaN: true }), fc.constantFrom(-0.5, 0.25, 0.5)),
    });
    fc.assert(fc.property(fc.array(row, { maxLength: 600 }), (raw) => {
      const rows: Row[] = [...new Map(raw.map((r) => [`${r.query}/${r.key}`, r])).values()]
        .map((r) => ({ ...r, prediction: ["ham", "spam", "x"][Number(r.query.slice(1)) % 3]! }));
      const scopeOf = new Map(rows.filter((r) => r.query !== "q7").map((r) => [r.query, { epoch: `e${Number(r.query.slice(1)) % 2}`, model_id: "m" }]));
      const stability = scoped(rows, scopeOf).map(([[epoch, model_id], list]) => {
        const ids = [...new Set(list.map((r) => r.query))];
        const mass = new Map(ids.map((q) => [q, sum(list.filter((r) => r.query === q).map((r) => Math.abs(r.score)))]));
        const top = [...ids].sort((a, b) => mass.get(b)! - mass.get(a)! || (a < b ? -1 : 1)).slice(0, Math.ceil(ids.length / 100));
        const neg = (keep: (q: string) => boolean) => {
          const sums = new Map<string, number>();
          for (const r of list) if (keep(r.query)) sums.set(r.key, (sums.get(r.key) ?? 0) + r.score);
          return new Set([...sums].filter(([, v]) => v < 0).map(([k]) => k));
        };
        const now = neg(() => true), without = neg((q) => !top.includes(q));
        const total = sum([...mass.values()]);
        return { epoch, model_id, inferences: ids.length, left_out: top.length, left_out_share: round6(total > 0 ? sum(top.map((q) => mass.get(q)!)) / total : 0), penalised: now.size,
          lifted: [...now].filter((c) => !without.has(c)).sort(), added: [...without].filter((c) => !now.has(c)).sort() };
      });
      const shuffled = [...rows].reverse();
      expect(penaltyStability(shuffled, scopeOf)).toEqual(stability);
      const sides = penaltySides(shuffled, scopeOf, []);
      for (const [[epoch], list] of scoped(rows, scopeOf)) {
        const s = sides.find((x) => x.epoch === epoch);
        if (new Set(list.map((r) => r.prediction)).size < 2) continue;
        const mass = new Map<string, number>();
        for (const r of list) mass.set(r.prediction!, (mass.get(r.prediction!) ?? 0) + Math.abs(r.score));
        const total = sum([...mass.values()]);
        for (const p of s!.predictions) expect(p.mass_share).toBe(round6(mass.get(p.prediction)! / total));
      }
    }), { numRuns: 200, seed: 11 });
  });
});

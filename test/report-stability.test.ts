import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { penaltyStability } from "../reports/collect/stability.ts";
import { DUPLICATE_CONTENT } from "../cells/attribution/cells.ts";

describe("penalty stability", () => {
  it("lifts the penalty that one heavy inference decides, and counts the left-out mass", () => {
    // b is negative overall only because of q0, the inference with by far the most mass.
    const rows = [
      { query: "q0", key: "a", score: 5 }, { query: "q0", key: "b", score: -4 },
      ...Array.from({ length: 99 }, (_, i) => [{ query: `q${i + 1}`, key: "a", score: -0.01 }, { query: `q${i + 1}`, key: "b", score: 0.02 }]).flat(),
      { query: "q0", key: DUPLICATE_CONTENT, score: -100 },
    ];
    const epochs = new Map(Array.from({ length: 100 }, (_, i) => [`q${i}`, "e1"]));
    const [s] = penaltyStability(rows, epochs);
    expect(s).toEqual({ epoch: "e1", inferences: 100, left_out: 1, left_out_share: expect.closeTo(9 / (9 + 99 * 0.03), 6), penalised: 1, lifted: ["b"], added: ["a"] });
  });

  it("agrees with a brute-force recount for any rows, epoch by epoch", () => {
    const row = fc.record({ query: fc.integer({ min: 0, max: 250 }).map((q) => `q${q}`), key: fc.constantFrom("a", "b", "c", "d"), score: fc.double({ min: -1, max: 1, noNaN: true }) });
    fc.assert(fc.property(fc.array(row, { maxLength: 400 }), (raw) => {
      // One row per (query, key), as a tracin table has.
      const rows = [...new Map(raw.map((r) => [`${r.query}/${r.key}`, r])).values()];
      const epochs = new Map(rows.map((r) => [r.query, Number(r.query.slice(1)) % 2 ? "odd" : "even"]));
      for (const s of penaltyStability(rows, epochs)) {
        const mine = rows.filter((r) => epochs.get(r.query) === s.epoch);
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

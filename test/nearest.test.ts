import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { didYouMean, nearest, typoDistance } from "../cells/graph/nearest.ts";
import { noSuchCell, type Pipeline } from "../cells/graph/pipeline.ts";
import { noPipeline, resolvePipelineFile } from "../cells/graph/loader.ts";
import { tempDir } from "./helpers/workspace.ts";

describe("nearest", () => {
  it("names what a typo most likely meant, and nothing when no name is close", () => {
    expect(nearest("influence_top", ["influence", "influence_topk", "receipts"])).toBe("influence_topk");
    expect(nearest("mial", ["digits", "mail", "mail-quality"])).toBe("mail");
    expect(nearest("MAIL-spam", ["digits", "mail-spam"])).toBe("mail-spam"); // case as people type it
    expect(nearest("2026-13", ["2026-11", "2026-12-02"])).toBe("2026-11");
    expect(nearest("rewards", ["usage", "receipts"])).toBeUndefined();
    // A third of the name may be off, never all of a short one.
    expect(nearest("abc", ["xyz"])).toBeUndefined();
    expect(nearest("ab", ["ax"])).toBe("ax");
    expect(nearest("x", ["n"])).toBeUndefined();
    expect(nearest("contributors", ["contributor_influence"])).toBeUndefined();
    // Two letters swapped are one typo, so the limit can be tight: a short name is not offered a longer word.
    expect(nearest("pya", ["pay", "digits"])).toBe("pay");
    expect(nearest("nope", ["notes", "mail"])).toBeUndefined();
    expect(nearest("recieve", ["receive"])).toBe("receive");
    // A name typed short: the only one it begins up to a separator; none when two do, or when it runs on in the word.
    expect(nearest("mail", ["digits", "mail-spam"])).toBe("mail-spam");
    expect(nearest("Mail", ["mail_2024", "digits"])).toBe("mail_2024");
    expect(nearest("mail", ["mail-spam", "mail-ham"])).toBeUndefined();
    expect(nearest("mail", ["mailbox-a"])).toBeUndefined();
    expect(nearest("influence", ["influence_topk", "influence_last_layer"])).toBeUndefined();
    // Nothing to suggest: no names, or only the name itself.
    expect(nearest("mail", [])).toBeUndefined();
    expect(nearest("mail", ["mail"])).toBeUndefined();
    expect(nearest("", ["a"])).toBeUndefined();
  });

  // The textbook recurrences, unoptimised: what the three-row version must compute.
  const textbook = (a: string, b: string, swaps: boolean): number => {
    const d = (i: number, j: number): number => {
      if (!i || !j) return i + j;
      let best = Math.min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (swaps && i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d(i - 2, j - 2) + 1);
      return best;
    };
    return d(a.length, b.length);
  };
  /** Fewest single edits (insert, delete, substitute, swap two neighbours), by breadth-first search: true Damerau–Levenshtein. */
  const editsApart = (a: string, b: string): number => {
    const letters = [...new Set(a + b)];
    let frontier = new Set([a]);
    const seen = new Set([a]);
    for (let steps = 0; ; steps++) {
      if (frontier.has(b)) return steps;
      const next = new Set<string>();
      for (const s of frontier) {
        const moves: string[] = [];
        for (let i = 0; i <= s.length; i++) {
          for (const c of letters) moves.push(s.slice(0, i) + c + s.slice(i));
          if (i < s.length) {
            moves.push(s.slice(0, i) + s.slice(i + 1));
            for (const c of letters) moves.push(s.slice(0, i) + c + s.slice(i + 1));
            if (i + 1 < s.length) moves.push(s.slice(0, i) + s[i + 1] + s[i] + s.slice(i + 2));
          }
        }
        for (const m of moves) if (m.length <= Math.max(a.length, b.length) + 1 && !seen.has(m)) (seen.add(m), next.add(m));
      }
      frontier = next;
    }
  };

  it("counts typos as the textbook's optimal string alignment does, between true Damerau and Levenshtein", () => {
    const word = fc.string({ unit: fc.constantFrom("a", "b", "c", "d"), maxLength: 6 });
    fc.assert(fc.property(word, word, (a, b) => {
      const d = typoDistance(a, b);
      expect(d).toBe(textbook(a, b, true));
      expect(d).toBe(typoDistance(b, a));
      expect(d).toBeLessThanOrEqual(textbook(a, b, false));
      if (a.length <= 4 && b.length <= 4) expect(d).toBeGreaterThanOrEqual(editsApart(a, b));
    }), { seed: 20261202, numRuns: 400 });
    expect(typoDistance("mial", "mail")).toBe(1);
    expect(typoDistance("ca", "abc")).toBe(3); // where alignment differs from true Damerau (2): no substring is edited twice
    expect(typoDistance("", "abc")).toBe(3);
  });

  it("opens an error's parenthesis", () => {
    expect(didYouMean("modle", ["base", "model"])).toBe('did you mean "model"? ');
    expect(didYouMean("zzz", ["base", "model"])).toBe("");
  });

  it("is named by the errors for a cell and a pipeline the caller mistyped", () => {
    const p = { name: "mail", cells: new Map([["influence", {}], ["influence_topk", {}], ["receipts", {}]]), order: [] } as unknown as Pipeline;
    expect(noSuchCell(p, "influence_top").message).toBe('pipeline "mail" has no cell "influence_top" (did you mean "influence_topk"? cells: influence, influence_topk, receipts)');
    expect(noSuchCell(p, "nothing").message).toBe('pipeline "mail" has no cell "nothing" (cells: influence, influence_topk, receipts)');
    // A pipeline the workspace ran from another folder is among those known.
    const cwd = tempDir("tb-nearest-");
    fs.mkdirSync(path.join(cwd, "pipelines"));
    fs.writeFileSync(path.join(cwd, "pipelines", "reviews.pipeline.ts"), "");
    expect(() => resolvePipelineFile("reveiws", cwd)).toThrow(/^no pipeline "reveiws" \(did you mean "reviews"\? looked for .*; known: .*\breviews\b/);
    expect(noPipeline("ownpp", cwd, ["ownp"]).message).toMatch(/^no pipeline "ownpp" \(did you mean "ownp"\? looked for .*; known: .*\bownp\b/);
  });
});

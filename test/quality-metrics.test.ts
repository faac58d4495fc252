import { describe, expect, it } from "vitest";
import { auc, ranks, recallAtK, spearman } from "../cells/quality/metrics.ts";

describe("rank statistics", () => {
  it("averages tied ranks like scipy", () => {
    expect(Array.from(ranks([10, 20, 20, 5]))).toEqual([2, 3.5, 3.5, 1]);
  });
  it("computes Spearman's rho on known cases", () => {
    expect(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])).toBeCloseTo(0.8207826816681233, 12); // scipy.stats.spearmanr
    expect(spearman([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 12);
    expect(spearman([1, 2, 3], [1, 4, 9])).toBeCloseTo(1, 12); // monotone, not linear
    expect(spearman([1, 1, 1], [1, 2, 3])).toBeNaN();
  });
  it("computes AUC as the Mann-Whitney statistic, ties counted half", () => {
    expect(auc([0.9, 0.8, 0.1, 0.2], [true, true, false, false])).toBe(1);
    expect(auc([0.1, 0.2, 0.9, 0.8], [true, true, false, false])).toBe(0);
    expect(auc([0.5, 0.5], [true, false])).toBe(0.5);
    expect(auc([0.9, 0.3, 0.5, 0.1], [true, true, false, false])).toBe(0.75);
  });
  it("computes recall in the top k", () => {
    expect(recallAtK([0.9, 0.3, 0.5, 0.1], [true, true, false, false], 2)).toBe(0.5);
    expect(recallAtK([0.9, 0.3, 0.5, 0.1], [true, true, false, false], 3)).toBe(1);
  });
});

import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { canonicalText, contributionId } from "../cells/datanet/hash.ts";
import { splitOf } from "../cells/datanet/split.ts";

describe("contributionId", () => {
  it("is sha256 over the documented length-prefixed encoding", () => {
    // Brute force: rebuild the byte string by hand.
    const f = (tag: number, s: string | null) => {
      const b = s === null ? Buffer.alloc(0) : Buffer.from(s, "utf8");
      const head = Buffer.alloc(5);
      head.writeUInt8(s === null ? 0 : tag, 0);
      head.writeUInt32LE(b.length, 1);
      return Buffer.concat([head, b]);
    };
    const bytes = Buffer.concat([Buffer.from("tracebook.contribution.v1"), f(1, "Hi"), f(2, "body"), f(3, null), f(4, "ham")]);
    expect(contributionId({ title: "Hi", text: "body", label: "ham" })).toBe(createHash("sha256").update(bytes).digest("hex"));
  });

  it("treats the same words typed on two systems as one contribution", () => {
    const a = contributionId({ text: "caf\u00e9\r\nline two", label: "ham" });
    const b = contributionId({ text: "cafe\u0301\nline two", label: "ham" });
    expect(a).toBe(b);
    expect(canonicalText("a\r\nb\rc")).toBe("a\nb\nc");
  });

  it("separates fields, absent from empty, and labels", () => {
    expect(contributionId({ title: "ab", text: "c", label: "x" })).not.toBe(contributionId({ title: "a", text: "bc", label: "x" }));
    expect(contributionId({ title: "", text: "c", label: "x" })).not.toBe(contributionId({ title: null, text: "c", label: "x" }));
    expect(contributionId({ text: "c", label: "spam" })).not.toBe(contributionId({ text: "c", label: "ham" }));
  });

  it("hashes features as float32", () => {
    expect(contributionId({ features: [0.1, 0.2], label: "1" })).toBe(
      contributionId({ features: new Float32Array([0.1, 0.2]), label: "1" }),
    );
    expect(contributionId({ features: [0.1, 0.2], label: "1" })).not.toBe(contributionId({ features: [0.1, 0.3], label: "1" }));
  });
});

describe("splitOf", () => {
  const ids = Array.from({ length: 20_000 }, (_, i) => createHash("sha256").update(String(i)).digest("hex"));

  it("is deterministic and close to the test fraction", () => {
    const tests = ids.filter((id) => splitOf(id, 0, 0.2) === "test").length;
    expect(ids.map((id) => splitOf(id, 0, 0.2))).toEqual(ids.map((id) => splitOf(id, 0, 0.2)));
    // Binomial(20000, 0.2): sd ≈ 57, so ±300 is over 5 sd.
    expect(Math.abs(tests - 4000)).toBeLessThan(300);
  });

  it("moves with the seed and respects the extremes", () => {
    const a = ids.map((id) => splitOf(id, 0, 0.5));
    const b = ids.map((id) => splitOf(id, 1, 0.5));
    expect(a.filter((s, i) => s !== b[i]).length).toBeGreaterThan(5000);
    expect(ids.every((id) => splitOf(id, 3, 0) === "train")).toBe(true);
  });
});

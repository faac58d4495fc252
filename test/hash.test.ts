import fc from "fast-check";
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

  it("hashes features as their float32 little-endian bytes, from an array or a typed array, a view into a larger buffer too", () => {
    // Brute force: each value written with writeFloatLE, as the documented encoding says.
    const expected = (values: number[], label: string) => {
      const bytes = Buffer.alloc(values.length * 4);
      values.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
      const head = (tag: number, n: number) => Buffer.from([tag, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24]);
      const l = Buffer.from(label, "utf8");
      return createHash("sha256").update(Buffer.concat([Buffer.from("tracebook.contribution.v1"), head(0, 0), head(0, 0), head(3, bytes.length), bytes, head(4, l.length), l])).digest("hex");
    };
    const value = fc.oneof(fc.float({ noNaN: true }), fc.constantFrom(0, -0, 1e-45, 3.4e38, 0.1));
    fc.assert(fc.property(fc.array(value, { maxLength: 50 }), fc.nat(7), fc.string(), (values, pad, label) => {
      const want = expected(values, label);
      expect(contributionId({ features: values, label })).toBe(want);
      // A subarray at an odd float offset of a larger buffer, as rows read from DuckDB are.
      const whole = new Float32Array(values.length + pad + 3).fill(7);
      whole.set(values, pad);
      const view = whole.subarray(pad, pad + values.length);
      expect(contributionId({ features: view, label })).toBe(want);
      expect(whole[pad + values.length]).toBe(7); // hashing reads in place, writes nothing
    }), { numRuns: 300, seed: 11 });
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

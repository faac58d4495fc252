import { describe, expect, it } from "vitest";
import fc from "fast-check";
import murmurhash from "murmurhash";
import { murmur3, Utf8Buffer } from "../cells/compute/murmur.ts";

// The bytes features and shingles are hashed from, against TextEncoder; their hashes against the murmurhash package's.
describe("MurmurHash3 over UTF-8", () => {
  const encoder = new TextEncoder();

  it("writes any string as TextEncoder does, lone surrogates as U+FFFD, piece after piece", () => {
    const lone = fc.constantFrom("\ud800", "x\udc00", "\udbffy", "\udc00\ud800");
    const piece = fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: "grapheme" }), fc.string(), lone);
    fc.assert(fc.property(fc.array(piece, { maxLength: 6 }), (pieces) => {
      const b = new Utf8Buffer();
      b.bytes = new Uint8Array(1); // grows as it goes
      const starts = pieces.map((p) => b.push(p));
      // Each piece on its own (a surrogate pair split between two pieces is two lone ones), as TextEncoder.encodeInto piece by piece.
      expect(b.bytes.subarray(0, b.length)).toEqual(Uint8Array.from(pieces.flatMap((p) => [...encoder.encode(p)])));
      pieces.forEach((p, i) => expect(b.bytes.subarray(starts[i], (starts[i + 1] ?? b.length))).toEqual(encoder.encode(p)));
    }), { numRuns: 300, seed: 3 });
  });

  it("hashes a byte range as the murmurhash package hashes a copy of those bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), fc.nat(40), fc.nat(40), fc.integer({ min: 0, max: 2 ** 32 - 1 }), (bytes, i, j, seed) => {
      const [from, to] = [Math.min(i, j, bytes.length), Math.min(Math.max(i, j), bytes.length)];
      expect(murmur3(bytes, from, to, seed)).toBe(murmurhash.v3(bytes.slice(from, to), seed) >>> 0);
    }), { numRuns: 300, seed: 4 });
  });

  it("puts a word pair's feature together from the words' bytes: b:a b", () => {
    fc.assert(fc.property(fc.string({ unit: "grapheme", minLength: 1 }), fc.string({ unit: "grapheme", minLength: 1 }), (a, c) => {
      const b = new Utf8Buffer();
      const sa = b.push("w:"), ea = (b.push(a), b.length), sc = b.push("w:"), ec = (b.push(c), b.length);
      const at = b.pair(sa + 2, ea, sc + 2, ec);
      expect(b.bytes.subarray(at, b.length)).toEqual(encoder.encode(`b:${a} ${c}`));
      expect(murmur3(b.bytes, at, b.length, 11)).toBe(murmurhash.v3(`b:${a} ${c}`, 11) >>> 0);
    }), { numRuns: 300, seed: 5 });
  });
});

import murmurhash from "murmurhash";

const encoder = new TextEncoder();
let utf8 = new Uint8Array(4096);

/**
 * MurmurHash3 (32-bit) of the UTF-8 bytes of `parts` joined, encoded piece by piece into one
 * reused buffer. Given a string, the murmurhash package makes a TextEncoder and a new array per
 * call, which was a third of featurizing mail and of shingling it for near-duplicates; the
 * bytes, and so the hash, are the same.
 */
export function murmur3Utf8(seed: number, parts: readonly string[]): number {
  let units = 0;
  for (const p of parts) units += p.length;
  if (utf8.length < 3 * units) utf8 = new Uint8Array(6 * units); // UTF-8: at most 3 bytes per UTF-16 unit
  let n = 0;
  for (const p of parts) n += encoder.encodeInto(p, utf8.subarray(n)).written;
  return murmurhash.v3(utf8.subarray(0, n), seed) >>> 0;
}

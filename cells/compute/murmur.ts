import murmurhash from "murmurhash";

/**
 * MurmurHash3 (x86, 32-bit) over UTF-8 bytes, as the featurizer and the near-duplicate shingles
 * hash their words: a text is encoded once into one buffer (Utf8Buffer) and each word, pair or
 * shingle hashed where it lies. Hashing each as a string (the murmurhash package makes a
 * TextEncoder and an array per call), or encoding it piece by piece per hash, made featurizing
 * a real mail message take 0.6 ms and shingling it as long; the bytes, and so the hashes, are
 * the same.
 */

/** MurmurHash3 x86_32 of `bytes[start, end)` with `seed`, unsigned. */
export function murmur3(bytes: Uint8Array, start: number, end: number, seed: number): number {
  return murmurhash.v3(bytes.subarray(start, end), seed) >>> 0;
}

/**
 * Text written as UTF-8 into one growing buffer, piece after piece, for murmur3 to hash ranges of.
 * Encodes as TextEncoder does (a lone surrogate as U+FFFD), one code unit at a time: a call to
 * TextEncoder per word cost more than hashing it.
 */
export class Utf8Buffer {
  bytes = new Uint8Array(4096);
  length = 0;

  reset(): void {
    this.length = 0;
  }

  /** The buffer, grown (its bytes kept) to hold `n` more after `length`. */
  private room(n: number): Uint8Array {
    if (this.bytes.length < this.length + n) {
      const grown = new Uint8Array(Math.max(2 * this.bytes.length, this.length + n));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    return this.bytes;
  }

  /** Append `s`; returns where its bytes start (they end at `length`). */
  push(s: string): number {
    const start = this.length;
    const b = this.room(3 * s.length); // UTF-8: at most 3 bytes per UTF-16 code unit
    let n = start;
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        b[n++] = c;
        continue;
      }
      if (c < 0x800) {
        b[n++] = 0xc0 | (c >> 6);
        b[n++] = 0x80 | (c & 63);
        continue;
      }
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
          b[n++] = 0xf0 | (c >> 18);
          b[n++] = 0x80 | ((c >> 12) & 63);
          b[n++] = 0x80 | ((c >> 6) & 63);
          b[n++] = 0x80 | (c & 63);
          continue;
        }
        c = 0xfffd; // a lone surrogate, as TextEncoder writes it
      }
      b[n++] = 0xe0 | (c >> 12);
      b[n++] = 0x80 | ((c >> 6) & 63);
      b[n++] = 0x80 | (c & 63);
    }
    this.length = n;
    return start;
  }

  /** Append "b:" + bytes [a0, a1) + " " + bytes [b0, b1) of the buffer (a word pair's feature); returns where it starts. */
  pair(a0: number, a1: number, b0: number, b1: number): number {
    const start = this.length;
    const b = this.room(3 + (a1 - a0) + (b1 - b0));
    let at = start;
    b[at++] = 0x62; // "b"
    b[at++] = 0x3a; // ":"
    for (let i = a0; i < a1; i++) b[at++] = b[i]!;
    b[at++] = 0x20;
    for (let i = b0; i < b1; i++) b[at++] = b[i]!;
    this.length = at;
    return start;
  }
}

import fs from "node:fs";
import { createHash } from "node:crypto";
import { pipeline } from "node:stream/promises";

/** The content a contribution is identified by. Everything else (who, when, where from) is provenance. */
export interface ContributionContent {
  title?: string | null;
  text?: string | null;
  features?: ArrayLike<number> | null;
  label: string;
}

const DOMAIN = "tracebook.contribution.v1";

/**
 * Canonical text: Unicode NFC and LF line endings, so the same words typed on two systems are
 * the same contribution. The canonical form is what is stored, so the hash can be recomputed
 * from the workspace.
 */
export function canonicalText(text: string): string {
  // ASCII is its own NFC, and most text has no CR: both checks are a fraction of the work they skip.
  const nfc = /[^\x00-\x7f]/.test(text) ? text.normalize("NFC") : text;
  return nfc.includes("\r") ? nfc.replace(/\r\n?/g, "\n") : nfc;
}

/** Features are stored and hashed as float32. */
export function canonicalFeatures(features: ArrayLike<number>): Float32Array {
  return Float32Array.from(features as ArrayLike<number>);
}

/**
 * Contribution id = sha256 over a domain tag and the length-prefixed canonical fields
 * (title, text, features as float32 little-endian, label). Length prefixes keep field
 * boundaries unambiguous ("ab"+"c" ≠ "a"+"bc"); an absent field differs from an empty one.
 */
export function contributionId(content: ContributionContent): string {
  const h = createHash("sha256");
  h.update(DOMAIN);
  field(h, 1, content.title == null ? null : Buffer.from(canonicalText(content.title), "utf8"));
  field(h, 2, content.text == null ? null : Buffer.from(canonicalText(content.text), "utf8"));
  const f = content.features;
  field(h, 3, f == null ? null : float32Bytes(f instanceof Float32Array ? f : canonicalFeatures(f)));
  field(h, 4, Buffer.from(content.label, "utf8"));
  return h.digest("hex");
}

function field(h: ReturnType<typeof createHash>, tag: number, bytes: Uint8Array | null): void {
  const head = Buffer.alloc(5);
  head.writeUInt8(bytes === null ? 0 : tag, 0);
  head.writeUInt32LE(bytes?.length ?? 0, 1);
  h.update(head);
  if (bytes) h.update(bytes);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Float32 little-endian bytes: on a little-endian host (every one Node is built for) the array's
 * own memory, read in place, not written value by value (that was a third of checking 10,000
 * digits' ids in the validate cell).
 */
function float32Bytes(values: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => out.writeFloatLE(v, i * 4));
  return out;
}

/** sha256 of bytes or text, hex. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** sha256 of a file, streamed (a file of 2 GiB is not held in memory), recorded with each import so the source can be checked later. */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(fs.createReadStream(file), hash);
  return hash.digest("hex");
}

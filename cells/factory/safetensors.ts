/**
 * The Hugging Face safetensors format, read and written exactly per its spec, so checkpoints
 * Tracebook saves open in numpy/torch/candle and theirs open here:
 *
 *   [8 bytes: N, u64 little-endian][N bytes: UTF-8 JSON header][byte buffer]
 *
 * The header maps tensor names to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative
 * to the start of the byte buffer) plus an optional `__metadata__` map of string → string.
 * Tensors are little-endian, row-major and packed with no holes.
 *
 * Writing is deterministic (same tensors and metadata → same bytes): tensors are laid out and
 * listed in name order, and the header is padded with spaces so the buffer starts 8-byte aligned,
 * as the reference implementation does. Reading validates everything before trusting an offset,
 * and every error names the tensor (and the file, when there is one).
 */
import fs from "node:fs";
import { InputError } from "../datanet/errors.ts";
import { writeFileAtomic } from "../store/atomic.ts";

export type SafeDtype = "F32" | "F64" | "I32" | "I64";
export type SafeArray = Float32Array | Float64Array | Int32Array | BigInt64Array;

export interface SafeTensor {
  dtype: SafeDtype;
  shape: number[];
  data: SafeArray;
}

export interface SafetensorsFile {
  tensors: Record<string, SafeTensor>;
  metadata: Record<string, string>;
}

type ArrayCtor = { new (length: number): SafeArray; BYTES_PER_ELEMENT: number };

const DTYPES: Record<SafeDtype, ArrayCtor> = {
  F32: Float32Array,
  F64: Float64Array,
  I32: Int32Array,
  I64: BigInt64Array,
};

const METADATA_KEY = "__metadata__";
/** The reference implementation refuses headers over 100 MB; a larger N means a corrupt file. */
const MAX_HEADER_BYTES = 100_000_000;
/** The spec stores data little-endian; on a big-endian host (s390x) bytes must be swapped. */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isDtype(x: unknown): x is SafeDtype {
  return typeof x === "string" && Object.hasOwn(DTYPES, x);
}

/** Number of elements, refusing shapes whose product would not be an exact JS number. */
function elementCount(shape: unknown, fail: (reason: string) => never): number {
  if (!Array.isArray(shape)) fail("shape must be an array of non-negative integers");
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) fail(`shape ${JSON.stringify(shape)} must hold non-negative integers`);
    n *= d;
    if (!Number.isSafeInteger(n)) fail(`shape ${JSON.stringify(shape)} is too large`);
  }
  return n;
}

/** Reverse each element's bytes in place (only ever needed on big-endian hosts). */
function swapBytes(bytes: Uint8Array, width: number): void {
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

export function encodeSafetensors(tensors: Record<string, SafeTensor>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  // `__metadata__` first and only when there is some, like the reference writer with metadata=None.
  if (metadata && Object.keys(metadata).length > 0) {
    const sorted: Record<string, string> = {};
    for (const key of Object.keys(metadata).sort()) {
      const value = metadata[key];
      if (typeof value !== "string") throw new InputError(`metadata "${key}" must be a string, got ${typeof value}`);
      sorted[key] = value;
    }
    header[METADATA_KEY] = sorted;
  }
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    const fail = (reason: string): never => { throw new InputError(`tensor "${name}": ${reason}`); };
    if (name === "" || name === METADATA_KEY) fail("this name is reserved or empty");
    if (!isDtype(t.dtype)) fail(`unsupported dtype ${JSON.stringify(t.dtype)}`);
    const ctor = DTYPES[t.dtype];
    if (!(t.data instanceof ctor)) fail(`dtype ${t.dtype} needs a ${ctor.name}, got ${t.data?.constructor?.name}`);
    const count = elementCount(t.shape, fail);
    if (t.data.length !== count) fail(`shape ${JSON.stringify(t.shape)} holds ${count} values but data has ${t.data.length}`);
    const size = count * ctor.BYTES_PER_ELEMENT;
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + size] };
    offset += size;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil((8 + json.length) / 8) * 8 - 8;
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  const base = 8 + padded;
  for (const name of names) {
    const { data } = tensors[name]!;
    const [begin] = (header[name] as { data_offsets: [number, number] }).data_offsets;
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    out.set(raw, base + begin);
    if (!HOST_LITTLE_ENDIAN) swapBytes(out.subarray(base + begin, base + begin + raw.length), data.BYTES_PER_ELEMENT);
  }
  return out;
}

export function decodeSafetensors(bytes: Uint8Array, source?: string): SafetensorsFile {
  const where = source === undefined ? {} : { file: source };
  const fail = (reason: string): never => { throw new InputError(reason, where); };

  if (bytes.length < 8) fail(`not a safetensors file: ${bytes.length} bytes, too short for the 8-byte header length`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n} is larger than the ${MAX_HEADER_BYTES}-byte limit (corrupt file?)`);
  if (n > BigInt(bytes.length - 8)) fail(`header length ${n} runs past the end of the file (${bytes.length} bytes; truncated?)`);
  const headerEnd = 8 + Number(n);

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, headerEnd)));
  } catch (err) {
    fail(`header is not valid UTF-8 JSON: ${(err as Error).message}`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) fail("header must be a JSON object");

  const metadata: Record<string, string> = {};
  const buffer = bytes.subarray(headerEnd);
  const spans: Array<{ name: string; begin: number; end: number }> = [];
  const infos: Array<{ name: string; dtype: SafeDtype; shape: number[]; begin: number; end: number }> = [];

  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof info !== "object" || info === null || Array.isArray(info)) fail(`${METADATA_KEY} must be an object of strings`);
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`${METADATA_KEY}.${k} must be a string, got ${JSON.stringify(v)}`);
        metadata[k] = v as string;
      }
      continue;
    }
    const bad = (reason: string): never => fail(`tensor "${name}": ${reason}`);
    if (typeof info !== "object" || info === null) bad("entry must be an object with dtype, shape and data_offsets");
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (!isDtype(dtype)) bad(`unsupported dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPES).join(", ")})`);
    const count = elementCount(shape, bad);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      bad(`data_offsets ${JSON.stringify(offsets)} must be two non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) bad(`data_offsets [${begin}, ${end}] end before they begin`);
    if (end > buffer.length) bad(`data_offsets [${begin}, ${end}] run past the ${buffer.length}-byte data buffer (truncated file?)`);
    const size = count * DTYPES[dtype as SafeDtype].BYTES_PER_ELEMENT;
    if (end - begin !== size) {
      bad(`data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${dtype} ${JSON.stringify(shape)} needs ${size}`);
    }
    spans.push({ name, begin, end });
    infos.push({ name, dtype: dtype as SafeDtype, shape: shape as number[], begin, end });
  }

  // The spec requires the buffer to be fully covered by the tensors, each exactly once: walking
  // them in offset order, each must start where the previous one ended.
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end || (a.name < b.name ? -1 : 1));
  let cursor = 0;
  for (const s of spans) {
    if (s.begin < cursor) fail(`tensor "${s.name}": data_offsets [${s.begin}, ${s.end}] overlap the previous tensor, which ends at ${cursor}`);
    if (s.begin > cursor) fail(`tensor "${s.name}": data_offsets [${s.begin}, ${s.end}] leave a hole: bytes ${cursor}..${s.begin} belong to no tensor`);
    cursor = s.end;
  }
  if (cursor !== buffer.length) fail(`the data buffer has ${buffer.length} bytes but the tensors cover only ${cursor}`);

  const tensors: Record<string, SafeTensor> = {};
  for (const t of infos) {
    const ctor = DTYPES[t.dtype];
    const data = new ctor((t.end - t.begin) / ctor.BYTES_PER_ELEMENT);
    // A copy into a fresh, aligned buffer: the file's offsets need not be aligned to the element size.
    const raw = new Uint8Array(data.buffer);
    raw.set(buffer.subarray(t.begin, t.end));
    if (!HOST_LITTLE_ENDIAN) swapBytes(raw, ctor.BYTES_PER_ELEMENT);
    tensors[t.name] = { dtype: t.dtype, shape: [...t.shape], data };
  }
  return { tensors, metadata };
}

/** Write atomically (temp sibling + fsync + rename): readers never see a half-written file. */
export async function writeSafetensors(file: string, tensors: Record<string, SafeTensor>, metadata?: Record<string, string>): Promise<void> {
  await writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

export async function readSafetensors(file: string): Promise<SafetensorsFile> {
  return decodeSafetensors(await fs.promises.readFile(file), file);
}

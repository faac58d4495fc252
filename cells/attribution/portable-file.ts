import type { PortableExplainer } from "./portable.ts";

/**
 * One file per portable explainer: "TBEX", a format version, a JSON header, then the typed
 * arrays (weights, the training rows' features) as raw little-endian bytes, each aligned to 8 so
 * the page reads them as views without copying. The header is the explainer with every typed
 * array replaced by {"$array": n}. Pure TypeScript: the build writes it, the page reads it.
 */
const MAGIC = "TBEX";
const VERSION = 1;
const ALIGN = 8;

type Stored = Float32Array | Int32Array | Uint32Array | Uint16Array;
const TYPES = { f32: Float32Array, i32: Int32Array, u32: Uint32Array, u16: Uint16Array } as const;
type TypeName = keyof typeof TYPES;

function typeOf(a: ArrayBufferView): TypeName {
  for (const [name, T] of Object.entries(TYPES)) if (a instanceof T) return name as TypeName;
  throw new Error(`a portable explainer holds only f32, i32, u32 and u16 arrays (got ${a.constructor.name})`);
}
const padded = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

export function encodePortable(p: PortableExplainer): Uint8Array {
  const arrays: Stored[] = [];
  const entries: { type: TypeName; offset: number; length: number }[] = [];
  let size = 0;
  const value = JSON.stringify(p, (_, v: unknown) => {
    if (!ArrayBuffer.isView(v)) return v;
    const a = v as Stored;
    entries.push({ type: typeOf(a), offset: size, length: a.length });
    size += padded(a.byteLength);
    return { $array: arrays.push(a) - 1 };
  });
  const text = new TextEncoder().encode(`{"format":${VERSION},"arrays":${JSON.stringify(entries)},"value":${value}}`);
  const start = padded(12 + text.length);
  const out = new Uint8Array(start + size);
  out.set(new TextEncoder().encode(MAGIC), 0);
  const view = new DataView(out.buffer);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, text.length, true);
  out.set(text, 12);
  arrays.forEach((a, i) => out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), start + entries[i]!.offset));
  return out;
}

/** Read a portable explainer; `where` (a file or URL) names it in every error. */
export function decodePortable(input: ArrayBuffer | Uint8Array, where: string): PortableExplainer {
  // Aligned views need the file at the start of its own buffer.
  const bytes = input instanceof Uint8Array ? (input.byteOffset % ALIGN ? input.slice() : input) : new Uint8Array(input);
  const bad = (why: string) => new Error(`${where} is not a portable explainer this version can read: ${why}`);
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 4)) !== MAGIC) throw bad("it does not start with TBEX");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== VERSION) throw bad(`format ${version}, this version reads format ${VERSION}: build the site again`);
  const length = view.getUint32(8, true);
  if (12 + length > bytes.length) throw bad("its header is cut short");
  let header: { arrays: { type: TypeName; offset: number; length: number }[]; value: unknown };
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + length)));
  } catch (err) {
    throw bad(`its header is not JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(header?.arrays)) throw bad("its header lists no arrays");
  const start = padded(12 + length);
  const arrays = header.arrays.map((e, i) => {
    const T = TYPES[e.type];
    if (!T) throw bad(`array ${i} has an unknown type ${JSON.stringify(e.type)}`);
    const end = start + e.offset + e.length * T.BYTES_PER_ELEMENT;
    if (e.offset % ALIGN || end > bytes.length) throw bad(`array ${i} lies outside the file (${bytes.length} bytes): the file is truncated`);
    return new T(bytes.buffer as ArrayBuffer, bytes.byteOffset + start + e.offset, e.length);
  });
  return reviveArrays(header.value, arrays, bad) as PortableExplainer;
}

function reviveArrays(v: unknown, arrays: Stored[], bad: (why: string) => Error): unknown {
  if (Array.isArray(v)) return v.map((x) => reviveArrays(x, arrays, bad));
  if (!v || typeof v !== "object") return v;
  const o = v as Record<string, unknown>;
  if (typeof o.$array === "number") {
    const a = arrays[o.$array];
    if (!a) throw bad(`the header names array ${o.$array}, the file has ${arrays.length}`);
    return a;
  }
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, reviveArrays(x, arrays, bad)]));
}

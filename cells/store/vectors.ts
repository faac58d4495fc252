// The C API's vector accessors, as node-api itself reads vectors (the same pinned version).
import duckdb from "@duckdb/node-bindings";

/**
 * What typedColumns and rowsWithVectors share: reading a DuckDB vector's fixed-width values and
 * validity straight from its buffers, with no JS value made per entry.
 */

/** The validity bitmap of a vector's first `count` entries (64-bit words, least significant bit first: Arrow's order); null when all are valid. */
export function validityOf(vector: duckdb.Vector, count: number): Uint8Array | null {
  if (!count) return null;
  return (duckdb.vector_get_validity(vector, Math.ceil(count / 64) * 8) as Uint8Array | null | undefined) ?? null;
}

export const isValid = (bits: Uint8Array, i: number): boolean => (bits[i >> 3]! & (1 << (i & 7))) !== 0;

/** Copy a vector's first `count` values into `into` from element `at`, as bytes: DuckDB's buffer need not be aligned for a typed view. */
export function copyValues(vector: duckdb.Vector, into: Int32Array | Float32Array | Float64Array, at: number, count: number): void {
  const bytes = count * into.BYTES_PER_ELEMENT;
  if (bytes) new Uint8Array(into.buffer, into.byteOffset + at * into.BYTES_PER_ELEMENT, bytes).set(duckdb.vector_get_data(vector, bytes).subarray(0, bytes));
}

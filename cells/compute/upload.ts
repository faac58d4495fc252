import { tf } from "./backend.ts";

/**
 * A tensor of host data, for data that changes every call (rows, labels, group indices).
 *
 * On webgpu, TF.js uploads a new tensor through a staging buffer it creates for that one upload
 * (mapped at creation, then destroyed): in a CPU profile on the H200 those createBuffer calls were
 * the largest host cost of a TracIn call after the checkpoints were stacked, 4.5 ms a call (calls
 * of 18-23 ms); written this way the same rows took 3.2 ms. The data is written by the queue
 * (Dawn stages it in its own memory) into a buffer kept per byte size, and TF.js copies it into a
 * buffer from its pool; that copy is submitted before this returns, so the kept buffer can be
 * written again by the next call. Elsewhere, tf.tensor.
 */
export function hostTensor(data: Float32Array | Int32Array, shape: number[], dtype: "float32" | "int32"): tf.Tensor {
  const backend = tf.backend() as unknown as Partial<WebgpuBackend>;
  if (tf.getBackend() !== "webgpu" || !backend.device || data.byteLength === 0 || data.byteLength % 4 !== 0) return tf.tensor(data, shape, dtype);
  const buffer = keptBuffer(backend.device, data.byteLength);
  backend.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  return tf.tensor({ buffer } as unknown as Float32Array, shape, dtype); // WebGPUData: { buffer }
}

/** What hostTensor uses of TF.js's WebGPUBackend (the `webgpu` package's types are not in scope here). */
export interface WebgpuBackend {
  device: {
    createBuffer(d: { size: number; usage: number }): GpuBuffer;
    queue: { writeBuffer(b: GpuBuffer, offset: number, data: ArrayBufferLike, dataOffset: number, size: number): void };
  };
}
export interface GpuBuffer { size: number; destroy(): void }

// GPUBufferUsage.STORAGE | COPY_SRC | COPY_DST: what TF.js asks of a buffer it makes a tensor from.
const USAGE = 0x80 | 0x04 | 0x08;
/** Kept buffers per device, by byte size; a run uses a few sizes (a shard, the last shard, a query block). */
const keptBy = new WeakMap<object, Map<number, GpuBuffer>>();
/** At most this many kept buffers, and this many bytes in all (a 2,048-row shard of 8,192 features is 64 MiB). */
const KEEP = 16, KEEP_BYTES = 256 * 2 ** 20;

/** The kept buffer of `size` bytes on `device`, made if need be; the least recently used go past the bounds. */
export function keptBuffer(device: WebgpuBackend["device"], size: number): GpuBuffer {
  let kept = keptBy.get(device);
  if (!kept) keptBy.set(device, (kept = new Map()));
  let b = kept.get(size);
  if (b) kept.delete(size); // re-inserted below: the map's order is the order of last use
  else b = device.createBuffer({ size, usage: USAGE });
  let bytes = size;
  for (const k of kept.keys()) bytes += k;
  for (const [k, buf] of kept) {
    if (kept.size < KEEP && bytes <= KEEP_BYTES) break;
    kept.delete(k);
    bytes -= k;
    buf.destroy(); // its last copy was submitted when its tensor was made
  }
  kept.set(size, b);
  return b;
}

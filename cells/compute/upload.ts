import { tf } from "./backend.ts";

/**
 * A tensor of host data, for data that changes every call (rows, labels, group indices).
 *
 * On webgpu, TF.js uploads a new tensor through a staging buffer it creates for that one upload
 * (mapped at creation, then destroyed): on the H200 those createBuffer calls were the largest
 * host cost of a TracIn call after the checkpoints were stacked, about 4.5 ms of 18-24 ms. Here
 * the data is written by the queue (Dawn stages it in its own reused memory) into a buffer kept
 * per byte size, and TF.js copies it into a buffer from its pool; the copy is submitted before
 * this returns, so the kept buffer can be written again by the next call. Elsewhere, tf.tensor.
 */
export function hostTensor(data: Float32Array | Int32Array, shape: number[], dtype: "float32" | "int32"): tf.Tensor {
  const backend = tf.backend() as unknown as Partial<WebgpuBackend>;
  if (tf.getBackend() !== "webgpu" || !backend.device || data.byteLength === 0 || data.byteLength % 4 !== 0) return tf.tensor(data, shape, dtype);
  const buffer = scratch(backend.device, data.byteLength);
  backend.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  return tf.tensor({ buffer } as unknown as Float32Array, shape, dtype); // WebGPUData: { buffer }
}

/** What hostTensor uses of TF.js's WebGPUBackend (the `webgpu` package's types are not in scope here). */
interface WebgpuBackend {
  device: {
    createBuffer(d: { size: number; usage: number }): GpuBuffer;
    queue: { writeBuffer(b: GpuBuffer, offset: number, data: ArrayBufferLike, dataOffset: number, size: number): void };
  };
}
interface GpuBuffer { size: number; destroy(): void }

// GPUBufferUsage.STORAGE | COPY_SRC | COPY_DST: what TF.js asks of a buffer it makes a tensor from.
const USAGE = 0x80 | 0x04 | 0x08;
/** Kept buffers per device, by byte size; a run uses a few sizes (a shard, the last shard, a query block). */
const keptBy = new WeakMap<object, Map<number, GpuBuffer>>();
const KEEP = 16;

function scratch(device: WebgpuBackend["device"], size: number): GpuBuffer {
  let kept = keptBy.get(device);
  if (!kept) keptBy.set(device, (kept = new Map()));
  let b = kept.get(size);
  if (b) {
    kept.delete(size); // re-insert: the map's order is the order of last use
  } else {
    b = device.createBuffer({ size, usage: USAGE });
    if (kept.size >= KEEP) {
      const [oldest, buf] = kept.entries().next().value as [number, GpuBuffer];
      kept.delete(oldest);
      buf.destroy(); // its last copy was submitted when its tensor was made
    }
  }
  kept.set(size, b);
  return b;
}

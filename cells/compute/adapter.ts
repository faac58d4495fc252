// A WebGPU adapter as Tracebook records and names it: shared by Node (webgpu.ts, on Dawn) and
// the notebooks' page (notebooks/runtime/gpu-scores.ts), so nothing here may import Node.

/** What the lineage records of the adapter a model was trained or traced on. */
export interface AdapterRecord {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** Whether the adapter is a software one (lavapipe, SwiftShader, a fallback adapter). */
  software: boolean;
  /** The limits that bound TF.js's kernels: buffer sizes and workgroup sizes. */
  limits: Record<string, number>;
  features: string[];
}

/** What is read of a WebGPU adapter (a browser's GPUAdapter, or Dawn's in Node). */
export interface AdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
  limits: Record<string, unknown> | object;
  features: Iterable<string>;
}

/**
 * The limits a device is asked for at the adapter's own values, as TF.js's registration asks:
 * WebGPU's defaults cap a storage buffer at 128 MiB, which an 8192² product and a large shard exceed.
 */
export const DEVICE_LIMITS = [
  "maxBufferSize", "maxStorageBufferBindingSize", "maxComputeWorkgroupStorageSize", "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX", "maxComputeWorkgroupsPerDimension",
] as const;

/** The limits worth recording: the device's, and the ones a reader checks next. */
const RECORDED_LIMITS = [...DEVICE_LIMITS, "maxComputeWorkgroupSizeY", "maxComputeWorkgroupSizeZ", "maxStorageBuffersPerShaderStage"];

/** Names software rasterisers and compute drivers go by in an adapter's vendor, architecture or description. */
const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|basic render|warp/i;

/** Whether an adapter is a software one: flagged a fallback adapter, or named like one. */
export function isSoftwareAdapter(info: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean }): boolean {
  if (info.isFallbackAdapter) return true;
  return SOFTWARE.test([info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(" "));
}

/** The adapter's record for the lineage, its limits as plain numbers. */
export function adapterRecord(adapter: AdapterLike): AdapterRecord {
  const info = adapter.info ?? {};
  const limits: Record<string, number> = {};
  for (const name of RECORDED_LIMITS) {
    const v = (adapter.limits as Record<string, unknown>)[name];
    if (typeof v === "number") limits[name] = v;
  }
  return {
    vendor: info.vendor ?? "", architecture: info.architecture ?? "", device: info.device ?? "", description: info.description ?? "",
    software: isSoftwareAdapter({ ...info, isFallbackAdapter: info.isFallbackAdapter ?? adapter.isFallbackAdapter }),
    limits, features: [...adapter.features].sort(),
  };
}

/**
 * One line naming an adapter: Dawn names an NVIDIA GPU by `device` ("nvidia-h200") and puts the
 * driver version in `description`; e.g. "nvidia-h200 (NVIDIA: 580.159.04 580.159.4.0)".
 */
export function adapterName(r: Pick<AdapterRecord, "vendor" | "architecture" | "device" | "description" | "software">): string {
  const name = r.device || [r.vendor, r.architecture].filter(Boolean).join(" ") || r.description || "unnamed adapter";
  const detail = r.description && r.description !== name ? r.description : "";
  return `${name}${detail ? ` (${detail})` : ""}${r.software ? ", software" : ""}`;
}

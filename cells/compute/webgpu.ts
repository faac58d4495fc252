import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { adapterRecord, DEVICE_LIMITS, type AdapterLike, type AdapterRecord } from "./adapter.ts";

const require = createRequire(import.meta.url);

export { adapterName, adapterRecord, isSoftwareAdapter, type AdapterRecord } from "./adapter.ts";

/**
 * WebGPU in Node: Dawn from the `webgpu` package (an optional dependency: one `dawn.node` per
 * platform), driven through Vulkan on Linux. TF.js's webgpu backend runs on it as it does in a
 * browser once the globals a browser has (`navigator.gpu`, `GPUBufferUsage`, …) are installed.
 *
 * Only a hardware adapter is worth choosing over wasm: Dawn also finds software Vulkan drivers
 * (Mesa's lavapipe, SwiftShader), which compute correctly at a fraction of the wasm backend's
 * speed. Those are passed over unless TRACEBOOK_BACKEND=webgpu forces them.
 */

/** The few members of WebGPU's objects used here (the types live in @webgpu/types, a browser's globals). */
interface GpuAdapterLike extends AdapterLike {
  limits: Record<string, unknown>;
  requestDevice(descriptor?: unknown): Promise<unknown>;
}
interface GpuLike {
  requestAdapter(options?: { powerPreference?: string }): Promise<GpuAdapterLike | null>;
}

export type WebgpuProbe =
  | { ok: true; gpu: GpuLike; adapter: GpuAdapterLike; record: AdapterRecord; globals: Record<string, unknown> }
  | { ok: false; why: string };

/**
 * Where a Vulkan loader would be found: LD_LIBRARY_PATH, then the dynamic linker's cache. Dawn
 * reaches Vulkan only through libvulkan.so.1, and without it prints a warning on stderr for
 * every probe, so a machine with no loader (CI, most machines with no GPU) is answered before
 * Dawn is loaded: quietly, and without its 20 MB.
 */
export function vulkanLoader(env: NodeJS.ProcessEnv = process.env): string | null {
  if (process.platform !== "linux") return "(not needed on this platform)";
  for (const dir of (env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean)) {
    const file = path.join(dir, "libvulkan.so.1");
    if (fs.existsSync(file)) return file;
  }
  try {
    // ld.so.cache holds the names it maps as plain strings.
    if (fs.readFileSync("/etc/ld.so.cache").includes("libvulkan.so.1")) return "libvulkan.so.1 (ld.so.cache)";
  } catch {
    /* no cache: look in the usual folders */
  }
  for (const dir of ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu"]) {
    const file = path.join(dir, "libvulkan.so.1");
    if (fs.existsSync(file)) return file;
  }
  return null;
}

let probed: Promise<WebgpuProbe> | null = null;

/**
 * Find Dawn's preferred adapter once per process, without loading TF.js: the backend's
 * prediction (computeBackendName) and its start share the answer. `why` says what stands in
 * the way: the package, the Vulkan loader, no adapter at all.
 */
export function probeWebgpu(): Promise<WebgpuProbe> {
  probed ??= (async (): Promise<WebgpuProbe> => {
    try {
      require.resolve("webgpu/package.json");
    } catch {
      return { ok: false, why: "webgpu is not installed (an optional dependency: Dawn for Node)" };
    }
    if (!vulkanLoader()) return { ok: false, why: "no Vulkan loader (libvulkan.so.1) on this machine, so Dawn finds no adapter" };
    let mod: { create(options: string[]): GpuLike; globals: Record<string, unknown> };
    try {
      mod = (await import("webgpu")) as unknown as typeof mod;
    } catch (err) {
      return { ok: false, why: `webgpu did not load: ${(err as Error).message.split("\n")[0]}` };
    }
    const gpu = mod.create([]);
    const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
    if (!adapter) return { ok: false, why: "Dawn found no WebGPU adapter (no Vulkan driver for a GPU here)" };
    return { ok: true, gpu, adapter, record: adapterRecord(adapter), globals: mod.globals };
  })();
  return probed;
}

/**
 * Give this process the globals a browser has, so TF.js's webgpu backend (written for one) runs:
 * `navigator.gpu` (Node 20 has no navigator; a later Node's is kept, with gpu added) and the
 * WebGPU constructors and flag enums (`GPUBufferUsage`, `GPUMapMode`, …).
 */
export function installWebgpuGlobals(gpu: GpuLike, globals: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(globals)) {
    if (!(name in globalThis)) Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  }
  const nav = (globalThis as { navigator?: object }).navigator;
  if (nav) {
    if (!("gpu" in nav)) Object.defineProperty(nav, "gpu", { value: gpu, configurable: true });
  } else {
    Object.defineProperty(globalThis, "navigator", { value: { gpu }, configurable: true, writable: true });
  }
}

/** A device with the adapter's own limits (its record holds them) and, where offered, timestamp queries (TF.js's kernel times). */
export async function requestDevice(adapter: GpuAdapterLike, record: AdapterRecord): Promise<unknown> {
  const requiredLimits = Object.fromEntries(DEVICE_LIMITS.filter((n) => n in record.limits).map((n) => [n, record.limits[n]!]));
  return adapter.requestDevice({ requiredFeatures: record.features.filter((f) => f === "timestamp-query"), requiredLimits });
}

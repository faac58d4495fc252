import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { adapterName, adapterRecord, isSoftwareAdapter, vulkanLoader } from "../cells/compute/webgpu.ts";
import { maxRelError } from "./helpers/brute-tracin.ts";
import { childJson } from "./helpers/child.ts";

// What Dawn reported on the machines it ran on (bench/results/gpu-nvidia-h200.json; Chromium's SwiftShader here).
const H200 = { vendor: "nvidia", architecture: "", device: "nvidia-h200", description: "NVIDIA: 580.159.04 580.159.4.0", isFallbackAdapter: false };
const SWIFTSHADER = { vendor: "google", architecture: "swiftshader", device: "swiftshader-device-subzero-", description: "SwiftShader driver 5.0.0", isFallbackAdapter: true };

describe("webgpu adapters", () => {
  it("tells a hardware adapter from a software one, by the fallback flag or the driver's name", () => {
    expect(isSoftwareAdapter(H200)).toBe(false);
    expect(isSoftwareAdapter(SWIFTSHADER)).toBe(true);
    expect(isSoftwareAdapter({ ...SWIFTSHADER, isFallbackAdapter: false })).toBe(true);
    expect(isSoftwareAdapter({ vendor: "mesa", architecture: "", device: "", description: "llvmpipe (LLVM 15.0.6, 256 bits)" })).toBe(true);
    expect(isSoftwareAdapter({ vendor: "mesa", device: "lavapipe" })).toBe(true);
    expect(isSoftwareAdapter({ vendor: "amd", architecture: "rdna-3", description: "AMD Radeon RX 7900" })).toBe(false);
  });

  it("records an adapter for the lineage: its names, its limits as numbers, its features sorted", () => {
    const r = adapterRecord({
      info: H200, limits: { maxBufferSize: 2 ** 40, maxStorageBufferBindingSize: 2147483644, maxBindGroups: 4, somethingElse: "x" },
      features: new Set(["timestamp-query", "shader-f16"]),
    });
    expect(r).toEqual({
      vendor: "nvidia", architecture: "", device: "nvidia-h200", description: "NVIDIA: 580.159.04 580.159.4.0", software: false,
      limits: { maxBufferSize: 2 ** 40, maxStorageBufferBindingSize: 2147483644 }, features: ["shader-f16", "timestamp-query"],
    });
    expect(adapterName(r)).toBe("nvidia-h200 (NVIDIA: 580.159.04 580.159.4.0)");
    expect(adapterName({ ...SWIFTSHADER, software: true })).toBe("swiftshader-device-subzero- (SwiftShader driver 5.0.0), software");
    expect(adapterName({ vendor: "", architecture: "", device: "", description: "", software: false })).toBe("unnamed adapter");
  });

  it("finds a Vulkan loader on LD_LIBRARY_PATH before Dawn is loaded", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tb-vk-"));
    try {
      fs.writeFileSync(path.join(dir, "libvulkan.so.1"), "");
      expect(vulkanLoader({ LD_LIBRARY_PATH: `/nonexistent:${dir}` })).toBe(path.join(dir, "libvulkan.so.1"));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// Chromium ships SwiftShader's Vulkan driver and a Vulkan loader (.ci/run installs Chromium for
// the notebook tests): through them Dawn has a software adapter on a machine with no GPU, so the
// webgpu backend's kernels run here too (slowly), the same WGSL a GPU runs.
const CHROMIUM = "/usr/lib/chromium";
const swiftshader = fs.existsSync(path.join(CHROMIUM, "vk_swiftshader_icd.json")) && fs.existsSync(path.join(CHROMIUM, "libvulkan.so.1"));
const VK = { LD_LIBRARY_PATH: CHROMIUM, VK_DRIVER_FILES: path.join(CHROMIUM, "vk_swiftshader_icd.json"), XDG_RUNTIME_DIR: os.tmpdir() };

const child = (script: string, env: Record<string, string | undefined>) => childJson<Record<string, unknown>>(script, env);

const CASES = `import { computeBackend, describeBackend } from ${JSON.stringify(path.resolve("cells/compute/backend.ts"))};
import { describeTfjs } from ${JSON.stringify(path.resolve("cells/attribution/engine.ts"))};
import { runTracinCases } from ${JSON.stringify(path.resolve("bench/gpu-cases.ts"))};
const b = await computeBackend();
const cases = await runTracinCases(false);
console.log(JSON.stringify({ name: b.name, line: describeBackend(b), adapter: b.adapter ?? null, tfjs: describeTfjs(),
  cases: Object.fromEntries(Object.entries(cases).map(([k, c]) => [k, { S: c.S.map((r) => [...r]), self: [...c.self] }])) }));`;

describe.skipIf(!swiftshader)("the webgpu backend on SwiftShader (Chromium's Vulkan driver)", () => {
  it("passes a software adapter over unless forced, and says why", () => {
    const r = child(`import { computeBackend, describeBackend } from ${JSON.stringify(path.resolve("cells/compute/backend.ts"))};
const b = await computeBackend(); console.log(JSON.stringify({ name: b.name, line: describeBackend(b) }));`, { ...VK, TRACEBOOK_BACKEND: undefined });
    expect(r.name).not.toBe("webgpu");
    expect(r.line).toMatch(/; webgpu: only a software adapter, slower than wasm: swiftshader-device-subzero-\)$/);
  });

  it("scores the TracIn test cases as the wasm backend does, to 1e-4 relative, and names its adapter", () => {
    const gpu = child(CASES, { ...VK, TRACEBOOK_BACKEND: "webgpu" });
    const cpu = child(CASES, { TRACEBOOK_BACKEND: "wasm" });
    expect(gpu.name).toBe("webgpu");
    expect(gpu.adapter).toMatchObject({ vendor: "google", architecture: "swiftshader", software: true });
    expect(gpu.tfjs).toMatch(/^tfjs webgpu on swiftshader-device-subzero- .*, software$/);
    type Scores = Record<string, { S: number[][]; self: number[] }>;
    const [g, c] = [gpu.cases as Scores, cpu.cases as Scores];
    expect(Object.keys(g).sort()).toEqual(["external-mlp-exact", "last-layer", "linear-softmax", "lora-adapter-exact", "sparse-rows"]);
    for (const name of Object.keys(c)) {
      expect(maxRelError(g[name]!.S, c[name]!.S), name).toBeLessThanOrEqual(1e-4);
      expect(maxRelError([g[name]!.self], [c[name]!.self]), name).toBeLessThanOrEqual(1e-4);
    }
  }, 240_000);
});

describe("packing the GPU benchmark", () => {
  it("reads the packages a bundle loads: its imports, dynamic imports and requires by name, no builtins or relative paths", async () => {
    const { packagesOf } = await import("../scripts/pack-gpu-bench.ts");
    const bundle = [
      `import fs from "node:fs"; import path from "path"; import { x } from "./local.js";`,
      `import uniformInt from "pure-rand/distribution/uniformInt"; import murmur from 'murmurhash';`,
      `const ort = await import("onnxruntime-node"); const g = await import("webgpu");`,
      `const tf = require3("@tensorflow/tfjs"); proto ??= createRequire3(import.meta.url)("onnx-proto").onnx;`,
      `const w = require("@tensorflow/tfjs-backend-wasm/package.json"); const s = "not a package";`,
    ].join("\n");
    expect(packagesOf(bundle)).toEqual(["@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm", "murmurhash", "onnx-proto", "onnxruntime-node", "pure-rand", "webgpu"]);
  });
});

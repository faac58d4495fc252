import path from "node:path";
import { describe, expect, it } from "vitest";
import { describeBackend, type ComputeBackend } from "../cells/compute/backend.ts";
import { childJson } from "./helpers/child.ts";

/** The backend is chosen once per process, so each case runs in a fresh one. */
function choose(env: Record<string, string | undefined>) {
  const script = `import { computeBackend, describeBackend, tf } from ${JSON.stringify(path.resolve("cells/compute/backend.ts"))};
try { const b = await computeBackend(); console.log(JSON.stringify({ name: b.name, tf: tf.getBackend(), line: describeBackend(b) })); }
catch (e) { console.log(JSON.stringify({ error: e.message })); }`;
  return childJson<{ name?: string; tf?: string; line?: string; error?: string }>(script, env);
}

const hasTfNode = (() => {
  try {
    import.meta.resolve("@tensorflow/tfjs-node");
    return true;
  } catch {
    return false;
  }
})();

describe("compute backend", () => {
  it.skipIf(hasTfNode)("falls through the missing tfjs-node packages to wasm, and says why", () => {
    const b = choose({ TRACEBOOK_BACKEND: undefined });
    expect(b).toMatchObject({ name: "wasm", tf: "wasm" });
    // webgpu: no Vulkan loader (CI), no adapter, or only a software one; never chosen on a machine with no GPU.
    expect(b.line).toMatch(/^wasm \(@tensorflow\/tfjs-backend-wasm@[\d.]+; skipped tensorflow-gpu: @tensorflow\/tfjs-node-gpu is not installed; tensorflow: @tensorflow\/tfjs-node is not installed; webgpu: (no Vulkan loader|Dawn found no WebGPU adapter|only a software adapter)[^;]*\)$/);
  });

  it("says a skipped backend's reason by its gist: whole words, no half parenthesis", () => {
    const long = "libtensorflow.so.2: cannot open shared object file: No such file or directory while loading the native addon of the package";
    const line = describeBackend({ name: "cpu", tfBackend: "cpu", provider: "p", skipped: [
      { name: "tensorflow", why: long },
      { name: "wasm", why: "the wasm backend did not initialise (memory)\nstack…" },
    ] } satisfies ComputeBackend);
    expect(line).toBe("cpu (p; skipped tensorflow: libtensorflow.so.2: cannot open shared object file: No such file or directory…; wasm: the wasm backend did not initialise)");
  });

  it("obeys TRACEBOOK_BACKEND", () => {
    expect(choose({ TRACEBOOK_BACKEND: "cpu" })).toMatchObject({ name: "cpu", tf: "cpu" });
    expect(choose({ TRACEBOOK_BACKEND: "wasm" })).toMatchObject({ name: "wasm", tf: "wasm" });
    expect(choose({ TRACEBOOK_BACKEND: "tpu" }).error).toMatch(/TRACEBOOK_BACKEND=tpu is not a backend \(one of tensorflow-gpu, tensorflow, webgpu, wasm, cpu\)/);
  });

  it.skipIf(hasTfNode)("refuses a forced backend that cannot load instead of falling back", () => {
    expect(choose({ TRACEBOOK_BACKEND: "tensorflow" }).error).toMatch(/TRACEBOOK_BACKEND=tensorflow cannot be used: @tensorflow\/tfjs-node is not installed/);
  });
});

import { createRequire } from "node:module";
import path from "node:path";
// The union package, not tfjs-core alone: only its Node bundle registers every op's gradient
// (tfjs-core's own side-effect module for that cannot be imported from Node's ESM loader).
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { useExplicitTransposeGradient } from "./matmul-gradient.ts";

export { tf };

/** The backends Tracebook can train on, in the order they are tried. */
export const BACKENDS = ["tensorflow-gpu", "tensorflow", "wasm", "cpu"] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface ComputeBackend {
  /** Tracebook's name for it (recorded in lineage): tensorflow-gpu, tensorflow, wasm or cpu. */
  name: BackendName;
  /** TF.js's own backend name (tensorflow, wasm, cpu). */
  tfBackend: string;
  /** The package that provides it, with its version, e.g. "@tensorflow/tfjs-backend-wasm@4.22.0". */
  provider: string;
  /** Why earlier candidates were passed over, for the log. */
  skipped: { name: BackendName; why: string }[];
}

const require = createRequire(import.meta.url);
let chosen: Promise<ComputeBackend> | null = null;

/**
 * Pick the compute backend once per process: `TRACEBOOK_BACKEND` when set, else the first of
 * tfjs-node-gpu, tfjs-node, wasm, cpu that loads. The tfjs-node packages are optional
 * dependencies: their installer downloads libtensorflow and is dropped on offline machines,
 * so their absence is the normal case here, not an error.
 */
export function computeBackend(): Promise<ComputeBackend> {
  chosen ??= choose(process.env.TRACEBOOK_BACKEND?.trim() || undefined);
  return chosen;
}

async function choose(forced: string | undefined): Promise<ComputeBackend> {
  // PROD silences the cpu backend's "install tfjs-node" banner; the choice is logged by us.
  tf.env().set("PROD", true);
  if (forced !== undefined && !BACKENDS.includes(forced as BackendName)) {
    throw new Error(`TRACEBOOK_BACKEND=${forced} is not a backend (one of ${BACKENDS.join(", ")})`);
  }
  const candidates = forced ? [forced as BackendName] : [...BACKENDS];
  const skipped: ComputeBackend["skipped"] = [];
  for (const name of candidates) {
    try {
      const { tfBackend, provider } = await activate(name);
      return { name, tfBackend, provider, skipped };
    } catch (err) {
      const why = (err as Error).message.split("\n")[0]!;
      if (forced) throw new Error(`TRACEBOOK_BACKEND=${forced} cannot be used: ${why}`);
      skipped.push({ name, why });
    }
  }
  throw new Error(`no compute backend could start: ${skipped.map((s) => `${s.name}: ${s.why}`).join("; ")}`);
}

async function activate(name: BackendName): Promise<{ tfBackend: string; provider: string }> {
  switch (name) {
    case "tensorflow-gpu":
    case "tensorflow": {
      // Only one of the two may be imported: both register the same kernels.
      const pkg = name === "tensorflow-gpu" ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node";
      try {
        await import(pkg);
      } catch (err) {
        if ((err as { code?: string }).code === "ERR_MODULE_NOT_FOUND") throw new Error(`${pkg} is not installed (an optional dependency: its installer fetches libtensorflow)`);
        throw err;
      }
      if (!(await tf.setBackend("tensorflow"))) throw new Error(`${pkg} loaded but its backend did not start`);
      return { tfBackend: "tensorflow", provider: `${pkg}@${packageVersion(pkg)}` };
    }
    case "wasm": {
      // The .wasm files come from node_modules, never from a CDN.
      const dist = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json"));
      setWasmPaths(`${path.join(dist, "dist")}${path.sep}`);
      if (!(await tf.setBackend("wasm"))) throw new Error("the wasm backend did not initialise");
      useExplicitTransposeGradient(); // its transposed products are a slow loop (matmul-gradient.ts)
      return { tfBackend: "wasm", provider: `@tensorflow/tfjs-backend-wasm@${packageVersion("@tensorflow/tfjs-backend-wasm")}` };
    }
    case "cpu":
      if (!(await tf.setBackend("cpu"))) throw new Error("the cpu backend did not initialise");
      return { tfBackend: "cpu", provider: `@tensorflow/tfjs@${packageVersion("@tensorflow/tfjs")}` };
  }
}

/** The installed version of a package, or "unknown". */
export function packageVersion(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** One line for logs: "wasm (@tensorflow/tfjs-backend-wasm@4.22.0; skipped tensorflow-gpu: …)". */
export function describeBackend(b: ComputeBackend): string {
  const skipped = b.skipped.map((s) => `${s.name}: ${s.why.slice(0, 80)}`).join("; ");
  return `${b.name} (${b.provider}${skipped ? `; skipped ${skipped}` : ""})`;
}

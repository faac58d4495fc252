import { createRequire } from "node:module";
import path from "node:path";
import type * as Tfjs from "@tensorflow/tfjs";
import type * as TfjsWasm from "@tensorflow/tfjs-backend-wasm";
import { useExplicitTransposeGradient } from "./matmul-gradient.ts";
import { adapterName, installWebgpuGlobals, probeWebgpu, requestDevice, type AdapterRecord } from "./webgpu.ts";

const require = createRequire(import.meta.url);

/**
 * TF.js, loaded on first use. Its Node bundle takes 0.8 s to load, and every command that loads
 * a pipeline file reached it through `tracebook`'s index, so `status`, `show` or a run with
 * nothing stale paid for it without computing anything. Both packages are CommonJS, so a
 * synchronous require on first touch gives the very module an `import` would (one instance in
 * the process), and the wasm backend is registered then, as its import did. The union package,
 * not tfjs-core alone: only its Node bundle registers every op's gradient.
 */
let loaded: { tf: typeof Tfjs; wasm: typeof TfjsWasm } | null = null;
function tfjs(): { tf: typeof Tfjs; wasm: typeof TfjsWasm } {
  loaded ??= { tf: require("@tensorflow/tfjs") as typeof Tfjs, wasm: require("@tensorflow/tfjs-backend-wasm") as typeof TfjsWasm };
  return loaded;
}

/** The TF.js namespace; its first property read loads TF.js. */
export const tf: typeof Tfjs = new Proxy({} as typeof Tfjs, {
  get: (_, key) => Reflect.get(tfjs().tf, key),
  has: (_, key) => Reflect.has(tfjs().tf, key),
});

/** The TF.js types modules name as `tf.Tensor2D` (a type-only namespace beside the value). */
export declare namespace tf {
  type Tensor<R extends Tfjs.Rank = Tfjs.Rank> = Tfjs.Tensor<R>;
  type Tensor1D = Tfjs.Tensor1D;
  type Tensor2D = Tfjs.Tensor2D;
  type Tensor3D = Tfjs.Tensor3D;
  type Scalar = Tfjs.Scalar;
  type Variable<R extends Tfjs.Rank = Tfjs.Rank> = Tfjs.Variable<R>;
  type TensorContainer = Tfjs.TensorContainer;
}

/** The backends Tracebook can train on, in the order they are tried. */
export const BACKENDS = ["tensorflow-gpu", "tensorflow", "webgpu", "wasm", "cpu"] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface ComputeBackend {
  /** Tracebook's name for it (recorded in lineage): tensorflow-gpu, tensorflow, webgpu, wasm or cpu. */
  name: BackendName;
  /** TF.js's own backend name (tensorflow, webgpu, wasm, cpu). */
  tfBackend: string;
  /** The package that provides it, with its version, e.g. "@tensorflow/tfjs-backend-wasm@4.22.0". */
  provider: string;
  /** The GPU it runs on, where it is webgpu: the adapter's name, limits and features. */
  adapter?: AdapterRecord;
  /** Why earlier candidates were passed over, for the log. */
  skipped: { name: BackendName; why: string }[];
}

let chosen: Promise<ComputeBackend> | null = null;
/** The adapter of the backend started in this process, where it is a GPU one. */
let activeAdapter: AdapterRecord | null = null;

/** The GPU adapter the started backend computes on (webgpu), for lineage lines that are built synchronously; null otherwise. */
export function backendAdapter(): AdapterRecord | null {
  return activeAdapter;
}

/** The packages of the two TensorFlow backends (optional dependencies; only one of them may be loaded). */
const TFJS_NODE = { "tensorflow-gpu": "@tensorflow/tfjs-node-gpu", tensorflow: "@tensorflow/tfjs-node" } as const;

/**
 * Pick the compute backend once per process: `TRACEBOOK_BACKEND` when set, else the first of
 * tfjs-node-gpu, tfjs-node, webgpu, wasm, cpu that loads. The tfjs-node packages are optional
 * dependencies: their installer downloads libtensorflow and is dropped on offline machines,
 * so their absence is the normal case here, not an error. webgpu is taken only on a hardware
 * adapter (webgpu.ts); a software one is slower than wasm and is used only when forced.
 */
export function computeBackend(): Promise<ComputeBackend> {
  chosen ??= choose();
  return chosen;
}

/** What computeBackendName() said without starting the backend: the backend then started must be it. */
let predicted: BackendName | null = null;

/**
 * The name of the backend `computeBackend()` picks, for fingerprints (a model or tracin cell's
 * source version), without loading TF.js where the answer is plain: `status`, `show` and a run
 * with nothing stale read it for every model and tracin cell and train nothing (TF.js took 0.8 s
 * of their 1.4-2.9 s). A forced backend is its name; an installed tfjs-node is loaded, as only
 * loading it tells whether it works; past those, the wasm backend whose files are installed is
 * the one picked, and `computeBackend()` fails, naming both, if it then is not (a plan made under
 * one name must not run under another). webgpu is predicted from Dawn's adapter alone (no TF.js):
 * the same probe the backend then starts on. What computes starts the backend itself: the
 * scheduler before a cell runs, ModelServer and Explainer before they predict or explain.
 */
export async function computeBackendName(): Promise<BackendName> {
  if (chosen) return (await chosen).name;
  const forced = forcedBackend();
  if (forced) return forced;
  if (Object.values(TFJS_NODE).some((pkg) => resolvable(`${pkg}/package.json`))) return (await computeBackend()).name;
  const gpu = await probeWebgpu();
  if (gpu.ok && !gpu.record.software) return (predicted = "webgpu");
  if (resolvable("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm")) return (predicted = "wasm");
  return (await computeBackend()).name;
}

function forcedBackend(): BackendName | undefined {
  const forced = process.env.TRACEBOOK_BACKEND?.trim() || undefined;
  if (forced !== undefined && !BACKENDS.includes(forced as BackendName)) {
    throw new Error(`TRACEBOOK_BACKEND=${forced} is not a backend (one of ${BACKENDS.join(", ")})`);
  }
  return forced as BackendName | undefined;
}

function resolvable(spec: string): boolean {
  try {
    require.resolve(spec);
    return true;
  } catch {
    return false;
  }
}

async function choose(): Promise<ComputeBackend> {
  // PROD silences the cpu backend's "install tfjs-node" banner; the choice is logged by us.
  tf.env().set("PROD", true);
  const forced = forcedBackend();
  const candidates = forced ? [forced as BackendName] : [...BACKENDS];
  const skipped: ComputeBackend["skipped"] = [];
  for (const name of candidates) {
    let started: ComputeBackend;
    try {
      started = { name, ...(await activate(name)), skipped };
    } catch (err) {
      const why = (err as Error).message.split("\n")[0]!;
      if (forced) throw new Error(`TRACEBOOK_BACKEND=${forced} cannot be used: ${why}`);
      skipped.push({ name, why });
      continue;
    }
    if (started.adapter) activeAdapter = started.adapter;
    if (predicted && predicted !== name) {
      throw new Error(`the compute backend is ${name}, where this process planned under ${predicted} (${skipped.map((x) => `${x.name}: ${x.why}`).join("; ")}); TRACEBOOK_BACKEND=${name} plans under it`);
    }
    return started;
  }
  throw new Error(`no compute backend could start: ${skipped.map((s) => `${s.name}: ${s.why}`).join("; ")}`);
}

async function activate(name: BackendName): Promise<{ tfBackend: string; provider: string; adapter?: AdapterRecord }> {
  switch (name) {
    case "tensorflow-gpu":
    case "tensorflow": {
      // Only one of the two may be imported: both register the same kernels.
      const pkg = TFJS_NODE[name];
      try {
        await import(pkg);
      } catch (err) {
        if ((err as { code?: string }).code === "ERR_MODULE_NOT_FOUND") throw new Error(`${pkg} is not installed (an optional dependency: its installer fetches libtensorflow)`);
        throw err;
      }
      if (!(await tf.setBackend("tensorflow"))) throw new Error(`${pkg} loaded but its backend did not start`);
      return { tfBackend: "tensorflow", provider: `${pkg}@${packageVersion(pkg)}` };
    }
    case "webgpu":
      return activateWebgpu(forcedBackend() === "webgpu");
    case "wasm": {
      // The .wasm files come from node_modules, never from a CDN.
      const dist = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json"));
      tfjs().wasm.setWasmPaths(`${path.join(dist, "dist")}${path.sep}`);
      if (!(await tf.setBackend("wasm"))) throw new Error("the wasm backend did not initialise");
      useExplicitTransposeGradient(); // its transposed products are a slow loop (matmul-gradient.ts)
      return { tfBackend: "wasm", provider: `@tensorflow/tfjs-backend-wasm@${packageVersion("@tensorflow/tfjs-backend-wasm")}` };
    }
    case "cpu":
      if (!(await tf.setBackend("cpu"))) throw new Error("the cpu backend did not initialise");
      return { tfBackend: "cpu", provider: `@tensorflow/tfjs@${packageVersion("@tensorflow/tfjs")}` };
  }
}

/**
 * TF.js's webgpu backend on Dawn's adapter. The backend package registers itself only where
 * `navigator.gpu` exists when it loads, so the globals go first; the device is requested here,
 * with the adapter's limits, and handed to the backend's own class under the name "webgpu".
 */
async function activateWebgpu(forced: boolean): Promise<{ tfBackend: string; provider: string; adapter: AdapterRecord }> {
  const probe = await probeWebgpu();
  if (!probe.ok) throw new Error(probe.why);
  const record = probe.record;
  if (record.software && !forced) throw new Error(`only a software adapter, slower than wasm: ${adapterName(record)} (TRACEBOOK_BACKEND=webgpu uses it)`);
  installWebgpuGlobals(probe.gpu, probe.globals);
  const webgpu = require("@tensorflow/tfjs-backend-webgpu") as { WebGPUBackend: new (device: unknown, info?: unknown) => Tfjs.KernelBackend };
  const device = await requestDevice(probe.adapter, record);
  // The package's own registration would ask for a second adapter: this one's device serves.
  if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
  tf.registerBackend("webgpu", () => new webgpu.WebGPUBackend(device, probe.adapter.info));
  if (!(await tf.setBackend("webgpu"))) throw new Error(`the webgpu backend did not start on ${adapterName(record)}`);
  // Dawn's queue submit is costly from Node (a TracIn call spent 3.3 ms of its 63-71 in kernels on
  // an H200): 64 dispatches a submit instead of TF.js's 15 took the TracIn benchmark case from
  // 5.8-6.0M to 8.4-9.6M pairs/s in a run of its own (1 and 1000 were slower than 64), and
  // self-influence from 52,903 to 70,874 examples/s in bench/gpu.ts.
  tf.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", 64);
  const pkg = "@tensorflow/tfjs-backend-webgpu";
  return { tfBackend: "webgpu", provider: `${pkg}@${packageVersion(pkg)} on Dawn webgpu@${packageVersion("webgpu")}, ${adapterName(record)}`, adapter: record };
}

/** The installed version of a package, or "unknown". */
export function packageVersion(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/**
 * One line for logs: "wasm (@tensorflow/tfjs-backend-wasm@4.22.0; skipped tensorflow-gpu: …
 * is not installed; …)". A reason is cut to its gist, whole words and no half parenthesis; the
 * lineage keeps it whole.
 */
export function describeBackend(b: ComputeBackend): string {
  const skipped = b.skipped.map((s) => `${s.name}: ${gist(s.why)}`).join("; ");
  return `${b.name} (${b.provider}${skipped ? `; skipped ${skipped}` : ""})`;
}

/** A reason's first line before any parenthesis, at most about 80 characters, cut at a word. */
function gist(why: string, max = 80): string {
  const head = why.split("\n", 1)[0]!.split(" (", 1)[0]!.trim();
  if (head.length <= max) return head;
  const cut = head.slice(0, max);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(" "), max / 2)).trimEnd()}…`;
}

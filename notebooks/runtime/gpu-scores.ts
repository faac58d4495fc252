import type * as TfCore from "@tensorflow/tfjs-core";
import { adapterName, adapterRecord, type AdapterLike } from "../../cells/compute/adapter.ts";
import type { BatchScorer, ScoringProblem } from "../../cells/attribution/portable.ts";

/**
 * A static build's explainer on the page's GPU: TF.js's webgpu backend, the one Node trains and
 * traces with on a GPU machine (cells/compute/backend.ts). The training side is computed once in
 * TypeScript (PortableExplainerEngine) and kept on the device; each question is then a few
 * products [rows × width]·[width × inputs] per checkpoint, read back once. Taken only on a hardware
 * adapter: a software one (SwiftShader) is slower than the TypeScript engine, and is used only when
 * the page asks for it (`?backend=webgpu`). Where the browser offers no WebGPU, the TypeScript
 * engine answers, as before.
 */

/** What the page may ask of the explainer's compute: auto (a hardware GPU if any), webgpu (forced), cpu. */
export type PageBackend = "auto" | "webgpu" | "cpu";

export interface GpuChoice {
  scorer: BatchScorer | null;
  /** Why the TypeScript engine answers, where it does. */
  why: string;
}

interface GpuLike {
  requestAdapter(options?: { powerPreference?: string }): Promise<AdapterLike | null>;
}

let chosen: Promise<GpuChoice> | null = null;

/** The GPU scorer of this worker, chosen on its first question. */
export function gpuScorer(backend: PageBackend): Promise<GpuChoice> {
  if (backend === "cpu") return Promise.resolve({ scorer: null, why: "the page asked for the CPU" });
  chosen ??= choose(backend === "webgpu");
  return chosen;
}

async function choose(forced: boolean): Promise<GpuChoice> {
  // Through globalThis: a worker's navigator, or the one Node is given where the scorer is measured (bench/page-gpu.ts).
  const gpu = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu;
  if (!gpu) return { scorer: null, why: "this browser offers no WebGPU" };
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) return { scorer: null, why: "WebGPU found no adapter" };
  const record = adapterRecord(adapter);
  if (record.software && !forced) return { scorer: null, why: `only a software adapter (${adapterName(record)})` };
  // Loaded only here: a page without a GPU never downloads TF.js.
  const tf = await import("@tensorflow/tfjs-core");
  await import("@tensorflow/tfjs-backend-webgpu"); // registers "webgpu" (navigator.gpu exists)
  if (!(await tf.setBackend("webgpu"))) return { scorer: null, why: "TF.js's webgpu backend did not start" };
  return { scorer: new WebgpuScorer(tf, `webgpu float32 on ${adapterName(record)}`), why: "" };
}

/** The training side of one engine, on the device: per checkpoint, each factor's A and B, or the projected features. */
interface DeviceSide {
  factors: { a: TfCore.Tensor2D | null; b: TfCore.Tensor2D }[];
  features: TfCore.Tensor2D | null;
}

class WebgpuScorer implements BatchScorer {
  private readonly kept = new WeakMap<object, DeviceSide[]>();

  constructor(private readonly tf: typeof TfCore, readonly name: string) {}

  /** The engine's training side, uploaded on its first question and kept while the engine lives. */
  private sides(engine: object, p: ScoringProblem): DeviceSide[] {
    let sides = this.kept.get(engine);
    if (!sides) {
      const { tf } = this, N = p.rows;
      sides = p.checkpoints.map(({ side }) => side.features
        ? { factors: [], features: tf.keep(tf.tensor2d(side.features, [N, side.features.length / Math.max(N, 1)])) }
        : {
          features: null,
          factors: p.shapes.map((f, m) => ({
            a: side.a[m] ? tf.keep(tf.tensor2d(side.a[m]!, [N, f.aWidth])) : null,
            b: tf.keep(tf.tensor2d(side.b[m]!, [N, f.bWidth])),
          })),
        });
      this.kept.set(engine, sides);
    }
    return sides;
  }

  /** Σ_k η_k Σ_factors (A_i·a_q + bias)(B_i·b_q) for every row i and input q, as one [rows × inputs] block read back once. */
  async scores(engine: object, p: ScoringProblem): Promise<Float64Array[]> {
    const { tf } = this, N = p.rows, Q = p.queries.length;
    if (N === 0) return p.queries.map(() => new Float64Array(0));
    const sides = this.sides(engine, p);
    // Rows of the inputs' factors stacked into one [inputs × width] matrix.
    const stack = (pick: (q: ScoringProblem["queries"][number]) => Float64Array, width: number) => {
      const out = new Float32Array(Q * width);
      p.queries.forEach((q, j) => out.set(pick(q), j * width));
      return tf.tensor2d(out, [Q, width]);
    };
    const S = tf.tidy(() => {
      // x_i·x_q (computed sparse on the CPU: the training rows are CSR) where a factor's a-side is the input.
      const gram = p.queries[0]!.inputGram ? tf.transpose(stack((q) => q.inputGram!, N)) : null;
      let total = tf.zeros([N, Q]) as TfCore.Tensor2D;
      p.checkpoints.forEach((c, k) => {
        const side = sides[k]!;
        if (side.features) {
          const F = side.features.shape[1];
          total = tf.add(total, tf.matMul(side.features, stack((q) => q.factors[k]!.features!, F), false, true));
          return;
        }
        let sum = tf.zeros([N, Q]) as TfCore.Tensor2D;
        p.shapes.forEach((f, m) => {
          const { a, b } = side.factors[m]!;
          let ga = f.aIsInput ? gram! : tf.matMul(a!, stack((q) => q.factors[k]!.a[m]!, f.aWidth), false, true);
          if (f.bias) ga = tf.add(ga, 1);
          sum = tf.add(sum, tf.mul(ga, tf.matMul(b, stack((q) => q.factors[k]!.b[m]!, f.bWidth), false, true)));
        });
        total = tf.add(total, tf.mul(sum, c.learningRate));
      });
      return total;
    });
    const flat = (await S.data()) as Float32Array;
    S.dispose();
    return p.queries.map((_, j) => Float64Array.from({ length: N }, (_, i) => flat[i * Q + j]!));
  }
}

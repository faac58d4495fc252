import { tf } from "../compute/backend.ts";
import { batch, BatchBuffer, type FeatureMatrix } from "./featurize.ts";
import { forward, type LoraConfig, type MlpSpec, type Weights } from "./mlp.ts";
import { forwardEngine, nativeForward } from "./native-forward.ts";

/** Rows per forward pass: 512 mail rows densified are 16 MB. */
const BLOCK = 512;

/**
 * Class probabilities (or, with `log`, log-probabilities: exact where a probability underflows)
 * of every row of `x`, row-major rows × classes. `weights` are a full model's, or an adapter's
 * over the frozen `base`. On the native engine where it loads (native-forward.ts), as TracIn
 * does, else on TF.js: one engine serves a model's predictions everywhere, so an inference's
 * recorded prediction is the one its trace explains.
 */
export async function classProbabilities(
  spec: MlpSpec, x: FeatureMatrix, weights: Weights, adapter?: { base: Weights; lora: LoraConfig }, options: { log?: boolean } = {},
): Promise<Float32Array> {
  const log = options.log ?? false;
  const native = await forwardEngine();
  // One block of densified rows [rows × dims] in, its probabilities out.
  const run = native ? await nativeForward(native, spec, weights, adapter, log) : async (block: Float32Array, rows: number) => {
    const p = tf.tidy(() => {
      const input = tf.tensor2d(block, [rows, x.dims]);
      const logits = adapter ? forward(spec, adapter.base, input, { lora: adapter.lora, weights }) : forward(spec, weights, input);
      return log ? tf.logSoftmax(logits) : tf.softmax(logits);
    });
    try {
      return (await p.data()) as Float32Array;
    } finally {
      p.dispose();
    }
  };
  // Either engine is done with a block before the next is written (the native run answered, the
  // TF.js input disposed with its tidy): one buffer serves every block.
  const into = new BatchBuffer();
  const out = new Float32Array(x.rows * spec.classes.length);
  for (let start = 0; start < x.rows; start += BLOCK) {
    const rows = Array.from({ length: Math.min(BLOCK, x.rows - start) }, (_, i) => start + i);
    out.set(await run(batch(x, rows, into), rows.length), start * spec.classes.length);
  }
  return out;
}

/** The most probable class of row `r` of a rows × classes matrix (the first on a tie). */
export function argmaxAt(p: Float32Array, classes: number, r: number): number {
  let best = 0;
  for (let c = 1; c < classes; c++) if (p[r * classes + c]! > p[r * classes + best]!) best = c;
  return best;
}

/** The most probable class of each row (the first on a tie) and its probability. */
export function argmaxRows(p: Float32Array, classes: number): { classIndex: Int32Array; confidence: Float64Array } {
  const classIndex = Int32Array.from({ length: p.length / classes }, (_, r) => argmaxAt(p, classes, r));
  return { classIndex, confidence: Float64Array.from(classIndex, (c, r) => p[r * classes + c]!) };
}

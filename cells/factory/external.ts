/**
 * Import a plain MLP trained in another tool (PyTorch, Keras, JAX, …) so its behaviour can be
 * attributed like a model trained here. TracIn needs the checkpoints and the learning rate in
 * force at each, so the format carries both.
 *
 * Format `tracebook.external-mlp/1` (a JSON file):
 *
 *   {
 *     "format": "tracebook.external-mlp/1",           // required
 *     "classes": ["ham", "spam"],                      // optional; default "0" … "C-1"; distinct strings
 *     "input": { "kind": "features", "size": 784 },    // optional; size must match the first kernel
 *     "checkpoints": [                                 // required, at least one, in training order
 *       { "step": 100,                                 // optional integer >= 0, non-decreasing
 *         "learning_rate": 0.01,                       // required, positive and finite
 *         "layers": [                                  // at least one, input → output
 *           { "kernel": [[w00, w01, …], …],            // [inputs][outputs]: one row per input
 *             "bias": [b0, b1, …] },                   // [outputs]
 *           … ] },
 *       … ]
 *   }
 *
 * The model is dense → relu → dense → relu → … → dense (no activation after the last layer)
 * with a softmax cross-entropy loss. The kernel is laid out like `x @ W` (Keras/JAX); a PyTorch
 * `nn.Linear.weight` is [out][in] and must be transposed on export. Every checkpoint must have
 * the same shapes as the first. Numbers must be finite and representable as float32 (they are
 * stored as float32). Unknown keys are ignored, so exporters may add their own notes.
 *
 * Every error names the file and the JSON path of the first problem, e.g.
 * `model.json: checkpoints[1].layers[0].kernel[3] has 127 values, expected 128`.
 */
import fs from "node:fs";
import { InputError } from "../datanet/errors.ts";

export const EXTERNAL_MLP_FORMAT = "tracebook.external-mlp/1";

export interface ExternalLayer {
  inputs: number;
  outputs: number;
  /** Row-major [inputs][outputs]: weight from input i to output j is kernel[i * outputs + j]. */
  kernel: Float32Array;
  bias: Float32Array;
}

export interface ExternalCheckpoint {
  step: number | null;
  learningRate: number;
  layers: ExternalLayer[];
}

export interface ExternalMlp {
  classes: string[];
  inputSize: number;
  checkpoints: ExternalCheckpoint[];
}

type Json = Record<string, unknown>;

function isObject(x: unknown): x is Json {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** A short rendering of an offending value for messages (never the whole kernel). */
function show(x: unknown): string {
  if (x === undefined) return "nothing";
  if (typeof x === "number") return String(x); // JSON.stringify(Infinity) would say "null"
  const s = JSON.stringify(x) ?? String(x);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

export function parseExternalMlp(json: unknown, source: string): ExternalMlp {
  const fail: (reason: string) => never = (reason) => {
    throw new InputError(reason, { file: source });
  };

  /** Copy a JSON array of numbers into float32, refusing anything that would not survive. */
  const floats: (x: unknown, path: string, expected: number, why: string, into: Float32Array, at: number) => void = (x, path, expected, why, into, at) => {
    if (!Array.isArray(x)) fail(`${path} must be an array of numbers, got ${show(x)}`);
    const arr = x as unknown[];
    if (arr.length !== expected) fail(`${path} has ${arr.length} values, expected ${expected}${why}`);
    for (let j = 0; j < arr.length; j++) {
      const v = arr[j];
      // JSON has no NaN/Infinity, but 1e999 parses to Infinity and 1e39 overflows float32.
      if (typeof v !== "number" || !Number.isFinite(v)) fail(`${path}[${j}] is not a finite number: ${show(v)}`);
      const f = Math.fround(v as number);
      if (!Number.isFinite(f)) fail(`${path}[${j}] = ${v} is outside the float32 range`);
      into[at + j] = f;
    }
  };

  if (!isObject(json)) fail(`expected a JSON object with "format": "${EXTERNAL_MLP_FORMAT}", got ${show(json)}`);
  const root = json as Json;
  if (root.format === undefined) fail(`format is missing; expected "${EXTERNAL_MLP_FORMAT}"`);
  if (root.format !== EXTERNAL_MLP_FORMAT) fail(`format is ${show(root.format)}; only "${EXTERNAL_MLP_FORMAT}" is supported`);

  let declaredInput: number | null = null;
  if (root.input !== undefined) {
    if (!isObject(root.input)) fail(`input must be an object like {"kind": "features", "size": 784}, got ${show(root.input)}`);
    const input = root.input as Json;
    if (input.kind !== undefined && input.kind !== "features") fail(`input.kind is ${show(input.kind)}; only "features" is supported`);
    if (input.size !== undefined) {
      if (!Number.isSafeInteger(input.size) || (input.size as number) < 1) fail(`input.size must be a positive integer, got ${show(input.size)}`);
      declaredInput = input.size as number;
    }
  }

  if (!Array.isArray(root.checkpoints)) fail(`checkpoints must be an array, got ${show(root.checkpoints)}`);
  const rawCheckpoints = root.checkpoints as unknown[];
  if (rawCheckpoints.length === 0) fail("checkpoints is empty; at least one checkpoint is needed");

  // Shapes come from checkpoint 0: [inputs, outputs] per layer. Later checkpoints must match.
  let shapes: Array<[number, number]> | null = null;
  let lastStep: { step: number; index: number } | null = null;
  const checkpoints: ExternalCheckpoint[] = [];

  rawCheckpoints.forEach((rc, c) => {
    const cp = `checkpoints[${c}]`;
    if (!isObject(rc)) fail(`${cp} must be an object, got ${show(rc)}`);
    const raw = rc as Json;

    let step: number | null = null;
    if (raw.step !== undefined && raw.step !== null) {
      if (!Number.isSafeInteger(raw.step) || (raw.step as number) < 0) fail(`${cp}.step must be an integer >= 0, got ${show(raw.step)}`);
      step = raw.step as number;
      if (lastStep && step < lastStep.step) {
        fail(`${cp}.step is ${step}, less than checkpoints[${lastStep.index}].step ${lastStep.step}; steps must not decrease`);
      }
      lastStep = { step, index: c };
    }

    const lr = raw.learning_rate;
    if (typeof lr !== "number" || !Number.isFinite(lr) || lr <= 0) fail(`${cp}.learning_rate must be a positive finite number, got ${show(lr)}`);

    if (!Array.isArray(raw.layers)) fail(`${cp}.layers must be an array, got ${show(raw.layers)}`);
    const rawLayers = raw.layers as unknown[];
    if (rawLayers.length === 0) fail(`${cp}.layers is empty; at least one layer is needed`);
    if (shapes && rawLayers.length !== shapes.length) {
      fail(`${cp}.layers has ${rawLayers.length} layers, expected ${shapes.length} (as in checkpoints[0])`);
    }

    const currentShapes: Array<[number, number]> = [];
    const layers: ExternalLayer[] = rawLayers.map((rl, l) => {
      const lp = `${cp}.layers[${l}]`;
      if (!isObject(rl)) fail(`${lp} must be an object with kernel and bias, got ${show(rl)}`);
      const { kernel, bias } = rl as Json;
      if (!Array.isArray(kernel)) fail(`${lp}.kernel must be an array of rows (one per input), got ${show(kernel)}`);
      const rows = kernel as unknown[];

      // What this layer must look like, and why, so the message says where the expectation came from.
      let inputs: number, outputs: number, inWhy: string, outWhy: string;
      if (shapes) {
        [inputs, outputs] = shapes[l]!;
        inWhy = outWhy = " (as in checkpoints[0])";
      } else if (l > 0) {
        inputs = currentShapes[l - 1]![1];
        inWhy = ` (the outputs of layers[${l - 1}])`;
        outputs = Array.isArray(rows[0]) ? (rows[0] as unknown[]).length : 0;
        outWhy = ` (as in ${lp}.kernel[0])`;
      } else {
        inputs = declaredInput ?? rows.length;
        inWhy = " (input.size)";
        outputs = Array.isArray(rows[0]) ? (rows[0] as unknown[]).length : 0;
        outWhy = ` (as in ${lp}.kernel[0])`;
      }
      if (rows.length !== inputs) fail(`${lp}.kernel has ${rows.length} rows, expected ${inputs}${inWhy}`);
      if (inputs === 0) fail(`${lp}.kernel is empty; a layer needs at least one input`);
      if (outputs === 0) fail(`${lp}.kernel[0] must be a non-empty array of numbers, got ${show(rows[0])}`);

      const k = new Float32Array(inputs * outputs);
      rows.forEach((row, i) => floats(row, `${lp}.kernel[${i}]`, outputs, outWhy, k, i * outputs));
      const b = new Float32Array(outputs);
      floats(bias, `${lp}.bias`, outputs, " (the outputs of its kernel)", b, 0);
      if (!shapes) currentShapes.push([inputs, outputs]);
      return { inputs, outputs, kernel: k, bias: b };
    });
    shapes ??= currentShapes;
    checkpoints.push({ step, learningRate: lr as number, layers });
  });

  const inputSize = shapes![0]![0];
  const outputs = shapes![shapes!.length - 1]![1];
  let classes: string[];
  if (root.classes === undefined) {
    classes = Array.from({ length: outputs }, (_, i) => String(i));
  } else {
    if (!Array.isArray(root.classes)) fail(`classes must be an array of strings, got ${show(root.classes)}`);
    classes = [];
    const seen = new Map<string, number>();
    (root.classes as unknown[]).forEach((name, i) => {
      if (typeof name !== "string" || name === "") fail(`classes[${i}] must be a non-empty string, got ${show(name)}`);
      const first = seen.get(name as string);
      if (first !== undefined) fail(`classes[${i}] ${show(name)} duplicates classes[${first}]`);
      seen.set(name as string, i);
      classes.push(name as string);
    });
    if (classes.length !== outputs) {
      fail(`classes has ${classes.length} entries, expected ${outputs} (the outputs of the last layer)`);
    }
  }
  return { classes, inputSize, checkpoints };
}

export async function readExternalMlp(file: string): Promise<ExternalMlp> {
  const text = await fs.promises.readFile(file, "utf8");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InputError(`not valid JSON: ${(err as Error).message}`, { file });
  }
  return parseExternalMlp(json, file);
}

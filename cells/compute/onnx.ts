import { createRequire } from "node:module";
import os from "node:os";
import type OnnxProto from "onnx-proto";
import { packageVersion } from "./backend.ts";
import type * as OrtModule from "onnxruntime-node";

/**
 * The native engine: ONNX Runtime's CPU kernels (MLAS, multi-threaded) for the dense products
 * that bound TracIn on TF.js's wasm backend (one thread, ~28 GFLOP/s here, against 100–140 for
 * MLAS on both cores). Graphs are built in code with `onnx-proto` and run by `onnxruntime-node`,
 * an optional dependency: where it is missing or does not load, callers keep the TF.js path.
 */
type Onnx = typeof OnnxProto.onnx;
let proto: Onnx | null = null;
/** onnx-proto (protobufjs, 0.1 s to load), required when the first graph is built, not by every command that loads a pipeline. */
function onnx(): Onnx {
  proto ??= (createRequire(import.meta.url)("onnx-proto") as typeof OnnxProto).onnx;
  return proto;
}

export type Ort = typeof OrtModule;

export interface NativeEngine {
  ort: Ort;
  /** e.g. "onnxruntime-node@1.30.0 (2 threads)" — logged with the results it computes. */
  provider: string;
  /** e.g. "onnxruntime-node@1.30.0": what enters cell fingerprints (not the machine's thread count). */
  version: string;
  threads: number;
}

/** The engines dense products can run on: TF.js (the compute backend) or the native one. */
export const ENGINES = ["tfjs", "onnxruntime"] as const;
export type EngineChoice = "auto" | (typeof ENGINES)[number];

/** The engine TRACEBOOK_ENGINE forces, for TracIn and for predictions alike; undefined when none. */
export function forcedEngine(): Exclude<EngineChoice, "auto"> | undefined {
  const env = process.env.TRACEBOOK_ENGINE?.trim();
  if (!env) return undefined;
  if (!(ENGINES as readonly string[]).includes(env)) throw new Error(`TRACEBOOK_ENGINE=${env} is not an engine (one of ${ENGINES.join(", ")})`);
  return env as Exclude<EngineChoice, "auto">;
}

/**
 * The native engine for `what` (TracIn, predictions) unless `choice`, else TRACEBOOK_ENGINE,
 * says tfjs or it does not load: null means TF.js. Forced onto it where it cannot load, an error
 * naming what it was for, not a quiet fallback.
 */
export async function nativeUnlessTfjs(what: string, choice: EngineChoice = "auto"): Promise<NativeEngine | null> {
  const forced = choice !== "auto" ? choice : forcedEngine();
  if (forced === "tfjs") return null;
  const native = await nativeEngine();
  if ("error" in native) {
    if (forced === "onnxruntime") throw new Error(`${what} engine onnxruntime cannot be used: ${native.error}`);
    return null;
  }
  return native;
}

let loaded: Promise<NativeEngine | { error: string }> | null = null;

/** Load onnxruntime-node once per process; the reason it cannot be used otherwise. */
export function nativeEngine(): Promise<NativeEngine | { error: string }> {
  loaded ??= (async () => {
    // A wrong TRACEBOOK_THREADS is the user's error, not a reason to fall back to TF.js quietly.
    const threads = threadCount();
    // onnxruntime 1.29+ sends telemetry from Linux (process info, a device id, an uploader), set
    // before it initialises. Tracebook sends nothing anywhere at run time, and its process-info
    // collector overflows the native stack on a command line past ~32 KB (`tracebook what-if`
    // with hundreds of --id, as the notebook server asks a curator's preview): a segfault.
    process.env.ORT_DISABLE_TELEMETRY = "1";
    try {
      // A CommonJS package: Node's loader gives its exports as named ones, some loaders as default.
      const mod = (await import("onnxruntime-node")) as unknown as Ort & { default?: Ort };
      const ort = mod.InferenceSession ? mod : mod.default!;
      const version = `onnxruntime-node@${packageVersion("onnxruntime-node")}`;
      return { ort, threads, version, provider: `${version} (${threads} thread${threads === 1 ? "" : "s"})` };
    } catch (err) {
      const e = err as { code?: string; message: string };
      if (e.code === "ERR_MODULE_NOT_FOUND") return { error: "onnxruntime-node is not installed (an optional dependency)" };
      return { error: `onnxruntime-node did not load: ${e.message.split("\n")[0]}` };
    }
  })();
  return loaded;
}

/** TRACEBOOK_THREADS, else every core the process may use. */
function threadCount(): number {
  const env = process.env.TRACEBOOK_THREADS?.trim();
  if (env) {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new Error(`TRACEBOOK_THREADS=${env} is not a positive integer`);
    return n;
  }
  return os.availableParallelism();
}

const dataType = (type: "float32" | "int64") => (type === "float32" ? onnx().TensorProto.DataType.FLOAT : onnx().TensorProto.DataType.INT64);
type Dim = number | string;
/** Attribute values: integers, integer lists, strings, and floats written as `{ float: v }`. */
type Attr = number | number[] | string | { float: number };

/**
 * A small builder over onnx-proto: named values, float and int64 initializers, nodes that
 * return their output's name. Graph code reads like the tensor code it mirrors.
 */
export class GraphBuilder {
  private readonly nodes: InstanceType<Onnx["NodeProto"]>[] = [];
  private readonly inits: InstanceType<Onnx["TensorProto"]>[] = [];
  private readonly inputs: InstanceType<Onnx["ValueInfoProto"]>[] = [];
  private readonly outputs: InstanceType<Onnx["ValueInfoProto"]>[] = [];
  private readonly consts = new Map<string, string>();
  private next = 0;

  constructor(private readonly name: string) {}

  input(name: string, dims: Dim[], type: "float32" | "int64" = "float32"): string {
    this.inputs.push(valueInfo(name, dims, dataType(type)));
    return name;
  }

  output(name: string, dims: Dim[], type: "float32" | "int64" = "float32"): void {
    this.outputs.push(valueInfo(name, dims, dataType(type)));
  }

  /** A float32 constant (weights): its bytes are copied into the model. */
  init(name: string, data: Float32Array, dims: number[]): string {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    this.inits.push(onnx().TensorProto.create({ name, dims, dataType: dataType("float32"), rawData: bytes }));
    return name;
  }

  /** A scalar float constant, shared by value. */
  scalar(v: number): string {
    const key = `f:${v}`;
    let name = this.consts.get(key);
    if (!name) {
      name = this.init(`const_${this.consts.size}`, Float32Array.of(v), []);
      this.consts.set(key, name);
    }
    return name;
  }

  /** An int64 vector constant (axes, slice bounds, shapes). */
  ints(values: number[]): string {
    const key = `i:${values.join(",")}`;
    let name = this.consts.get(key);
    if (!name) {
      name = `ints_${this.consts.size}`;
      this.inits.push(onnx().TensorProto.create({ name, dims: [values.length], dataType: dataType("int64"), int64Data: values }));
      this.consts.set(key, name);
    }
    return name;
  }

  /** One node with a single output; returns the output's name. */
  op(type: string, inputs: string[], attrs: Record<string, Attr> = {}, output?: string): string {
    return this.opN(type, inputs, 1, attrs, output ? [output] : undefined)[0]!;
  }

  opN(type: string, inputs: string[], count: number, attrs: Record<string, Attr> = {}, outputs?: string[]): string[] {
    const names = outputs ?? Array.from({ length: count }, () => `${type.toLowerCase()}_${this.next++}`);
    this.nodes.push(onnx().NodeProto.create({ opType: type, input: inputs, output: names, attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)) }));
    return names;
  }

  /** Columns [from, to) of a 2-D value. */
  columns(x: string, from: number, to: number): string {
    return this.op("Slice", [x, this.ints([from]), this.ints([to]), this.ints([1])]);
  }

  encode(): Uint8Array {
    const { GraphProto, ModelProto } = onnx();
    const graph = GraphProto.create({ name: this.name, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs });
    // Opset 17: ReduceSumSquare still takes its axes as an attribute there.
    const model = ModelProto.create({ irVersion: 8, producerName: "tracebook", opsetImport: [{ domain: "", version: 17 }], graph });
    return ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, dims: Dim[], elemType: number) {
  return onnx().ValueInfoProto.create({
    name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } },
  });
}

function attribute(name: string, v: Attr) {
  const { AttributeProto } = onnx(), A = AttributeProto.AttributeType;
  if (typeof v === "string") return AttributeProto.create({ name, type: A.STRING, s: new TextEncoder().encode(v) });
  if (typeof v === "object" && !Array.isArray(v)) return AttributeProto.create({ name, type: A.FLOAT, f: v.float });
  if (Array.isArray(v)) return AttributeProto.create({ name, type: A.INTS, ints: v });
  if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an integer`);
  return AttributeProto.create({ name, type: A.INT, i: v });
}

/** A session over a built graph, on the engine's threads. */
export async function session(engine: NativeEngine, g: GraphBuilder): Promise<OrtModule.InferenceSession> {
  return engine.ort.InferenceSession.create(g.encode(), {
    intraOpNumThreads: engine.threads, interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: "all",
    // No spinning between runs: the JS between two runs (batching the next shard, reducing the
    // last) needs a core, and a spinning pool took it (tracin 784-32-10: median 26 → 16 ms).
    extra: { session: { intra_op: { allow_spinning: "0" } } },
    // TRACEBOOK_ORT_PROFILE=<prefix>: ONNX Runtime writes a per-node timing trace (chrome://tracing).
    ...(process.env.TRACEBOOK_ORT_PROFILE ? { enableProfiling: true, profileFilePrefix: process.env.TRACEBOOK_ORT_PROFILE } : {}),
  });
}

/**
 * Sessions are built per owner (a set of checkpoints, a model's weights: they are baked in as
 * initializers) and kept while it is alive: LOCO/LDS and the benchmark call the engine repeatedly
 * on one model, a model server predicts batch after batch with one.
 */
const sessions = new WeakMap<object, Map<string, Promise<unknown>>>();
export function cached<T>(owner: object, key: string, make: () => Promise<T>): Promise<T> {
  let byKey = sessions.get(owner);
  if (!byKey) sessions.set(owner, (byKey = new Map()));
  let p = byKey.get(key) as Promise<T> | undefined;
  if (!p) {
    p = make();
    byKey.set(key, p);
    p.catch(() => byKey!.delete(key));
  }
  return p;
}

const ids = new WeakMap<object, number>();
let lastId = 0;
/** A process-local id per model object: sessions built for one model are never used for another. */
export const idOf = (o: object): number => ids.get(o) ?? (ids.set(o, ++lastId), lastId);

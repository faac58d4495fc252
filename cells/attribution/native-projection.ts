import type * as Ort from "onnxruntime-node";
import { GraphBuilder, session, type NativeEngine } from "../compute/onnx.ts";
import { buildSide, reduceScores, type GraphModel, type QueryGraph } from "./native.ts";
import { factorShapes } from "./portable-model.ts";
import { projectionMatrix } from "./projection.ts";

/**
 * Projection mode on the native engine: each example's gradient features, as tracin.ts's
 * projected() computes them on TF.js — per checkpoint and factor, (a·Pa) ⊗ (b·Pb) scaled by
 * √η_k, a side no wider than the projection kept as it is — so the dot product of two examples'
 * features is their projection-mode influence. The same matrices (projection.ts), other float32
 * sums. Every projection of the input x (the a-side of the first layer's factors, one per
 * checkpoint) is one long product x·[P₁ | P₂ | …], as native.ts fuses the first layer's kernels.
 */
function projectedFeatures(g: GraphBuilder, m: GraphModel, x: string, y: string): string {
  const p = m.projection!;
  const side = buildSide(g, m, x, y);
  const shapes = factorShapes(m.model, "all");
  // A side no wider than the projection is multiplied by the identity: exact (x·1 + 0s), and one code path.
  const matrix = (k: number, factor: string, s: "a" | "b", d: number) => {
    if (d > p.dim) return { data: projectionMatrix(p.seed, m.checkpoints[k]!.index, factor, s, d, p.dim), cols: p.dim };
    const eye = new Float32Array(d * d);
    for (let i = 0; i < d; i++) eye[i * d + i] = 1;
    return { data: eye, cols: d };
  };
  // The a-side with a bias is [a, 1]: [a, 1]·P = a·P[:w] + P[w].
  const aSides = side.factors.map((fs, k) => fs.map((f, i) => {
    const shape = shapes[i]!;
    if (shape.name !== f.name) throw new Error(`factor ${f.name} where ${shape.name} was expected`);
    const w = shape.aWidth, P = matrix(k, f.name, "a", w + (f.bias ? 1 : 0));
    return { top: P.data.subarray(0, w * P.cols), row: f.bias ? P.data.subarray(w * P.cols) : null, cols: P.cols };
  }));
  // The input's projections: one product, then each its columns.
  const fromInput = aSides.flatMap((ps, k) => ps.map((P, i) => ({ P, f: side.factors[k]![i]! })).filter(({ f }) => f.a === null));
  const D = m.model.spec.inputSize, width = fromInput.reduce((n, { P }) => n + P.cols, 0);
  const inputProjected = new Map<object, string>();
  if (fromInput.length) {
    const fused = new Float32Array(D * width);
    let col = 0;
    const at = fromInput.map(({ P }) => {
      for (let r = 0; r < D; r++) fused.set(P.top.subarray(r * P.cols, (r + 1) * P.cols), r * width + col);
      return (col += P.cols) - P.cols;
    });
    const xP = g.op("MatMul", [x, g.init("projection/input", fused, [D, width])]);
    fromInput.forEach(({ P }, j) => inputProjected.set(P, g.columns(xP, at[j]!, at[j]! + P.cols)));
  }
  let n = 0;
  const parts = side.factors.flatMap((fs, k) => fs.map((f, i) => {
    const P = aSides[k]![i]!, id = `projection/${k}/${n++}`;
    let pa = inputProjected.get(P) ?? g.op("MatMul", [f.a!, g.init(`${id}/a`, P.top, [shapes[i]!.aWidth, P.cols])]);
    if (P.row) pa = g.op("Add", [pa, g.init(`${id}/a1`, P.row, [P.cols])]);
    const Pb = matrix(k, f.name, "b", shapes[i]!.bWidth);
    const pb = g.op("Mul", [g.op("MatMul", [f.b, g.init(`${id}/b`, Pb.data, [shapes[i]!.bWidth, Pb.cols])]), g.scalar(Math.sqrt(m.checkpoints[k]!.learningRate))]);
    // Row by row, pa ⊗ pb flattened with pa's index major, as projected() lays it out.
    const outer = g.op("Mul", [g.op("Reshape", [pa, g.ints([0, P.cols, 1])]), g.op("Reshape", [pb, g.ints([0, 1, Pb.cols])])]);
    return g.op("Reshape", [outer, g.ints([0, P.cols * Pb.cols])]);
  }));
  if (!parts.length) throw new Error("the model has no trainable factor in this mode");
  return parts.length === 1 ? parts[0]! : g.op("Concat", parts, { axis: 1 });
}

/** A query block's features, `q/f` [queries, width]. */
export async function projectionQueryGraph(engine: NativeEngine, m: GraphModel): Promise<QueryGraph> {
  const g = new GraphBuilder("tracin-projection-queries");
  const C = m.model.spec.classes.length, D = m.model.spec.inputSize;
  g.op("Identity", [projectedFeatures(g, m, g.input("x", ["m", D]), g.input("y", ["m", C]))], {}, "q/f");
  g.output("q/f", ["m", "w"]);
  return { session: await session(engine, g), outputs: ["q/f"] };
}

/** A training shard's features from its x and y, against a query block's: the scores, reduced as scoreGraph's. */
export async function projectionScoreGraph(engine: NativeEngine, m: GraphModel, groupSizes: number[], full: boolean): Promise<Ort.InferenceSession> {
  const g = new GraphBuilder("tracin-projection-scores");
  const C = m.model.spec.classes.length, D = m.model.spec.inputSize;
  const train = projectedFeatures(g, m, g.input("x", ["n", D]), g.input("y", ["n", C]));
  reduceScores(g, g.op("Gemm", [g.input("q/f", ["m", "w"]), train], { transB: 1 }), groupSizes, full);
  return session(engine, g);
}

/** Self-influence in projection mode: each row's squared feature norm. */
export async function projectionSelfGraph(engine: NativeEngine, m: GraphModel): Promise<Ort.InferenceSession> {
  const g = new GraphBuilder("tracin-projection-self");
  const C = m.model.spec.classes.length, D = m.model.spec.inputSize;
  const f = projectedFeatures(g, m, g.input("x", ["n", D]), g.input("y", ["n", C]));
  g.op("ReduceSumSquare", [f], { axes: [1], keepdims: 0 }, "self");
  g.output("self", ["n"]);
  return session(engine, g);
}

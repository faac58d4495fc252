import { InputError } from "../datanet/errors.ts";
import { MAX_FEATURES, MAX_TEXT_BYTES } from "../datanet/limits.ts";
import type { Explainer } from "../attribution/explain.ts";
import { cellsAsRun, explainSource } from "../attribution/source.ts";
import { canonicalJson } from "../graph/fingerprint.ts";
import type { Payload } from "../factory/featurize.ts";
import { ApiError, requestFields } from "./api.ts";
import { explainFieldOf } from "./explain-field.ts";
import type { NotebookData } from "./data.ts";
import type { ExplainAnswer, ExplainRequest } from "./wire.ts";

const FIELDS = ["pipeline", "inputs", "top", "as", "influence"];
const MAX_INPUTS = 20;
const MAX_TOP = 100;
/** Explainers kept loaded (each holds a model's checkpoints, its featurized training rows and, once asked, their training side: 30 MiB on mail). */
const KEEP = 4;

/** Check an explain request before anything loads; every error names the field at fault. */
export function parseExplainRequest(body: unknown, served: ReadonlySet<string>): ExplainRequest {
  const b = requestFields(body, FIELDS, "{pipeline, inputs}", served);
  const inputs = b.inputs;
  if (!Array.isArray(inputs) || !inputs.length || inputs.length > MAX_INPUTS) throw new ApiError(400, "inputs", `inputs: give 1 to ${MAX_INPUTS} inputs (texts, or arrays of numbers)`);
  inputs.forEach((v, i) => {
    const text = typeof v === "string" && v.trim() !== "";
    const numbers = Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "number" && Number.isFinite(x));
    if (!text && !numbers) throw new ApiError(400, "inputs", `inputs[${i}]: a non-empty text, or a non-empty array of finite numbers`);
    if (text && Buffer.byteLength(v as string) > MAX_TEXT_BYTES) throw new ApiError(400, "inputs", `inputs[${i}]: a text is at most ${MAX_TEXT_BYTES / 1024} KiB`);
    if (numbers && (v as number[]).length > MAX_FEATURES) throw new ApiError(400, "inputs", `inputs[${i}]: at most ${MAX_FEATURES} numbers`);
  });
  const out: ExplainRequest = { pipeline: b.pipeline as string, inputs: inputs as ExplainRequest["inputs"] };
  if (b.top !== undefined) {
    if (typeof b.top !== "number" || !Number.isSafeInteger(b.top) || b.top < 1 || b.top > MAX_TOP) throw new ApiError(400, "top", `top: a count from 1 to ${MAX_TOP}`);
    out.top = b.top;
  }
  for (const k of ["as", "influence"] as const) {
    if (b[k] === undefined) continue;
    if (typeof b[k] !== "string" || !(b[k] as string).trim() || (b[k] as string).length > 256) throw new ApiError(400, k, `${k}: a non-empty name`);
    out[k] = b[k] as string;
  }
  return out;
}

/**
 * Explanations for the dev server, in its own process: the run log says which model and
 * training output the pipeline's tracin cell reads now (the workspace is held only for that
 * and, once per model, to load the training rows); the explainer is then kept, with the training
 * side of its first question, so the next input takes milliseconds (17 ms on mail).
 */
export class Explainers {
  private readonly loaded = new Map<string, Explainer>();
  /**
   * Per pipeline and tracin cell asked for: the cells an explainer reads, the explainer's key, and
   * the outputs it was last found current at (without the workspace, from the watchers' catalog).
   */
  private readonly reads = new Map<string, Reads>();

  constructor(private readonly data: NotebookData) {}

  async answer(req: ExplainRequest): Promise<ExplainAnswer> {
    // TF.js and the native engine load on the first question, not with the server.
    const { Explainer } = await import("../attribution/explain.ts");
    try {
      const asked = `${req.pipeline}\u0000${req.influence ?? ""}`;
      // The catalog is kept current by the watchers' events, without the workspace: while a
      // recompute holds the workspace (a minute on mail), an explainer loaded for the outputs
      // still current answers at once.
      let explainer = await this.current(req.pipeline, this.reads.get(asked));
      explainer ??= await this.data.withWorkspace(async (ws) => {
        const source = await explainSource(ws, req.pipeline, await cellsAsRun(ws, req.pipeline), req.influence);
        // The tracin cell's settings, model and training rows make an explainer, not the cell's
        // output: a newly executed inference changes that, and must not cost a reload.
        const key = JSON.stringify([req.pipeline, source.influence, canonicalJson(source.params), source.versions.model, source.versions.train]);
        this.reads.set(asked, { influence: source.influence, model: source.params.model, train: source.params.train, key, at: source.versions });
        return this.take(key) ?? this.keep(key, await Explainer.load(ws, source, { keep: true }));
      }, { attempts: 8 });
      const payloads: Payload[] = req.inputs.map((v) => (typeof v === "string" ? { text: v } : { features: v }));
      return await explainer.explain(payloads, { top: req.top, as: req.as });
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      throw new ApiError(400, explainFieldOf(err.message), err.message);
    }
  }

  /**
   * The explainer loaded for the cells' current outputs, if the catalog shows them unchanged since
   * it was last found current; when any moved, the run log decides (the workspace path above).
   */
  private async current(pipeline: string, reads: Reads | undefined): Promise<Explainer | undefined> {
    if (!reads) return undefined;
    const catalog = await this.data.catalog(pipeline).catch(() => null);
    const version = (cell: string) => catalog?.cells.find((c) => c.cell === cell)?.dataVersion ?? null;
    const same = version(reads.influence) === reads.at.influence && version(reads.model) === reads.at.model && version(reads.train) === reads.at.train;
    return same ? this.take(reads.key) : undefined;
  }

  private take(key: string): Explainer | undefined {
    const e = this.loaded.get(key);
    if (e) {
      this.loaded.delete(key); // re-inserted: least recently used goes first
      this.loaded.set(key, e);
    }
    return e;
  }

  private keep(key: string, e: Explainer): Explainer {
    this.loaded.set(key, e);
    for (const k of this.loaded.keys()) if (this.loaded.size > KEEP) this.loaded.delete(k);
    return e;
  }

  /** How many explainers are loaded now (the tests read it). */
  get size(): number {
    return this.loaded.size;
  }
}

type Versions = { influence: string | null; model: string; train: string };
/** The cells an explainer reads (by name), its key, and the outputs it was last found current at. */
type Reads = { influence: string; model: string; train: string; key: string; at: Versions };

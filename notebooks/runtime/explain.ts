import type { ExplainAnswer, ExplainRequest } from "../../cells/notebooks/wire.ts";
// Only the type: the portable explainer's code (a dozen engine modules) loads with the first
// question a static build answers in the page, not with every page.
import type { ExplainPart } from "../../cells/attribution/portable.ts";
import { DecisionError, endpoint } from "./curation.ts";
import { shippedPerPipeline } from "./shipped.ts";
import type { PageBackend } from "./gpu-scores.ts";

export type { ExplainAnswer, ExplainRequest, Explanation } from "../../cells/notebooks/wire.ts";

export interface Explanations {
  /** Whether this page can ask: served by `tracebook dev`, or a static build that shipped its pipeline's portable explainer (ask says why not). */
  readonly available: boolean;
  /** What the pipeline's TracIn says of inputs nobody paid for; rejects with an error naming the field at fault. Nothing is recorded. */
  ask(request: ExplainRequest): Promise<ExplainAnswer>;
}

/**
 * The `explain` builtin: `tracebook explain` through the dev server's JSON API; in a static
 * build, the same TracIn run in workers on the portable explainer the build shipped.
 */
export function explanations(base: string): Explanations {
  const api = endpoint<ExplainRequest, ExplainAnswer>(base, "explain", "explain your own input");
  if (api.available) return { available: true, ask: api.post };
  const explainerOf = shippedPerPipeline(base, (catalog, pipeline) => {
    const e = catalog.explainer;
    if (!e) throw new DecisionError(`this static build shipped no explainer for ${pipeline}: run \`tracebook dev\` to explain your own input`, "pipeline", 0);
    if ("missing" in e) throw new DecisionError(e.missing, "pipeline", 0);
    return { url: new URL(`${base}/explain/${e.file}`, location.href).href, influence: e.influence, rows: e.train_rows };
  });
  const workers = workerPool();
  // ?backend=webgpu uses a software GPU too (a test's SwiftShader), ?backend=cpu the TypeScript engine.
  const asked = new URLSearchParams(location.search).get("backend");
  const backend: PageBackend = asked === "webgpu" || asked === "cpu" ? asked : "auto";
  return {
    available: true,
    async ask(request) {
      const { url, influence, rows } = await explainerOf(request.pipeline);
      if (request.influence !== undefined && request.influence !== influence) {
        throw new DecisionError(`influence: this static build explains as ${influence} only`, "influence", 0);
      }
      // The training rows in shards, one per worker: the first question computes each shard's
      // training side (the costly part: ~2 s for mail's rows on one core) side by side.
      const n = Math.max(1, Math.min(MAX_WORKERS, navigator.hardwareConcurrency || 2, Math.ceil(rows / MIN_SHARD_ROWS)));
      const parts = await Promise.all(Array.from({ length: n }, (_, s) =>
        workers.ask(s, { url, shard: { from: Math.floor((s * rows) / n), to: Math.floor(((s + 1) * rows) / n) }, request, backend })));
      const { mergeParts } = await import("../../cells/attribution/portable.ts");
      return mergeParts(parts);
    },
  };
}

/** At most this many workers (each holds the explainer's weights and its shard's training side). */
const MAX_WORKERS = 4;
/** A shard smaller than this is not worth a worker. */
const MIN_SHARD_ROWS = 1000;

/** Workers by number, started on first use; each answers its shard of a question with a part. */
function workerPool() {
  const workers: Worker[] = [];
  let next = 0;
  const pending = new Map<number, { resolve(p: ExplainPart): void; reject(e: Error): void }>();
  const start = (s: number): Worker => {
    const w = new Worker(new URL("./explain-worker.ts", import.meta.url), { type: "module" });
    w.onmessage = (event: MessageEvent<{ id: number; part?: ExplainPart; error?: string; field?: string | null }>) => {
      const { id, part, error, field } = event.data;
      const p = pending.get(id);
      pending.delete(id);
      if (part) p?.resolve(part);
      else p?.reject(new DecisionError(error ?? "the explainer failed", field ?? null, 0));
    };
    w.onerror = (event) => {
      for (const p of pending.values()) p.reject(new Error(`the explainer's worker failed: ${event.message}`));
      pending.clear();
      delete workers[s];
    };
    return (workers[s] = w);
  };
  return {
    ask(s: number, message: { url: string; shard: { from: number; to: number }; request: ExplainRequest; backend: PageBackend }): Promise<ExplainPart> {
      const id = next++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        (workers[s] ?? start(s)).postMessage({ id, ...message });
      });
    },
  };
}

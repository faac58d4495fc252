/// <reference lib="webworker" />
import { decodePortable } from "../../cells/attribution/portable-file.ts";
import { PortableExplainerEngine } from "../../cells/attribution/portable.ts";
import { InputError } from "../../cells/datanet/errors.ts";
import type { ExplainRequest } from "../../cells/notebooks/wire.ts";
import { inflated } from "./inflate.ts";
import { explainFieldOf } from "../../cells/notebooks/explain-field.ts";
import { gpuScorer, type PageBackend } from "./gpu-scores.ts";

// A static build's explainer, off the page's thread: loads a pipeline's portable explainer once
// per shard of its training rows (the shard's training side is computed on the first question)
// and answers with the shard's part, which the page merges (mergeParts). Scored on the GPU where
// the browser offers a hardware one (gpu-scores.ts), else in TypeScript.

const engines = new Map<string, Promise<PortableExplainerEngine>>();

function engineAt(url: string, shard: { from: number; to: number }): Promise<PortableExplainerEngine> {
  const key = `${url}#${shard.from}-${shard.to}`;
  let e = engines.get(key);
  if (!e) {
    e = (async () => {
      const res = await fetch(url);
      if (!res.ok) throw new Error(`${url}: ${res.status} ${res.statusText}`);
      return new PortableExplainerEngine(decodePortable(await inflated(new Uint8Array(await res.arrayBuffer())), url), shard);
    })();
    e.catch(() => engines.delete(key));
    engines.set(key, e);
  }
  return e;
}

self.onmessage = async (event: MessageEvent<{ id: number; url: string; shard: { from: number; to: number }; request: ExplainRequest; backend?: PageBackend }>) => {
  const { id, url, shard, request, backend } = event.data;
  try {
    const engine = await engineAt(url, shard);
    const inputs = request.inputs.map((v) => (typeof v === "string" ? { text: v } : { features: v }));
    const options = { top: request.top, as: request.as };
    const { scorer } = await gpuScorer(backend ?? "auto");
    self.postMessage({ id, part: scorer ? await engine.partWith(scorer, inputs, options) : engine.part(inputs, options) });
  } catch (err) {
    const message = (err as Error).message;
    // The field at fault, as the dev server names it.
    self.postMessage({ id, error: message, field: err instanceof InputError ? explainFieldOf(message) : null });
  }
};

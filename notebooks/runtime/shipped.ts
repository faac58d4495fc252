import type { Catalog } from "../../cells/notebooks/wire.ts";
import { DecisionError } from "./curation.ts";

/**
 * What a static build shipped for a pipeline, by `read` from its catalog, read once per pipeline
 * (again after a failure). A pipeline the site has no catalog for is refused, naming it.
 */
export function shippedPerPipeline<T>(base: string, read: (catalog: Catalog, pipeline: string) => T | Promise<T>): (pipeline: string) => Promise<T> {
  const loaded = new Map<string, Promise<T>>();
  return (pipeline) => {
    let found = loaded.get(pipeline);
    if (!found) {
      found = (async () => {
        const res = await fetch(`${base}/catalog/${encodeURIComponent(pipeline)}.json`, { cache: "no-store" });
        if (!res.ok) throw new DecisionError(`this static build has no pipeline ${pipeline}`, "pipeline", res.status);
        return read((await res.json()) as Catalog, pipeline);
      })();
      found.catch(() => loaded.delete(pipeline));
      loaded.set(pipeline, found);
    }
    return found;
  };
}

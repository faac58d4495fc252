import type { Workspace } from "../cells/store/workspace.ts";
import { ingest, loadDatanetSpec, type ImportSummary } from "../cells/datanet/ingest.ts";
import type { Status } from "../cells/datanet/types.ts";
import type { Corpus } from "./corpus.ts";

export interface CorpusImportOptions {
  replace?: boolean;
  /** Corpus labels were curated by the corpus's maintainers, so rows enter approved unless told otherwise. */
  status?: Status;
  onProgress?: (phase: "read" | "stage", done: number, total: number) => void;
}

export interface CorpusImportSummary extends ImportSummary {
  notes: Record<string, number>;
}

/** Read a packaged corpus and ingest it as its Datanet, in one transaction. */
export async function importCorpus(ws: Workspace, corpus: Corpus, options: CorpusImportOptions = {}): Promise<CorpusImportSummary> {
  const exists = (await loadDatanetSpec(ws, corpus.name)) !== null;
  if (exists && !options.replace) {
    throw new Error(`Datanet "${corpus.name}" is already imported; pass --replace to import it again (its validation trail is dropped)`);
  }
  const t0 = performance.now();
  const spec = corpus.spec();
  const loaded = await corpus.load((done, total) => options.onProgress?.("read", done, total));
  const status = options.status ?? "approved";
  const summary = await ingest(ws, spec, loaded.rows, {
    mode: exists ? "replace" : "create",
    status,
    validator: corpus.importer,
    statusReason: status === "approved" ? `label curated by the corpus (${spec.source})` : undefined,
    importer: corpus.importer,
    sourceSha256: loaded.sourceSha256,
    contributors: loaded.contributors,
    onProgress: (done) => options.onProgress?.("stage", done, loaded.rows.length),
  });
  // Reading and decoding the corpus is most of the work: report the whole import's time.
  return { ...summary, seconds: (performance.now() - t0) / 1000, notes: loaded.notes };
}

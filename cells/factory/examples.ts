import type { Workspace } from "../store/workspace.ts";
import { columnOrNull, columnsOf } from "../store/columns.ts";
import { featurize, rawFeatures, type FeaturizerSpec, type Payload } from "./featurize.ts";
import type { ContributionRef } from "./store.ts";
import { featurizeCached } from "./feature-cache.ts";
import type { Examples } from "./train.ts";
import { rowsWithVectors } from "../store/vector-rows.ts";

export interface LoadedExamples extends Examples {
  refs: ContributionRef[];
  labels: string[];
  /** submitted_at in ms per row, when the input has it (who submitted first owns duplicated content). */
  submittedAt: (number | null)[];
}

interface Row extends Payload {
  id: string;
  submitted_at: Date | null;
  datanet: string | null;
  contributor: string | null;
  label: string | null;
}

/**
 * The rows of a cell's input as training examples, in id order (so the order, and with it the
 * seeded shuffle, does not depend on how the input was computed). A label outside `classes`
 * is an error naming the row: the model could never predict it. With `unlabelled`, a null label
 * is kept as -1 (queries that are executed inferences).
 */
export async function loadExamples(
  ws: Workspace, relation: string, featurizer: FeaturizerSpec, classes: readonly string[], where: string,
  options: { unlabelled?: boolean; /** Keep the featurized rows on disk: for training sets, read again by every attribution command. */ cache?: boolean } = {},
): Promise<LoadedExamples> {
  const columns = await columnsOf(ws, relation);
  for (const need of ["id", "label", featurizer.kind === "features" ? "features" : "text"]) {
    if (!columns.includes(need)) throw new Error(`${where} has no column "${need}" (columns: ${columns.join(", ")})`);
  }
  const pick = (c: string) => columnOrNull(columns, c);
  const rows = await rowsWithVectors<Row>(ws,
    `select id, ${pick("submitted_at")}, ${pick("datanet")}, ${pick("contributor")}, ${pick("title")}, ${pick("text")}, ${pick("features")}, label from ${relation} order by id`,
  );
  const index = new Map(classes.map((c, i) => [c, i]));
  const y = new Int32Array(rows.length);
  rows.forEach((r, i) => {
    const k = r.label === null ? undefined : index.get(r.label);
    if (k === undefined && r.label === null && options.unlabelled) {
      y[i] = -1; // an executed inference has no label: attribution explains its prediction
      return;
    }
    if (k === undefined) {
      throw new Error(`${where} row ${r.id.slice(0, 12)}: label ${JSON.stringify(r.label)} is not one of the model's classes (${classes.join(", ")})`);
    }
    y[i] = k;
  });
  const ids = rows.map((r) => r.id);
  return {
    x: options.cache ? await featurizeCached(ws.home, featurizer, rows, ids, !ws.readOnly) : featurize(featurizer, rows, ids),
    y,
    labels: rows.map((r) => r.label ?? ""),
    submittedAt: rows.map((r) => (r.submitted_at ? new Date(r.submitted_at as unknown as string | Date).getTime() : null)),
    refs: rows.map((r) => ({ datanet: r.datanet ?? "", id: r.id, contributor: r.contributor ?? "" })),
  };
}

/** The sorted distinct labels of an input: the classes of a base model. */
export async function distinctLabels(ws: Workspace, relation: string): Promise<string[]> {
  return (await ws.rows<{ label: string }>(`select distinct label from ${relation} where label is not null order by label`)).map((r) => r.label);
}

/** For `featurizer: "features"`: the feature count, which every row must share. */
export async function featureSpecOf(ws: Workspace, relation: string, where: string): Promise<FeaturizerSpec> {
  const sizes = await ws.rows<{ n: number; c: bigint }>(`select len(features)::integer as n, count(*) as c from ${relation} group by 1 order by 2 desc`);
  if (!sizes.length || sizes[0]!.n === null) throw new Error(`${where} has no feature vectors`);
  if (sizes.length > 1) throw new Error(`${where}: feature vectors have ${sizes.length} different lengths (${sizes.map((s) => s.n).join(", ")})`);
  return rawFeatures(sizes[0]!.n);
}

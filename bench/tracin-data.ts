// The TracIn benchmark case's rows, read from the digits corpus through a workspace (DuckDB).
import { openWorkspace } from "../cells/store/workspace.ts";
import { corpora } from "../datasets/index.ts";
import { importCorpus } from "../datasets/import.ts";
import { featurize, rawFeatures } from "../cells/factory/featurize.ts";
import { C, D, M, N, type Rows } from "./tracin-case.ts";

export async function load(home: string): Promise<{ classes: string[]; tr: Rows; te: Rows }> {
  const ws = await openWorkspace({ home });
  await importCorpus(ws, corpora.get("digits")!);
  type Row = { id: string; contributor: string; features: number[]; label: string };
  const q = (split: string, n: number) => ws.rows<Row>(
    `select id, contributor, features, label from contributions where datanet = 'digits' and split = '${split}' order by id limit ${n}`);
  const [trRows, teRows] = [await q("train", N), await q("test", M)];
  ws.close();
  const classes = [...new Set(trRows.map((r) => r.label))].sort();
  if (classes.length !== C || trRows.length !== N || teRows.length !== M) throw new Error(`unexpected digits sample: ${classes.length} classes, ${trRows.length}/${teRows.length} rows`);
  // Influence is summed per contributor (the grouping the product uses).
  const contributors = [...new Set(trRows.map((r) => r.contributor))].sort();
  const rows = (rs: Row[]): Rows => ({
    ids: rs.map((r) => r.id), x: featurize(rawFeatures(D), rs), y: Int32Array.from(rs, (r) => classes.indexOf(r.label)),
    groups: Int32Array.from(rs, (r) => Math.max(0, contributors.indexOf(r.contributor))), nGroups: contributors.length,
  });
  return { classes, tr: rows(trRows), te: rows(teRows) };
}

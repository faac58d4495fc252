import type { DatanetDetail } from "../cells/datanet/catalog.ts";

// `tracebook new`: the source of a pipeline file for an existing Datanet, with the cells and cell
// names the notebooks, reports and commands read (pipelines/mail.pipeline.ts for text,
// pipelines/digits.pipeline.ts's training settings for feature vectors). A pure function of the
// pipeline name and the Datanet as `describeDatanet` describes it, so it can be checked against
// golden files.

/** A pipeline name `tracebook new` accepts: it names the file, the runs and the usage ledger. */
export const PIPELINE_NAME = /^[a-z][a-z0-9-]*$/;

/** What the scaffold reads of a Datanet: `describeDatanet(ws, name)`, or the parts of it used here. */
export type ScaffoldDatanet = Pick<DatanetDetail, "spec" | "summary" | "labels"> & Partial<Pick<DatanetDetail, "contributors">>;

/** The cells the scaffold declares besides the Datanet's own. */
export const SCAFFOLD_CELLS = [
  "train", "queries", "contributors", "labels", "base_slice", "base", "model", "usage", "influence", "influence_topk",
  "contributor_influence", "datanet_influence", "self_influence", "receipts", "rewards", "flags", "label_errors", "decisions", "last_retrain",
] as const;

/**
 * The name of the cell holding the Datanet's approved rows: the Datanet's name with '-' and '.'
 * as '_' (mail-spam → mail_spam), so the pipeline reads like the mail one; "contributions" when
 * that is not a plain identifier or is taken by another cell.
 */
export function datanetCellName(datanet: string): string {
  const cell = datanet.replace(/[-.]/g, "_");
  return /^[a-z_][a-z0-9_]*$/.test(cell) && !(SCAFFOLD_CELLS as readonly string[]).includes(cell) ? cell : "contributions";
}

/** The labels of a Datanet with their number of contributions (any split, any status), most first. */
export function labelCounts(d: ScaffoldDatanet): { label: string; n: number }[] {
  const counts = new Map<string, number>();
  for (const l of d.labels) counts.set(l.label, (counts.get(l.label) ?? 0) + l.n);
  for (const l of d.spec.labels ?? []) if (!counts.has(l)) counts.set(l, 0);
  return [...counts].map(([label, n]) => ({ label, n })).sort((a, b) => b.n - a.n || a.label.localeCompare(b.label));
}

/** Contributions of one split and status. */
export function countOf(d: ScaffoldDatanet, split: string | null, status: string): number {
  return d.labels.filter((l) => (split === null || l.split === split) && l.status === status).reduce((s, l) => s + l.n, 0);
}

/**
 * Text from a contribution (a label) shown inside a `//` comment: as a JSON string, with the
 * line terminators JSON leaves alone (U+2028, U+2029) escaped too, so nothing in it can end the
 * comment and become code; long ones cut.
 */
function shown(text: string, max = 40): string {
  const cut = [...text].length > max ? `${[...text].slice(0, max - 1).join("")}…` : text;
  return JSON.stringify(cut).replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

const n = (x: number) => x.toLocaleString("en-US");
const plural = (x: number, one: string, many = `${one}s`) => `${n(x)} ${x === 1 ? one : many}`;

/** Words into `// ` comment lines of at most `width` characters. */
function comment(text: string, width = 100): string[] {
  const lines: string[] = [];
  let line = "//";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line.length + 1 + word.length > width && line !== "//") {
      lines.push(line);
      line = "//";
    }
    line += ` ${word}`;
  }
  if (line !== "//") lines.push(line);
  return lines;
}

/** What a Datanet's rows carry, as a model reads them: "text", or "feature vectors of 784 numbers". */
export function payloadOf(spec: ScaffoldDatanet["spec"]): string {
  return spec.kind === "features" ? `feature vectors${spec.featureDim ? ` of ${n(spec.featureDim)} numbers` : ""}` : "text";
}

/** What one Datanet held at generation, for the header. */
function held(d: ScaffoldDatanet): string {
  const { summary } = d;
  const labels = labelCounts(d);
  const listed = labels.slice(0, 12).map((l) => `${shown(l.label)} ${n(l.n)}`).join(", ") + (labels.length > 12 ? `, and ${labels.length - 12} more` : "");
  const statuses = (["approved", "pending", "rejected", "quarantined"] as const).filter((s) => summary[s] > 0).map((s) => `${n(summary[s])} ${s}`).join(", ") || "none yet";
  return `${plural(summary.contributions, "contribution")} from ` +
    `${plural(summary.contributors, "contributor")} (${statuses}; ${n(summary.train)} in the train split, ${n(summary.test)} in test); ` +
    `labels: ${listed || "none yet"}`;
}

/** The header: what the file was generated from, with each Datanet's counts at the time. */
function header(pipelineName: string, ds: readonly ScaffoldDatanet[], cells: readonly string[]): string[] {
  const spec = ds[0]!.spec;
  const kind = payloadOf(spec);
  const command = `tracebook new ${pipelineName} --datanet ${ds.map((d) => d.spec.name).join(" ")}`;
  const from = ds.length === 1
    ? `from the Datanet "${spec.name}" (${kind}). At generation it held ${held(ds[0]!)}.`
    : `from ${ds.length} Datanets of ${kind}, trained on together. At generation ${ds.map((d) => `"${d.spec.name}" held ${held(d)}`).join("; ")}.`;
  const own = ds.length === 1
    ? `the Datanet's approved contributions (\`${cells[0]}\`)`
    : `each Datanet's approved contributions (${cells.map((c) => `\`${c}\``).join(", ")}) and all of them together (\`${UNION_CELL}\`)`;
  return [
    ...comment(`The ${pipelineName} pipeline, generated by \`${command}\` ${from}`),
    "//",
    ...comment(`This file is yours to edit: every command reads it as it is when it runs, and a changed cell reruns with its readers. ` +
      `The cells: ${own}; a base classifier trained on a quarter of the training split; ` +
      `a LoRA adapter fine-tuned on the whole training split; TracIn influence of every training contribution on every ` +
      `executed, paid inference, with receipts and the reward split${ds.length === 1 ? "" : " (and each Datanet's share of it)"}; curation flags, label-error scores, curators' decisions ` +
      `and what the last retrain changed.`),
  ];
}

/** The cell holding every Datanet's approved rows in a pipeline over several. */
const UNION_CELL = "contributions";

/**
 * The cells holding each Datanet's approved rows: `datanetCellName`, or `datanet_<i>` where
 * that would be the union cell's name or is already taken by an earlier Datanet.
 */
export function datanetCellNames(datanets: readonly string[]): string[] {
  if (datanets.length === 1) return [datanetCellName(datanets[0]!)];
  const names: string[] = [];
  datanets.forEach((d, i) => {
    const cell = datanetCellName(d);
    names.push(cell === UNION_CELL || names.includes(cell) ? `datanet_${i + 1}` : cell);
  });
  return names;
}

/** Training settings: the mail pipeline's for text, the digits pipeline's for feature vectors. */
function models(kind: string): string[] {
  if (kind === "features") {
    return [
      "  base: baseModel({",
      '    data: "base_slice", heldOut: "queries", featurizer: "features",',
      '    hidden: [256, 128], epochs: 8, batchSize: 32, optimizer: { name: "adam" }, schedule: { kind: "constant", lr: 1e-3 }, seed: 7,',
      "  }),",
      "  model: finetune({",
      '    data: "train", base: "base", heldOut: "queries", adapter: { rank: 32, alpha: 64, targets: ["dense_1", "dense_2"] },',
      '    epochs: 8, batchSize: 32, optimizer: { name: "adam" }, schedule: { kind: "cosine", lr: 3e-3, final: 2e-4 }, checkpoints: 4, seed: 7,',
      "  }),",
    ];
  }
  return [
    "  base: baseModel({",
    '    data: "base_slice", heldOut: "queries", featurizer: hashedNgrams({ dims: 8192, ngrams: 2, seed: 0 }),',
    '    hidden: [128, 64], epochs: 4, batchSize: 32, optimizer: { name: "adam" }, schedule: { kind: "constant", lr: 1e-3 }, seed: 7,',
    "  }),",
    "  model: finetune({",
    '    data: "train", base: "base", heldOut: "queries", adapter: { rank: 8, alpha: 16, targets: ["dense_1", "dense_2"] },',
    '    epochs: 4, batchSize: 32, optimizer: { name: "adam" }, schedule: { kind: "cosine", lr: 2e-3, final: 2e-4 }, checkpoints: 4, seed: 7,',
    "  }),",
  ];
}

/**
 * The source of `pipelines/<pipelineName>.pipeline.ts` for this Datanet, or these Datanets
 * trained on together (of one kind; `tracebook new` checks that): their approved rows in one
 * cell each, then all of them together, which the rest reads as it reads one Datanet's.
 */
export function scaffoldPipeline(pipelineName: string, datanets: ScaffoldDatanet | readonly ScaffoldDatanet[]): string {
  if (!PIPELINE_NAME.test(pipelineName)) throw new Error(`invalid pipeline name "${pipelineName}"`);
  const ds = [datanets].flat();
  if (!ds.length) throw new Error("scaffoldPipeline: name at least one Datanet");
  const d = ds[0]!;
  const lits = ds.map((x) => JSON.stringify(x.spec.name)); // Datanet names are [a-z0-9._-]: nothing to escape, quoted all the same
  const cells = datanetCellNames(ds.map((x) => x.spec.name));
  const many = ds.length > 1;
  const cell = many ? UNION_CELL : cells[0]!;
  const ref = (c: string) => "${" + JSON.stringify(c) + "}";
  const text = d.spec.kind !== "features";
  const imports = ["baseModel", "datanet", "finetune", ...(text ? ["hashedNgrams"] : []), "labelErrors", "penaltyRecords", "pipeline", "receipts", "retrainDiff", "rewardSplit", "selfInfluence", "sql", "tracin", "usageLedger", "validate", "validations"];
  const example = text ? '"some text"' : `'[0, 0.5, …]'`;
  const what = text ? "" : `   (a JSON array of ${d.spec.featureDim ? n(d.spec.featureDim) : "its"} numbers)`;
  const sources = many
    ? [
      ...cells.map((c, i) => `  ${c}: datanet(${lits[i]}, { status: "approved" }),`),
      "  // Every Datanet's approved rows together: each row keeps its Datanet, so influence, receipts and",
      "  // rewards say how much each Datanet weighed, and `tracebook what-if --datanet` can leave one out.",
      `  ${UNION_CELL}: sql\`${cells.map((c) => `select * from ${ref(c)}`).join(" union all ")} order by datanet, id\`,`,
    ]
    : [`  ${cell}: datanet(${lits[0]}, { status: "approved" }),`];
  // One validate cell per Datanet (each its own rule set); over several, `flags` is all of their
  // flags, numbered again (each Datanet's `ord` starts at 1): Datanet by Datanet, each in its
  // rules' order, so a reader ordering by `ord` never interleaves them. (A union's order is the
  // engine's to choose: the order by keeps the output, so its version, the same.)
  const flags = many
    ? [
      ...cells.map((c, i) => `  flags_${c}: validate(${lits[i]}),`),
      `  flags: sql\`select * replace (row_number() over (order by datanet, ord)::integer as ord) from (${cells.map((c) => `select * from ${ref(`flags_${c}`)}`).join(" union all ")}) order by ord\`,`,
    ]
    : [`  flags: validate(${lits[0]}),`];
  const queueOf = ds.map((x) => `\`tracebook curate queue ${x.spec.name}\``).join(", ");
  return [
    ...header(pipelineName, ds, cells),
    `import { ${imports.join(", ")} } from "tracebook";`,
    "",
    `export default pipeline(${JSON.stringify(pipelineName)}, {`,
    ...sources,
    `  train: sql\`select * from ${ref(cell)} where split = 'train'\`,`,
    `  queries: sql\`select * from ${ref(cell)} where split = 'test'\`,`,
    "  contributors: sql`",
    "    select contributor, label, count(*) as contributions",
    `    from ${ref("train")} group by contributor, label order by contributions desc, contributor\`,`,
    `  labels: sql\`select label, count(*) as n from ${ref("train")} group by label order by label\`,`,
    "  // A quarter of the training split, chosen by content hash (ids are uniform hex).",
    `  base_slice: sql\`select * from ${ref("train")} where id < '4'\`,`,
    ...models(d.spec.kind),
    "  // What gets attributed and paid: every executed inference of these models recorded for this",
    "  // pipeline, read from the ledger. One paid inference, attributed and split at once:",
    `  //   tracebook infer ${pipelineName} --model model ${example} --settle${what}`,
    "  // A seeded workload of held-out rows can be replayed as well (as pipelines/mail.pipeline.ts",
    '  // does): import `inferences`, declare it before this cell and add after: ["workload"] to it:',
    '  //   workload: inferences({ models: { model: 1, base: 0 }, queries: "queries", calls: 100, fee: "0.002", callers: ["agent:a"], epoch: "2026-11", seed: 7 }),',
    '  usage: usageLedger({ models: ["model", "base"] }),',
    '  influence: tracin({ model: "model", train: "train", test: "usage", topK: 20, mode: "exact" }),',
    "  // Per query (sql.by): one more paid inference recomputes its own rows, the others are kept.",
    '  influence_topk: sql.by("query")`',
    "    select query, key as contribution, contributor, score, rank, text",
    `    from ${ref("influence")} where level = 'contribution' order by query, (rank < 0), abs(rank)\`,`,
    '  contributor_influence: sql.by("query")`',
    `    select query, contributor, score, share from ${ref("influence")} where level = 'contributor' order by query, rank\`,`,
    '  datanet_influence: sql.by("query")`',
    `    select query, datanet, score, share from ${ref("influence")} where level = 'datanet' order by query, rank\`,`,
    '  self_influence: selfInfluence({ model: "model", train: "train" }),',
    '  receipts: receipts({ influence: "influence", top: 5 }),',
    '  rewards: rewardSplit({ usage: "usage", influence: "influence", receipts: "receipts" }),',
    '  penalties: penaltyRecords({ rewards: "rewards" }),',
    `  // Curation: rule flags and label-error scores, read by ${queueOf}.`,
    ...flags,
    `  label_errors: labelErrors({ model: "model", data: ${JSON.stringify(cell)} }),`,
    "  // Curators' decisions on the validation trail (a kept row leaves the queue notebook too).",
    `  decisions: validations(${many ? `[${lits.join(", ")}]` : lits[0]}),`,
    "  // What the last retrain changed (a curator's decision retrains the model): the model it",
    "  // superseded against this one, their training rows and their predictions on the held-out rows.",
    '  last_retrain: retrainDiff({ model: "model", on: "queries" }),',
    "});",
    "",
  ].join("\n");
}

/** The name of the quality pipeline beside `pipelineName` (the report's default command runs it). */
export const qualityName = (pipelineName: string) => `${pipelineName}-quality`;

/**
 * The source of `pipelines/<pipelineName>-quality.pipeline.ts`: how far the pipeline's influence
 * scores can be trusted, as pipelines/mail-quality.pipeline.ts asks it of mail. It reuses the
 * pipeline's cells up to the model (same params, same fingerprints: the same model), so the
 * report and the Attribution quality notebook find the evaluation by the model's id.
 */
export function scaffoldQualityPipeline(pipelineName: string, datanets: ScaffoldDatanet | readonly ScaffoldDatanet[]): string {
  if (!PIPELINE_NAME.test(pipelineName)) throw new Error(`invalid pipeline name "${pipelineName}"`);
  const ds = [datanets].flat();
  const quality = qualityName(pipelineName);
  const own = datanetCellNames(ds.map((x) => x.spec.name));
  const reused = [...own, ...(ds.length > 1 ? [UNION_CELL] : []), "train", "queries", "base_slice", "base", "model"];
  // LOCO leaves a contributor out of every Datanet at once: one per name, however many they gave to
  // (names when the detail lists them, else each Datanet's count summed).
  const named = ds.every((x) => x.contributors) ? new Set(ds.flatMap((x) => x.contributors!.map((c) => c.contributor))).size : null;
  const contributors = named ?? ds.reduce((sum, x) => sum + x.summary.contributors, 0);
  return [
    ...comment(`How far the ${pipelineName} pipeline's influence scores can be trusted, generated by \`tracebook new ${pipelineName} ` +
      `--datanet ${ds.map((x) => x.spec.name).join(" ")} --quality\`. It reuses the ${pipelineName} pipeline's cells up to its model (same params, same ` +
      `fingerprints: the same model, trained once) and retrains it many times: leave-one-contributor-out (${plural(contributors, "contributor")} ` +
      `at generation, each retrained twice with the replicate seed), 50 random halves for the linear datamodeling score, and ` +
      `one run with a tenth of the labels flipped. On mail that is minutes, not seconds: it runs by hand (\`tracebook run ${quality}\`), ` +
      `never under \`tracebook dev\`. This file is yours to edit.`),
    'import { lds, loco, mislabel, pipeline } from "tracebook";',
    `import reused from "./${pipelineName}.pipeline.ts";`,
    "",
    `const cells = ${JSON.stringify(reused)}.map((name) => [name, reused.cells.get(name)!] as [string, NonNullable<ReturnType<typeof reused.cells.get>>]);`,
    "",
    `export default pipeline(${JSON.stringify(quality)}, cells, {`,
    "  // A replicate seed: how far two trainings agree on each contributor's LOCO change (the ceiling).",
    '  loco: loco({ model: "model", train: "train", heldOut: "queries", replicateSeed: 8 }),',
    '  lds: lds({ model: "model", train: "train", heldOut: "queries", subsets: 50, fraction: 0.5, seed: 0 }),',
    "  // A tenth of the training labels flipped (seeded), the model retrained on them: does the curation",
    "  // queue's score find them? AUC and recall in the top 1–30%.",
    '  mislabel: mislabel({ model: "model", train: "train", fraction: 0.1, seed: 2024 }),',
    "});",
    "",
  ].join("\n");
}

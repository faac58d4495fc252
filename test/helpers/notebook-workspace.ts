// The small workspace the notebook browser tests run on: two Datanets (one with hostile and
// rule-breaking contributions), a pipeline with every cell the shipped notebooks read, run once.
import fs from "node:fs";
import path from "node:path";
import { runPipeline } from "../../cells/index.ts";
import { loadPipeline } from "../../cells/graph/loader.ts";
import { ingest } from "../../cells/datanet/ingest.ts";
import { curate } from "../../cells/curation/decisions.ts";
import { openWorkspace } from "../../cells/store/workspace.ts";
import { separableDatanet } from "./datanets.ts";
import { tempDir } from "./workspace.ts";
import type { BuildResult } from "../../cells/notebooks/build.ts";

const CELLS = path.resolve("cells/index.ts");

/**
 * Real spam carries markup: these must show as text and never run. Half are labelled ham
 * although they read as spam: mislabelled rows have large gradients, so TracIn ranks them
 * among the top contributions of many inferences (and some land in the test split, so
 * they are inferences themselves).
 */
export const HOSTILE = [
  `casino winner discount offer pills <script>window.__pwned = "script"</script> casino winner`,
  `pills offer discount <img src=x onerror="window.__pwned = 'img'"> winner casino offer`,
  `winner discount <b onmouseover="window.__pwned='b'">bold?</b> <iframe src="javascript:window.__pwned='iframe'"></iframe> pills casino`,
  `offer offer <script src="data:text/javascript,window.__pwned='src'"></script> discount pills winner`,
  `<svg onload="window.__pwned='svg'"><circle r=5></circle></svg> casino pills offer discount`,
  `discount winner <a href="javascript:window.__pwned='a'">click</a> <style>body{display:none}</style> offer casino`,
];

/**
 * The mail pipeline's shape (a seeded workload, the usage ledger that settles it), reading approved contributions only (so a curator's rejection
 * retrains without it), over two Datanets (the notebooks compare them), with the reward split,
 * the rule flags, the label-error scores and the curators' decisions the notebooks read.
 */
export function pipelineSource(): string {
  return `import { baseModel, datanet, finetune, hashedNgrams, inferences, labelErrors, penaltyRecords, pipeline, receipts, retrainDiff, rewardSplit, sql, tracin, usageLedger, validate, validations } from ${JSON.stringify(CELLS)};
const common = { epochs: 4, batchSize: 16, optimizer: { name: "adam" }, seed: 5 };
export default pipeline("nbtest", {
  notes: datanet("notes", { status: "approved" }),
  tips: datanet("tips", { status: "approved" }),
  train: sql\`select * from \${"notes"} where split = 'train' union all select * from \${"tips"} where split = 'train'\`,
  queries: sql\`select * from \${"notes"} where split = 'test'\`,
  half: sql\`select * from \${"train"} where id < '8'\`,
  base: baseModel({ data: "half", featurizer: hashedNgrams({ dims: 128 }), hidden: [8], schedule: { kind: "constant", lr: 0.01 }, ...common }),
  model: finetune({ data: "train", base: "base", adapter: { rank: 2, alpha: 4, targets: ["dense_1"] }, schedule: { kind: "constant", lr: 0.01 }, checkpoints: 2, ...common }),
  workload: inferences({ models: { model: 1, base: 0 }, queries: "queries", calls: 30, fee: "0.001", callers: ["agent:a", "agent:b"], epoch: "e1", seed: 3 }),
  usage: usageLedger({ models: ["model", "base"], after: ["workload"] }),
  influence: tracin({ model: "model", train: "train", test: "usage", topK: 5 }),
  receipts: receipts({ influence: "influence" }),
  rewards: rewardSplit({ usage: "usage", influence: "influence", receipts: "receipts" }),
  penalties: penaltyRecords({ rewards: "rewards" }),
  flags: validate("notes"),
  label_errors: labelErrors({ model: "model", data: "notes" }),
  decisions: validations(["notes", "tips"]),
  last_retrain: retrainDiff({ model: "model", on: "queries" }),
  influence_last_layer: tracin({ model: "model", train: "train", test: "usage", topK: 5, mode: "last-layer" }),
});
`;
}

/** The attribution-quality cells over the fixture's model, as pipelines/mail-quality.pipeline.ts does for mail: tiny settings. */
export function qualityPipelineSource(): string {
  return `import { lds, loco, mislabel, pipeline } from ${JSON.stringify(CELLS)};
import nbtest from "./nbtest.pipeline.mts";
const reused = ["notes", "tips", "train", "queries", "half", "base", "model"].map((name) => [name, nbtest.cells.get(name)]);
const modes = [{ name: "exact", mode: "exact" }, { name: "last-layer", mode: "last-layer" }];
export default pipeline("nbquality", reused, {
  loco: loco({ model: "model", train: "train", heldOut: "queries", modes, replicateSeed: 6 }),
  lds: lds({ model: "model", train: "train", heldOut: "queries", modes, subsets: 4, seed: 1 }),
  mislabel: mislabel({ model: "model", train: "train", fraction: 0.2, seed: 3, tops: [10, 30] }),
});
`;
}

export interface NotebookWorkspace {
  home: string;
  pipelineFile: string;
  /** Ids of mallory's hostile contributions, sorted. */
  hostileIds: string[];
}

/** Build the workspace and run the pipeline once (the server's watcher then keeps it current). */
export async function notebookWorkspace(): Promise<NotebookWorkspace> {
  const home = tempDir("tb-nb-ws-");
  const pipelineFile = path.join(tempDir("tb-nb-pipe-"), "nbtest.pipeline.mts");
  fs.writeFileSync(pipelineFile, pipelineSource());
  const ws = await openWorkspace({ home });
  try {
    await separableDatanet(ws, "notes", 120);
    await ingest(ws, { name: "notes", kind: "text", description: "notes", source: "test", contributorRule: "test", splitSeed: 0, testFraction: 0.25 },
      HOSTILE.map((text, i) => ({ text, label: i % 2 ? "ham" : "spam", contributor: "mallory", submittedAt: new Date("2024-01-02T00:00:00Z"), source: `hostile#${i}` })),
      { mode: "append", status: "approved", validator: "test", importer: "test@1" });
    // For the rules: mallory's first message again under the other label (a conflict), and a
    // message too short to learn from (an error).
    await ingest(ws, { name: "notes", kind: "text", description: "notes", source: "test", contributorRule: "test", splitSeed: 0, testFraction: 0.25 },
      [{ text: HOSTILE[0]!, label: "ham", contributor: "eve", submittedAt: new Date("2024-01-03T00:00:00Z"), source: "eve#0" },
        { text: "ok thanks", label: "ham", contributor: "eve", submittedAt: new Date("2024-01-03T00:00:00Z"), source: "eve#1" }],
      { mode: "append", status: "pending", validator: "test", importer: "test@1" });
    // Eve's rows arrive pending and are admitted before any model exists, as one's own data is:
    // the queue keeps them once the model has scored them.
    await curate(ws, { datanet: "notes", where: "contributor = 'eve'", verdict: "approved", curator: "test:intake", reason: "admitted at intake" });
    // A second, small Datanet from other contributors: the notebooks set the Datanets side by side.
    await separableDatanet(ws, "tips", 24, 7, { contributorPrefix: "tip" });
    const hostileIds = (await ws.rows<{ id: string }>("select id from contributions where contributor = 'mallory' order by id")).map((r) => r.id);
    const { pipeline } = await loadPipeline(pipelineFile);
    const summary = await runPipeline(ws, pipeline);
    if (summary.failed.length) throw new Error(`the test pipeline failed: ${summary.failed.join(", ")}`);
    // The quality evaluation is run once, by hand as users do (its notebook is not watched).
    const qualityFile = path.join(path.dirname(pipelineFile), "nbquality.pipeline.mts");
    fs.writeFileSync(qualityFile, qualityPipelineSource());
    const quality = await runPipeline(ws, (await loadPipeline(qualityFile)).pipeline);
    if (quality.failed.length) throw new Error(`the quality pipeline failed: ${quality.failed.join(", ")}`);
    return { home, pipelineFile, hostileIds };
  } finally {
    ws.close();
  }
}

/** A static build's server queries, a line per pipeline: `pipeline: notebook#id (result), …`. */
export function listed(built: BuildResult): string[] {
  return built.queries.map((p) => `${p.pipeline}: ${p.queries.map((q) => `${q.where} ${q.result}`).join(", ")}`);
}

import path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  baseModel, counterfactual, datanet, finetune, gradientFeatures, hashedNgrams, inferences, labelErrors, lds, loadPipeline, loco, mislabel, PipelineError,
  receipts, rewardSplit, selfInfluence, tracin, usageLedger, validate, validations,
} from "../cells/index.ts";
import { pipelineFile, tempDir } from "./helpers/workspace.ts";
import { openWorkspace } from "../cells/store/workspace.ts";

const BIN = path.resolve("bin/tracebook.js");

// Every cell factory, called with options that are right, as the shipped pipelines write them.
const schedule = { kind: "cosine" as const, lr: 2e-3, final: 2e-4 };
const right = {
  baseModel: () => ({ data: "train", heldOut: "queries", featurizer: hashedNgrams({ dims: 64 }), hidden: [8], epochs: 1, schedule, seed: 7 }),
  finetune: () => ({ data: "train", base: "base", adapter: { rank: 2, alpha: 4, targets: ["dense_1"] }, epochs: 1, schedule, checkpoints: 2, seed: 7 }),
  tracin: () => ({ model: "model", train: "train", test: "queries", topK: 5, mode: "exact" as const, checkpoints: "last" as const }),
  selfInfluence: () => ({ model: "model", train: "train" }),
  receipts: () => ({ influence: "influence", top: 3 }),
  gradientFeatures: () => ({ model: "model", train: "train", dim: 8 }),
  inferences: () => ({ models: { model: 1 }, queries: "queries", fee: "0.002", epoch: "2026-11", seed: 7 }),
  usageLedger: () => ({ models: ["model", "base"], after: ["workload"] }),
  rewardSplit: () => ({ usage: "usage", influence: "influence", receipts: "receipts" }),
  labelErrors: () => ({ model: "model", data: "train" }),
  mislabel: () => ({ model: "model", train: "train", fraction: 0.1 }),
  loco: () => ({ model: "model", train: "train", heldOut: "queries", replicateSeed: 8 }),
  lds: () => ({ model: "model", train: "train", heldOut: "queries", subsets: 4 }),
  counterfactual: () => ({ model: "model", train: "train", queries: "queries", without: { contributors: ["ann"] } }),
};
const factories: Record<keyof typeof right, (p: never) => unknown> = {
  baseModel, finetune, tracin, selfInfluence, receipts, gradientFeatures, inferences, usageLedger, rewardSplit, labelErrors, mislabel, loco, lds, counterfactual,
};
const call = (name: keyof typeof right, p: object) => () => factories[name](p as never);

describe("cell options", () => {
  it("takes what the shipped pipelines write", async () => {
    for (const name of Object.keys(right) as (keyof typeof right)[]) expect(call(name, right[name]()), name).not.toThrow();
    for (const p of ["mail", "digits", "mail-quality"]) await expect(loadPipeline(p)).resolves.toBeTruthy();
  });

  it("refuses an option a factory does not have, naming the nearest it has", () => {
    for (const name of Object.keys(right) as (keyof typeof right)[]) {
      const given = right[name]() as Record<string, unknown>;
      const [first] = Object.keys(given);
      const misspelt = `${first!.slice(0, -1)}${first!.slice(-1).toUpperCase()}x`;
      expect(call(name, { ...given, [misspelt]: 1 }), name).toThrow(new RegExp(`^${name}: "${misspelt}" is not an option \\(did you mean "${first}"\\? options: `));
    }
    // The case that started it: `topk` ran the cell with topK's default, and nobody was told.
    expect(call("tracin", { ...right.tracin(), topk: 10 })).toThrow(/^tracin: "topk" is not an option \(did you mean "topK"\?/);
    expect(call("finetune", { ...right.finetune(), adapter: { rnak: 2, alpha: 4, targets: ["dense_1"] } }))
      .toThrow('finetune: adapter: "rnak" is not an option (did you mean "rank"? options: rank, alpha, targets); adapter.rank is required (a number)');
    expect(call("baseModel", { ...right.baseModel(), schedule: { kind: "cosine", lr: 1e-3, fnal: 0 } })).toThrow(/schedule: "fnal" is not an option \(did you mean "final"\?/);
    expect(call("counterfactual", { ...right.counterfactual(), without: { contributor: ["ann"] } })).toThrow(/without: "contributor" is not an option \(did you mean "contributors"\?/);
    // Nothing near: no guess, only the list.
    expect(call("receipts", { ...right.receipts(), colour: "red" })).toThrow('receipts: "colour" is not an option (options: influence, top)');
  });

  it("says which option is missing or wrong, and what it must be", () => {
    const cases: [keyof typeof right, object, string][] = [
      ["baseModel", { hidden: undefined }, "baseModel: hidden is required (a list)"],
      ["baseModel", { schedule: undefined }, "baseModel: schedule is required (an object)"],
      ["baseModel", { epochs: "3" }, 'baseModel: epochs must be a positive integer, got "3" (a string)'],
      ["baseModel", { hidden: [8, 0] }, "baseModel: hidden[1] must be a positive integer, got 0"],
      ["baseModel", { schedule: { kind: "cos", lr: 1 } }, 'baseModel: schedule.kind must be "constant", "linear", "cosine" or "step", as in { kind: "cosine", lr: 2e-3, final: 2e-4 }'],
      ["baseModel", { schedule: { kind: "constant", lr: -1 } }, "baseModel: schedule.lr must be a positive number, got -1"],
      ["baseModel", { featurizer: "feature" }, 'baseModel: featurizer must be hashedNgrams({ … }) for text, or "features" for stored feature vectors, got "feature" (a string)'],
      ["finetune", { checkpoints: undefined }, "finetune: checkpoints is required (a number)"],
      ["finetune", { seed: 1.5 }, "finetune: seed must be an integer (a seed), got 1.5"],
      ["finetune", { adapter: { rank: 2, alpha: 4, targets: [] } }, 'finetune: adapter.targets must name at least one dense layer, e.g. ["dense_1"]'],
      ["tracin", { mode: "fast" }, 'tracin: mode must be "exact" or "last-layer" or "projection", got "fast" (a string)'],
      ["tracin", { topK: 0 }, "tracin: topK must be a positive integer, got 0"],
      ["tracin", { checkpoints: [] }, 'tracin: checkpoints must be "all", "last" or a non-empty list of checkpoint indices'],
      ["tracin", { model: "" }, "tracin: model must name a cell of the pipeline"],
      ["mislabel", { fraction: 1.5 }, "mislabel: fraction must be a fraction between 0 and 1, got 1.5"],
      ["usageLedger", { models: "model" }, 'usageLedger: models must list model cells, e.g. ["model", "base"], got "model" (a string)'],
    ];
    for (const [name, change, message] of cases) expect(call(name, { ...right[name](), ...change }), message).toThrow(message);
    expect(() => datanet("mail-spam", { status: "approve" as never })).toThrow('datanet("mail-spam"): status must be a status or a list of them (pending, approved, rejected, quarantined)');
    expect(() => datanet("mail-spam", { statuses: ["approved"] } as never)).toThrow(/"statuses" is not an option \(did you mean "status"\?/);
    expect(() => validate("mail-spam", { rule: {} } as never)).toThrow(/validate\("mail-spam"\): "rule" is not an option \(did you mean "rules"\?/);
    expect(() => validations("mail-spam", { import: true } as never)).toThrow(/"import" is not an option \(did you mean "imports"\?/);
    expect(() => labelErrors({ model: "model", data: "train", weights: { selfInfluence: 1, loss: 1 } } as never)).toThrow("labelErrors: weights.otherLabel is required (a number)");
  });

  it("keeps the options as given: what the cell fingerprints is what the pipeline wrote", () => {
    const given = right.tracin();
    expect(tracin(given).params).toEqual({ target: "predicted", ...given });
    expect(finetune(right.finetune()).params).toEqual(right.finetune());
  });

  it("points at the file, line and cell of a pipeline whose options are wrong", async () => {
    const file = pipelineFile("broken", [
      'import { datanet, pipeline, sql, tracin } from "../../../cells/index.ts";'.replace("../../../cells/index.ts", path.resolve("cells/index.ts")),
      "export default pipeline(\"broken\", {",
      '  data: datanet("notes"),',
      "  influence: tracin({ model: \"model\", train: \"data\", test: \"data\", topk: 5 }),",
      "});",
      "",
    ].join("\n"));
    await expect(loadPipeline(file)).rejects.toThrow(`${file}:4:14 (cell "influence"): tracin: "topk" is not an option (did you mean "topK"?`);
  });

  it("says where a pipeline file's syntax error is, as the caller's mistake (exit 2)", async () => {
    // Through the command: tsx transforms the file there (vite does under these tests).
    const unclosed = pipelineFile("unclosed", ['import { datanet, pipeline } from "tracebook";', 'export default pipeline("unclosed", {', '  data: datanet("notes",', "});", ""].join("\n"));
    const home = tempDir("tb-syntax-");
    (await openWorkspace({ home })).close();
    const r = spawnSync(process.execPath, [BIN, "--workspace", home, "status", unclosed], { encoding: "utf8", timeout: 60_000 });
    expect([r.status, r.stderr]).toEqual([2, `tracebook: ${unclosed}:4:0: syntax error: Unexpected "}"\n`]);
    await expect(loadPipeline(unclosed)).rejects.toThrow(PipelineError);
  });

  it("lets a pipeline anywhere on disk import the engine as \"tracebook\"", async () => {
    // Outside this checkout there is no node_modules/tracebook: the command maps the name to
    // the engine it runs, so the pipeline's cells are the cells the scheduler knows.
    const file = pipelineFile("own", [
      'import { datanet, pipeline, sql } from "tracebook";',
      'export default pipeline("own", { notes: datanet("notes"), few: sql`select * from ${"notes"} limit 1` });',
      "",
    ].join("\n"));
    const home = tempDir("tb-own-");
    (await openWorkspace({ home })).close(); // an empty workspace: status refuses a folder without one
    const r = spawnSync(process.execPath, [BIN, "--workspace", home, "status", file], { encoding: "utf8", cwd: path.dirname(file), timeout: 60_000 });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    // Loaded and planned: the Datanet is not imported in this workspace, which status says per cell.
    expect(r.stdout).toMatch(/notes\s.*datanet\s.*unknown Datanet "notes"/);
    expect(r.stdout).toMatch(/few\s.*sql\s.*blocked/);
  });
});

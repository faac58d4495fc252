import path from "node:path";
import type { Command } from "commander";
import { withWorkspace } from "../cli.ts";
import { formatTable, toJson } from "../output.ts";
import { cellOutput, heldOutOf, parseCellRef, modelHistory, paidUse, resolveModel, standingOf, type ModelEntry, type PaidUse } from "../../cells/factory/catalog.ts";
import { exportAdapter } from "../../cells/factory/peft.ts";
import { importExternal } from "../../cells/factory/imported.ts";
import type { ModelManifest } from "../../cells/factory/store.ts";
import { InputError } from "../../cells/datanet/errors.ts";
import { wholeNumber } from "../numbers.ts";

function row(m: ModelManifest) {
  return {
    id: m.id.slice(0, 16), kind: m.kind, base: m.base?.slice(0, 12) ?? "", classes: m.spec.classes.length,
    layers: [m.spec.inputSize, ...m.spec.hidden, m.spec.classes.length].join("→"),
    adapter: m.lora ? `r${m.lora.rank} α${m.lora.alpha} ${m.lora.targets.join("+")}` : "",
    contributions: m.snapshot?.contributions ?? "", checkpoints: m.checkpoints.length,
    "held-out acc": m.summary.heldOutAccuracy === null ? "" : m.summary.heldOutAccuracy.toFixed(4),
    backend: m.backend.name, from: m.producedBy ? `${m.producedBy.pipeline}.${m.producedBy.cell}` : "",
  };
}

/** A line of `model list`: where the model stands in its cell's history, and what it was paid for. */
function listRow(e: ModelEntry, paid: PaidUse) {
  const { id, kind, base, layers, adapter, contributions, "held-out acc": acc } = row(e.manifest);
  const s = standingOf(e, paid);
  return {
    id, from: s.from ?? "", state: s.state, trained: s.trainedAt.slice(0, 16).replace("T", " "), kind, base, layers, adapter, contributions,
    "held-out acc": acc, inferences: s.inferences, fees: s.fees,
  };
}

/** `tracebook model list|show|export|import`: the ModelFactory's store. */
export function registerModel(program: Command): void {
  const model = program.command("model").description("list, show, export and import models (bases, adapters, external MLPs)");
  model
    .command("list")
    .description("every model in the workspace, by the cell that trained it: current or earlier (a retrain superseded it), when, and the inferences and fees it was paid for")
    .option("--json", "print manifests as JSON, each with from, state, trainedAt, inferences and fees")
    .action(async (opts: { json?: boolean }, command: Command) => {
      await withWorkspace(command, async (ws) => {
        const [models, paid] = [await modelHistory(ws), await paidUse(ws)];
        if (opts.json) {
          console.log(toJson(models.map((e) => {
            const { from, state, trainedAt, inferences, fees } = standingOf(e, paid);
            return { ...e.manifest, from, state, trainedAt, inferences, fees };
          })));
        } else {
          console.log(formatTable(models.map((e) => listRow(e, paid))));
        }
      });
    });
  model
    .command("diff")
    .description("what changed between two models: the lineage settings that differ, the training rows that entered or left (with the validation record that explains each), and the outputs that changed on the same rows")
    .argument("<a>", "the earlier model: id (or unique prefix), <pipeline>.<cell>, or <pipeline>.<cell>~N (the N-th model that cell trained before its current one)")
    .argument("[b]", "the later model (default: with a as <pipeline>.<cell>, a is taken as <pipeline>.<cell>~1 and b as its current model)")
    .option("--on <pipeline.cell>", "compare the outputs on this cell's rows (default: the held-out rows the later model was evaluated on, else its pipeline's queries cell)")
    .option("--no-outputs", "compare the lineages only")
    .option("--limit <n>", "rows shown per table", "20")
    .option("--json", "print the comparison as JSON")
    .action(async (aRef: string, bRef: string | undefined, opts: { on?: string; outputs: boolean; limit: string; json?: boolean }, command: Command) => {
      const limit = wholeNumber(opts.limit, "--limit", { min: 1 });
      // One cell named alone: its last retrain, the model before against the model now.
      if (!bRef && parseCellRef(aRef) && !aRef.includes("~")) [aRef, bRef] = [`${aRef}~1`, aRef];
      if (!bRef) throw new InputError(`name the model to compare ${aRef} with, or name a model cell (<pipeline>.<cell>) to compare its last two models`);
      await withWorkspace(command, async (ws) => {
        const [a, b] = [await resolveModel(ws, aRef), await resolveModel(ws, bRef!)];
        const rows = !opts.outputs ? null : opts.on ? await cellOutput(ws, opts.on) : await heldOutOf(ws, b);
        const noRows = opts.outputs && !rows
          ? `${b.producedBy ? `${b.producedBy.pipeline}.${b.producedBy.cell} was given no heldOut rows, and its pipeline has no queries cell` : "an imported model has no held-out rows here"}: name some with --on <pipeline>.<cell>`
          : undefined;
        // Loaded here: comparing outputs runs the models (TF.js), which list, show and export never do.
        const { printModelDiff } = await import("./model-diff.ts");
        await printModelDiff(ws, { a, b, aRef, bRef: bRef!, rows, noRows, limit, json: opts.json ?? false });
      });
    });
  model
    .command("show")
    .description("a model's manifest: lineage, training, checkpoints")
    .argument("<model>", "model id (or unique prefix) or <pipeline>.<cell>")
    .action(async (ref: string, _opts: unknown, command: Command) => {
      await withWorkspace(command, async (ws) => console.log(toJson(await resolveModel(ws, ref))));
    });
  model
    .command("export")
    .description("write an adapter as adapter_config.json + adapter_model.safetensors (PEFT layout)")
    .argument("<model>", "adapter model id (or unique prefix) or <pipeline>.<cell>")
    .argument("<dir>", "output folder")
    .action(async (ref: string, dir: string, _opts: unknown, command: Command) => {
      await withWorkspace(command, async (ws) => {
        const m = await resolveModel(ws, ref);
        const out = await exportAdapter(ws.home, m.id, path.resolve(dir));
        console.log(`Exported adapter ${m.id.slice(0, 16)} to ${out.dir}: ${out.files.join(", ")}`);
      });
    });
  model
    .command("import")
    .description("import a plain MLP trained elsewhere (tracebook.external-mlp/1 JSON) with its checkpoints")
    .argument("<file>", "the JSON file")
    .option("--json", "print the manifest as JSON")
    .action(async (file: string, opts: { json?: boolean }, command: Command) => {
      await withWorkspace(command, async (ws) => {
        const m = await importExternal(ws.home, path.resolve(file));
        console.log(opts.json ? toJson(m) : `Imported ${path.basename(file)} as model ${m.id.slice(0, 16)}: ${row(m).layers}, ${m.checkpoints.length} checkpoints`);
      }, { creates: true });
    });
}

import path from "node:path";
import type { Command } from "commander";
import { withWorkspace } from "../cli.ts";
import { formatTable, toJson } from "../output.ts";
import { listModels, resolveModel } from "../../cells/factory/catalog.ts";
import { exportAdapter } from "../../cells/factory/peft.ts";
import { importExternal } from "../../cells/factory/imported.ts";
import type { ModelManifest } from "../../cells/factory/store.ts";

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

/** `tracebook model list|show|export|import`: the ModelFactory's store. */
export function registerModel(program: Command): void {
  const model = program.command("model").description("list, show, export and import models (bases, adapters, external MLPs)");
  model
    .command("list")
    .description("every model in the workspace")
    .option("--json", "print manifests as JSON")
    .action(async (opts: { json?: boolean }, command: Command) => {
      await withWorkspace(command, async (ws) => {
        const models = listModels(ws.home);
        console.log(opts.json ? toJson(models) : formatTable(models.map(row)));
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
      });
    });
}

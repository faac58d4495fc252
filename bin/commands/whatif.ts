import type { Command } from "commander";
import { withCtrlC, withWorkspace } from "../cli.ts";
import { formatTable, toJson } from "../output.ts";
import { humanPrinter } from "./run.ts";
import { parseSeed, wholeNumber } from "../numbers.ts";
import { loadPipelineIn } from "../../cells/graph/loader.ts";
import { InputError } from "../../cells/datanet/errors.ts";
import type { WhatIfAnswer } from "../../cells/quality/what-if.ts";
import { describeRemoval, canonicalRemoval } from "../../cells/quality/removal.ts";

interface WhatIfOpts { contributor?: string[]; datanet?: string[]; id?: string[]; proponentsOf?: string; focus?: string; top?: string; onlyTrained?: boolean; seedCheck?: string; influence?: string; heldOut?: string; limit: string; json?: boolean }

/** `tracebook what-if`: retrain a pipeline's model without some contributions and show what changes. */
export function registerWhatIf(program: Command): void {
  program
    .command("what-if")
    .description("what if these contributions had never been given? retrain the model without them (as its lineage says) and compare its outputs, beside TracIn's estimate")
    .argument("<pipeline>", "pipeline name (pipelines/<name>.pipeline.ts, else the file this workspace last ran it from) or file")
    .option("--contributor <id...>", "leave out every training row of these contributors")
    .option("--datanet <name...>", "leave out every training row of these Datanets")
    .option("--id <id...>", "leave out these contributions (ids in full, or unique prefixes of at least 8 hex)")
    .option("--proponents-of <inference>", "leave out the top proponents TracIn lists for this inference (id or unique prefix): would it hold without them?")
    .option("--top <n>", "with --proponents-of: only the first n proponents")
    .option("--focus <inference>", "the inference the question is about (id or unique prefix): listed first; refused when the model this retrains did not execute it (as --proponents-of is)")
    .option("--only-trained", "set aside the --id contributions that did not train the model (held out, not approved) instead of refusing them")
    .option("--seed-check <seed>", "also retrain with nothing left out under this seed: how much a seed change alone moves the outputs")
    .option("--influence <cell>", "the tracin cell whose model and queries are asked about (default: influence)")
    .option("--held-out <cell>", "labelled rows to measure accuracy on (default: the model cell's held-out input)")
    .option("--limit <n>", "changed outputs to print", "15")
    .option("--json", "print the summary and every query as JSON")
    .action(async (name: string, opts: WhatIfOpts, command: Command) => {
      const without = { contributors: opts.contributor, datanets: opts.datanet, ids: opts.id };
      const replicateSeed = opts.seedCheck === undefined ? undefined : parseSeed(opts.seedCheck);
      if (opts.top !== undefined && opts.proponentsOf === undefined) throw new InputError("--top goes with --proponents-of");
      const top = opts.top === undefined ? undefined : wholeNumber(opts.top, "--top", { min: 1 });
      const limit = wholeNumber(opts.limit, "--limit");
      try {
        // Say what is wrong with the question before opening anything (proponents are found later).
        if (opts.proponentsOf === undefined || [without.contributors, without.datanets, without.ids].some((l) => l?.length)) canonicalRemoval(without);
      } catch (err) {
        const message = (err as Error).message.replace(/^counterfactual: /, "");
        throw new InputError(/say what to leave out/.test(message) ? "say what to leave out: give --contributor, --datanet, --id or --proponents-of" : message.replace(/^without\.(\w+)/, (_, f: string) => `--${f === "ids" ? "id" : f.replace(/s$/, "")}`));
      }
      // The retraining engine loads here, not with the module: `tracebook --help` loads every command's module.
      const { executedByModel, proponentsOf, whatIf } = await import("../../cells/quality/what-if.ts");
      await withCtrlC((signal) => withWorkspace(command, async (ws) => {
        const { pipeline } = await loadPipelineIn(ws, name);
        const onEvent = opts.json ? undefined : humanPrinter(pipeline);
        let focus: { query: string; ids: string[] } | undefined;
        if (opts.focus !== undefined && opts.proponentsOf !== undefined) throw new InputError("--focus or --proponents-of (which is its focus), not both");
        if (opts.focus !== undefined) focus = { query: (await executedByModel(ws, pipeline, { query: opts.focus, influence: opts.influence, signal, onEvent })).query, ids: [] };
        if (opts.proponentsOf !== undefined) {
          focus = await proponentsOf(ws, pipeline, { query: opts.proponentsOf, top, influence: opts.influence, signal, onEvent });
          if (!focus.ids.length) throw new InputError(`TracIn lists no proponent for inference ${focus.query.slice(0, 12)}: nothing to leave out`);
        }
        const answer = await whatIf(ws, pipeline, {
          without: focus ? { ...without, ids: [...(without.ids ?? []), ...focus.ids] } : without,
          replicateSeed, onlyTrained: opts.onlyTrained, influence: opts.influence, heldOut: opts.heldOut, signal, onEvent,
        });
        const about = opts.proponentsOf !== undefined ? { proponentsOf: focus } : focus ? { focus: focus.query } : {};
        console.log(opts.json ? toJson({ ...answer, ...about }) : formatAnswer(pipeline.name, answer, limit, focus?.query));
      }));
    });
}

/** `--seed-check N`: a seed is a non-negative integer. */
/** What the retrain does not cover: asked rows that trained nothing, and left-out rows the frozen base still holds. */
export function caveats(a: WhatIfAnswer): string[] {
  const out: string[] = [];
  const n = a.setAside.length;
  if (n) {
    out.push(`${n} of the contributions asked about did not train this model (held out, or not approved), so nothing of them was left out: ` +
      `${a.setAside.slice(0, 5).map((i) => i.slice(0, 12)).join(", ")}${n > 5 ? ", …" : ""}.`);
  }
  const inBase = Number(a.summary.removed_in_base ?? 0);
  if (inBase > 0) out.push(`${inBase} of the left-out rows also trained the base model, which the retrain keeps as it is: this is the adapter's part of their effect.`);
  return out;
}

const seedColumn = (v: string) => ({ "another seed, nothing left out": v });
const pct = (v: unknown) => (typeof v === "number" ? `${(100 * v).toFixed(1)}%` : "n/a");
const num = (v: unknown, d = 4) => (typeof v === "number" ? v.toFixed(d) : "n/a");

/** The answer as a reader takes it in: the two models side by side, the flips, how far TracIn foresaw them. */
export function formatAnswer(pipeline: string, a: WhatIfAnswer, limit: number, focus?: string): string {
  const s = a.summary;
  const n = a.queries.length;
  const removal = describeRemoval(canonicalRemoval(JSON.parse(String(s.without))));
  const mine = focus === undefined ? undefined : a.queries.find((q) => q.query === focus);
  const lines = [
    ...(mine ? [`Inference ${focus!.slice(0, 12)} ${mine.flipped ? `flips: ${mine.prediction_before} → ${mine.prediction_after}` : `holds: ${mine.prediction_before}`}, ` +
      `p(${mine.prediction_before}) ${num(mine.p_before, 3)} → ${num(mine.p_after, 3)}; the rise of its loss: TracIn estimated ${num(mine.estimate)}, the retrain gives ${num(mine.delta_loss)}.`] : []),
    `What if ${pipeline} had been trained without ${removal}: ${s.removed_contributions} of ${Number(s.removed_contributions) + Number(s.kept_contributions)} training rows left out ` +
      `(${s.removed_contributors} contributor${s.removed_contributors === 1 ? "" : "s"}); model ${String(s.model_id).slice(0, 12)} retrained as its lineage says` +
      `${a.fresh ? " (answered before: reused)" : ` in ${num(s.retrain_seconds, 1)} s`}.`,
    ...caveats(a),
    Number(s.measured_rows) > 0
      ? formatTable([
        { "": `accuracy on ${s.measured_on} (${s.measured_rows} rows)`, with: pct(s.accuracy_before), without: pct(s.accuracy_after), ...seedColumn(pct(s.accuracy_seed)) },
        { "": "mean loss", with: num(s.loss_before), without: num(s.loss_after), ...seedColumn(num(s.loss_seed)) },
      ], { columns: ["", "with", "without", ...(s.flips_seed === null ? [] : ["another seed, nothing left out"])] }).replace(/\n\(2 rows\)$/, "")
      : `No labelled rows to measure accuracy on: give --held-out <cell>.`,
    `Predictions that flip: ${s.flips} of ${n}${s.flips_seed === null ? "" : `; a retrain under another seed with nothing left out flips ${s.flips_seed}`}.`,
    `TracIn's estimate, without retraining (the left-out rows' summed influence on each prediction), against the retrain's change of each prediction's loss: ` +
      `Spearman ${num(s.spearman)}${Number(s.flips) > 0 ? `; ${s.flips_found} of the ${s.flips} flips are among the ${s.flips} predictions it expected to weaken most` : ""}.`,
  ];
  const shown = a.queries.slice(0, limit).filter((q) => q.flipped || Number(q.delta_loss) > 0);
  if (shown.length) {
    lines.push(`${Number(s.flips) > 0 ? "Flipped first, then the" : "The"} predictions that weakened most:`);
    const labelled = shown.some((q) => q.label !== null);
    const texts = shown.some((q) => q.text); // feature Datanets (digits) have none
    lines.push(formatTable(shown.map((q) => ({
      query: String(q.query).slice(0, 12), ...(labelled ? { label: q.label ?? "" } : {}), prediction: q.flipped ? `${q.prediction_before} → ${q.prediction_after}` : q.prediction_before,
      "p with": num(q.p_before, 3), "p without": num(q.p_after, 3), "Δ loss": num(q.delta_loss), "TracIn estimate": num(q.estimate), ...(texts ? { text: q.text } : {}),
    })), { maxCell: 70, maxRows: limit }));
  }
  return lines.join("\n");
}

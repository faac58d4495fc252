import type { Command } from "commander";
import { withCtrlC, withWorkspace } from "../cli.ts";
import { formatTable, toJson } from "../output.ts";
import { parsePayloads } from "../payloads.ts";
import { wholeNumber } from "../numbers.ts";
import { humanPrinter } from "./run.ts";
import type { GraphEvent } from "../../cells/graph/scheduler.ts";
import { loadPipelineIn } from "../../cells/graph/loader.ts";
import { bringUpToDate } from "../../cells/graph/ensure.ts";
import { ancestorsAndSelf } from "../../cells/graph/pipeline.ts";
import { InputError } from "../../cells/datanet/errors.ts";
import type { ExplainAnswer, Explanation } from "../../cells/attribution/explain.ts";
import type { ContributionToExplain } from "../../cells/attribution/source.ts";
import type { TracinParams } from "../../cells/attribution/cells.ts";

/** A contribution explained as its own label. */
type ExplainedContribution = Omit<ContributionToExplain, "payload"> & { explanation: Explanation };

interface ExplainOpts { contribution?: string[]; datanet?: string; influence?: string; top: string; as?: string; json?: boolean }

/** `tracebook explain`: which contributions would an input lean on, were it executed? Nothing is recorded or paid. */
export function registerExplain(program: Command): void {
  program
    .command("explain")
    .description("which training contributions (and contributors) drive the model's output on these inputs, by the pipeline's own TracIn; nothing is recorded or paid (`tracebook infer` executes)")
    .argument("<pipeline>", "pipeline name (pipelines/<name>.pipeline.ts, else the file this workspace last ran it from) or file")
    .argument("[input...]", "texts (text models) or JSON arrays of numbers (feature models), one explanation each; - reads one from standard input")
    .option("--contribution <id...>", "also explain these contributions (ids or unique prefixes of at least 8 hex), each as its own label: what in the training data speaks for it, and what against it")
    .option("--datanet <name>", "with --contribution: look the ids up in this Datanet only (the same content in two Datanets has one id)")
    .option("--influence <cell>", "the tracin cell to explain as (its model, checkpoints and mode; default: influence)")
    .option("--top <n>", "proponents and opponents to list", "10")
    .option("--as <label>", "for the inputs: trace the loss of this label instead of the prediction's, what speaks for (and against) it")
    .option("--json", "print the explanations as JSON")
    .action(async (name: string, inputs: string[], opts: ExplainOpts, command: Command) => {
      const top = wholeNumber(opts.top, "--top", { min: 1 });
      if (!inputs.length && !opts.contribution?.length) throw new InputError("say what to explain: give inputs, or --contribution <id>");
      if (opts.datanet !== undefined && !opts.contribution?.length) throw new InputError("--datanet goes with --contribution");
      // The explainer and its engines load here, not with the module: `tracebook --help` loads every command's module.
      const [{ Explainer }, { chooseTracin, contributionsToExplain, explainSource }] = await Promise.all([import("../../cells/attribution/explain.ts"), import("../../cells/attribution/source.ts")]);
      await withCtrlC((signal) => withWorkspace(command, async (ws) => {
        const contributions = opts.contribution?.length ? await contributionsToExplain(ws, opts.contribution, opts.datanet) : [];
        const { pipeline } = await loadPipelineIn(ws, name);
        const influence = chooseTracin(pipeline.name, pipeline.cells, opts.influence);
        const params = pipeline.cells.get(influence)!.params as TracinParams;
        // The model and its training rows as they are now: a decision since the last run retrains first.
        const print = humanPrinter(pipeline);
        const onEvent = opts.json ? undefined : (e: GraphEvent) => e.event !== "cell-fresh" && print(e); // only what had to run
        await bringUpToDate(ws, pipeline, params.model, { signal, onEvent });
        if (!ancestorsAndSelf(pipeline, params.model).has(params.train)) await bringUpToDate(ws, pipeline, params.train, { signal, onEvent });
        const explainer = await Explainer.load(ws, await explainSource(ws, pipeline.name, pipeline.cells, influence));
        const payloads = parsePayloads(inputs, explainer.reads.features, explainer.source.modelId);
        const answer = payloads.length ? await explainer.explain(payloads, { top, as: opts.as, signal }) : null;
        // Each contribution as its own label: one question each.
        const asked: ExplainedContribution[] = [];
        let first = answer, seconds = answer?.seconds ?? 0;
        for (const { payload, ...c } of contributions) {
          const a = await explainer.explain([payload], { top, as: c.label, signal });
          asked.push({ ...c, explanation: a.explanations[0]! });
          first ??= a;
          seconds += a.seconds;
        }
        const out: ExplainAnswer & { contributions: ExplainedContribution[] } = { ...first!, explanations: answer?.explanations ?? [], seconds, contributions: asked };
        console.log(opts.json ? toJson(out) : formatExplanations(out, inputs));
      }));
    });
}

const pct = (p: number) => `${(100 * p).toFixed(1)}%`;
const sci = (v: number) => v.toExponential(3);

/** Each input: the prediction, what held it up and what pulled against it, and who those rows came from. */
export function formatExplanations(a: ExplainAnswer & { contributions?: ExplainedContribution[] }, inputs: readonly string[]): string {
  const out = [
    `Explained as the ${a.pipeline} pipeline's ${a.influence} cell would: TracIn ${a.mode} over checkpoints ${a.checkpoints.join(", ")} of model ${a.model_id.slice(0, 12)}, ` +
    `${a.train_rows} training contributions (${a.engine}). Not an executed inference: nothing is recorded, nothing is paid.`,
  ];
  a.explanations.forEach((e, i) => out.push("", ...formatOne(e, `Input: ${shorten(inputs[i] === "-" ? "(standard input)" : inputs[i]!)}`)));
  for (const c of a.contributions ?? []) {
    out.push("", ...formatOne(c.explanation, `Contribution ${c.id.slice(0, 12)} (${c.datanet}, by ${c.contributor}, labelled ${c.label}, ${c.split}, ${c.status}), explained as its label`));
  }
  return out.join("\n");
}

const shorten = (s: string) => `${s.replace(/\s+/g, " ").slice(0, 80)}${s.length > 80 ? "…" : ""}`;

function formatOne(e: Explanation, heading: string): string[] {
  const lines = [
    heading,
    `Prediction: ${e.prediction} (${[...e.probabilities].sort((x, y) => y.p - x.p).slice(0, 3).map((c) => `${c.label} ${pct(c.p)}`).join(", ")}${e.probabilities.length > 3 ? ", …" : ""})` +
    (e.target === e.prediction ? "" : `; traced as ${e.target}: what speaks for ${e.target} and against it`),
  ];
  // Feature rows (digits) have no text: their snippet only repeats the label.
  const texts = [...e.proponents, ...e.opponents].some((r) => r.text !== `label ${r.label}`);
  const list = (rows: Explanation["proponents"]) => formatTable(rows.map((r) => ({
    "#": Math.abs(r.rank), contribution: r.contribution.slice(0, 12), contributor: r.contributor, label: r.label, score: sci(r.score), ...(texts ? { text: r.text } : {}),
  })), { maxCell: 70, maxRows: 1000 }).replace(/\n\(\d+ rows?\)$/, "");
  lines.push(`Proponents (pushed the model toward ${e.target}):`, e.proponents.length ? list(e.proponents) : "  none");
  lines.push(`Opponents (pushed it away):`, e.opponents.length ? list(e.opponents) : "  none");
  const positive = e.contributors.filter((c) => c.share !== null && c.share > 0);
  lines.push(`Contributors by net influence${positive.length ? " (share of the positive influence: how an executed call's contributor pool would split)" : ""}:`);
  lines.push(formatTable(e.contributors.slice(0, 10).map((c) => ({ contributor: c.name, "net influence": sci(c.score), share: c.share === null ? "" : pct(c.share) })), { maxRows: 10 })
    .replace(/\n\(\d+ rows?\)$/, e.contributors.length > 10 ? `\n(${e.contributors.length - 10} more)` : ""));
  return lines;
}

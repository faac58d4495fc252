import fs from "node:fs";
import type { Command } from "commander";
import { withWorkspace } from "../cli.ts";
import { formatTable, toJson } from "../output.ts";
import { loadPipelineIn } from "../../cells/graph/loader.ts";
import { currentModels, resolveModel } from "../../cells/factory/catalog.ts";
import { callsWithIds, ledgerEpochs } from "../../cells/rewards/ledger.ts";
import type { Payload } from "../../cells/factory/featurize.ts";
import { formatAmount, parseAmount } from "../../cells/rewards/amounts.ts";
import { InputError } from "../../cells/datanet/errors.ts";
import { didYouMean } from "../../cells/graph/nearest.ts";
import { openCalls, parsePayloads } from "../payloads.ts";
import { callsSummary, printCallsJson, runCalls, type CallsRun } from "../calls.ts";
import { settledLine } from "../settled.ts";
import { bringUpToDate } from "../../cells/graph/ensure.ts";
import type { Workspace } from "../../cells/store/workspace.ts";
import type { Pipeline } from "../../cells/graph/pipeline.ts";
import type { UsageLedgerParams } from "../../cells/rewards/usage.ts";
import { recordedPenalties, type RecordedScope } from "../../cells/rewards/penalties.ts";
import { closedEpochs, closeEpoch, type Closure } from "../../cells/rewards/closures.ts";
import { pipelineStatus } from "../../cells/graph/status.ts";
import { recipientStatement, type RecipientEpoch } from "../../cells/rewards/recipient.ts";
import { wholeNumber } from "../numbers.ts";
import { nowUtc } from "../../cells/store/workspace.ts";
import { plural } from "../../cells/graph/plural.ts";

interface InferOpts { model: string; from?: string; batch: string; fee: string; caller: string; id?: string[]; epoch?: string; settle?: boolean; json?: boolean }

/** How many calls from a file are printed one a line (all of them with --json). */
const SHOWN = 20;

/** A call's input as the table shows it: the argument given, else its text, title or numbers. */
function inputText(p: Payload, arg: string | undefined): string {
  return arg ?? (p.text || p.title || (p.features ? JSON.stringify(Array.from(p.features)) : ""));
}

/** `tracebook infer` (executed, paid inferences into the ledger) and `tracebook rewards` (statements). */
export function registerUsage(program: Command): void {
  program
    .command("infer")
    .description("run inputs through a model of a pipeline and record each execution, with its fee, in the usage ledger")
    .argument("<pipeline>", "pipeline name (pipelines/<name>.pipeline.ts, else the file this workspace last ran it from) or file")
    .argument("[input...]", "texts (text models) or JSON arrays of numbers (feature models), one inference each")
    .requiredOption("--model <model>", "a model cell of the pipeline (e.g. model), or a model id")
    .option("--from <file>", "calls from a file, one JSON object a line: {\"text\": …} (or \"features\"), and where a call names them its \"id\", \"caller\", \"fee\", \"epoch\" (the options give the rest); - reads standard input")
    .option("--batch <n>", "with --from: calls run through the model at a time (all of them recorded in one transaction)", "5000")
    .option("--fee <tokens>", "fee per inference, a decimal in tokens (18 decimals)", "0.002")
    .option("--caller <id>", "who called (agent or user id)", `cli:${process.env.USER ?? "user"}`)
    .option("--id <id...>", "inference ids, one per input (default: a fresh id per execution); replaying an id records nothing")
    .option("--epoch <epoch>", "settlement epoch (default: the UTC month, as 2026-12)")
    .option("--settle", "then run the pipeline's cells that attribute and split these fees, and say who was paid")
    .option("--json", "print JSON")
    .action(async (name: string, inputs: string[], opts: InferOpts, command: Command) => {
      let fee: bigint;
      try {
        fee = parseAmount(opts.fee, "--fee");
      } catch (err) {
        throw new InputError((err as Error).message); // bad input: exit code 2
      }
      if (opts.from !== undefined && inputs.length) throw new InputError("give inputs or --from a file of calls, not both");
      if (opts.from === undefined && !inputs.length) throw new InputError("no input: give texts (or JSON arrays of numbers), or --from a file of calls");
      if (opts.from !== undefined && opts.id) throw new InputError("--id names the inputs given on the command line; a file of calls names its ids in its lines (\"id\")");
      const batch = wholeNumber(opts.batch, "--batch", { min: 1 });
      await withWorkspace(command, async (ws) => {
        const { pipeline } = await loadPipelineIn(ws, name);
        const m = await resolveModel(ws, opts.model, { pipeline });
        const features = m.featurizer?.kind === "features" ? m.spec.inputSize : null;
        // A file is checked whole here, before the model loads or runs; it is read again a batch at a time.
        const file = opts.from !== undefined ? await openCalls(opts.from, ws.scratchDir(), features, m.id) : null;
        let run: CallsRun | null = null;
        try {
          const batches = file ? file.batches(batch) : [callsWithIds(parsePayloads(inputs, features, m.id).map((payload) => ({ payload })), opts.id)];
          // Loaded here: serving a model needs TF.js, which `tracebook rewards` never does.
          const { ModelServer } = await import("../../cells/factory/serve.ts");
          const server = new ModelServer(ws.home);
          try {
            run = await runCalls(ws, server, m.id, batches, { fee, caller: opts.caller, pipeline: pipeline.name, source: "cli", epoch: opts.epoch },
              { shown: file ? SHOWN : inputs.length, json: !!opts.json });
          } finally {
            server.dispose();
          }
          if (!opts.settle) console.error(settlementHint(pipeline, name, opts.model));
          else await settle(ws, pipeline, opts.model);
          if (opts.json) return await printCallsJson(run);
          const more = run.calls - run.first.length;
          console.log(formatTable(run.first.map(({ executed: o, call }, i) => ({
            inference: o.id, input: inputText(call.payload, inputs[i]).slice(0, 60), prediction: o.label,
            probabilities: o.probabilities.map((p, c) => `${m.spec.classes[c]} ${p.toFixed(4)}`).join(", "), fee: formatAmount(o.fee),
          }))));
          if (file) console.log(callsSummary(run, m.spec.classes) + (more ? `; the first ${run.first.length} above, all with --json` : ""));
          if (opts.settle) {
            for (const { executed } of run.first) console.log(await settledLine(ws, executed.id));
            if (more) console.log(`… and ${more} more: \`tracebook rewards ${name}\` has the statement, \`tracebook receipt <inference>\` one inference`);
          }
        } finally {
          file?.close(); // standard input's copy too
          if (run?.json) fs.rmSync(run.json, { force: true });
        }
      });
    });

  program
    .command("rewards")
    .description("the settlement statement of a pipeline: who was paid what, and why")
    .argument("<pipeline>", "pipeline name")
    .option("--epoch <epoch>", "one epoch (default: all)")
    .option("--close", "with --epoch: close it, making its settlement final (no run changes its lines, no inference is recorded in it)")
    .option("--by <who>", "with --close: who closes it", `cli:${process.env.USER ?? "user"}`)
    .option("--recipient <name>", "one recipient's side: its totals per epoch and role, its largest lines (inference, model, receipt) and its penalties")
    .option("--limit <n>", "with --recipient: lines per epoch", "10")
    .option("--json", "print JSON")
    .action(async (asked: string, opts: { epoch?: string; close?: boolean; by: string; recipient?: string; limit: string; json?: boolean }, command: Command) => {
      if (opts.close && opts.epoch === undefined) throw new InputError("--close needs --epoch: the epoch to close");
      if (opts.close && opts.recipient !== undefined) throw new InputError("--close or --recipient, not both");
      const limit = wholeNumber(opts.limit, "--limit", { min: 1 });
      await withWorkspace(command, async (ws) => {
        let name = asked;
        if (opts.close) {
          const c = await close(ws, asked, opts.epoch!, opts.by);
          name = c.pipeline; // closing loads the pipeline (a file, too): its name from here on
          if (!opts.json) console.log(`Closed epoch ${c.epoch} of ${name}: ${plural(Number(c.inferences), "inference")}, fees ${formatAmount(c.fees)}, ${c.lines} reward lines (root ${c.lines_root.slice(0, 16)}…); final from now on`);
        }
        if (opts.recipient !== undefined) {
          const side = await recipientStatement(ws, name, opts.recipient, { epoch: opts.epoch, limit });
          console.log(opts.json ? toJson(side) : formatRecipient(name, opts.recipient, side));
          return;
        }
        const where = opts.epoch ? "and epoch = ?" : "";
        const params = opts.epoch ? [name, opts.epoch] : [name];
        const lines = await ws.rows<{ epoch: string; policy: string; recipient: string; role: string; amount: string; inferences: number; reason: string }>(
          `select s.epoch, s.policy, s.recipient, s.role, s.amount::varchar as amount, s.inferences, s.reason from settlements s where s.pipeline = ? ${where}
           order by s.epoch, s.amount desc, s.role, s.recipient`, params);
        if (!lines.length) {
          const epochs = (await ws.rows<{ epoch: string }>("select distinct epoch from settlements where pipeline = ? order by epoch", [name])).map((r) => r.epoch);
          // A mistyped epoch is the likelier mistake where the pipeline has settled others and
          // the ledger holds nothing in this one; one it holds is still to settle.
          if (opts.epoch && epochs.length && !(await ledgerEpochs(ws, name)).includes(opts.epoch)) throw new InputError(`no settlement for pipeline "${name}" in epoch ${opts.epoch} (${didYouMean(opts.epoch, epochs)}its epochs: ${epochs.join(", ")})`);
          throw new InputError(`no settlement for pipeline "${name}"${opts.epoch ? ` in epoch ${opts.epoch}` : ""}: run \`tracebook run ${name}\` first`);
        }
        const fees = await ws.rows<{ epoch: string; fees: string; n: bigint }>(
          `select epoch, sum(fee)::varchar as fees, count(*) as n from inferences where pipeline = ? ${where} group by epoch order by epoch`, params);
        // Per epoch and model: the net runs over one model's inferences (cells/rewards/penalties.ts).
        const scopes = await recordedPenalties(ws, name, opts.epoch);
        const penalties = scopes.flatMap((s) => s.penalised.map((p) => ({ epoch: s.epoch, model_id: s.model_id, contributor: p.contributor, record: p.record })));
        // Which side the penalties fall on (reports/collect/stability.ts): a caveat a reader of the
        // statement needs before acting on a penalty. A pipeline settling in several cells has no single answer.
        const { pipelineSides } = await import("../../reports/collect/sides.ts");
        const { massBoundPenalties } = await import("../../reports/collect/stability.ts");
        const sides = penalties.length
          ? (await pipelineSides(ws, name, penalties).catch((err: unknown) => { if (err instanceof InputError) return []; throw err; }))
            .filter((x) => !opts.epoch || x.epoch === opts.epoch) // the usage table may span epochs: print the one asked for
          : [];
        const cellOf = new Map((await currentModels(ws, name)).map((m) => [m.id, m.cell]));
        const closures = await closedEpochs(ws, name);
        if (opts.json) return console.log(toJson({ lines, fees, penalties, sides, closures: [...closures.values()].filter((c) => !opts.epoch || c.epoch === opts.epoch) }));
        for (const f of fees) {
          const mine = lines.filter((l) => l.epoch === f.epoch);
          const paid = mine.reduce((s, l) => s + BigInt(l.amount), 0n);
          const closure = closures.get(f.epoch);
          console.log(`\nEpoch ${f.epoch} (policy ${mine[0]?.policy ?? "?"}): ${plural(Number(f.n), "inference")} paid ${formatAmount(BigInt(f.fees))} in fees; ` +
            `statement pays out ${formatAmount(paid)} ${paid === BigInt(f.fees) ? "(reconciles to the base unit)" : "(DOES NOT reconcile)"}; ` +
            finality(closure && { at: closure.closed_at, by: closure.closed_by }) + (closure
              ? `; its ${closure.lines} reward lines hash to root ${closure.lines_root} (a recipient's proof: \`tracebook proof ${name} --recipient <name> --epoch ${f.epoch}\`)`
              : ` (\`tracebook rewards ${name} --epoch ${f.epoch} --close\`)`));
          console.log(formatTable(mine.map((l) => ({ recipient: l.recipient, role: l.role, amount: formatAmount(BigInt(l.amount)), inferences: l.inferences, "why (largest lines)": l.reason })), { maxCell: 110, maxRows: 200 }));
          for (const scope of scopes.filter((x) => x.epoch === f.epoch)) {
            console.log(penaltyLine(scope, cellOf));
            const side = sides.find((x) => x.epoch === f.epoch && (x.model_id === scope.model_id || scope.model_id === ""));
            const hit = side ? massBoundPenalties(side) : null;
            if (!hit) continue;
            const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
            console.log(`  Every one of them helps only the ${hit.map((h) => `${h.prediction} predictions (${pct(h.mass_share)} of the influence mass)`).join(", ")} and opposes the rest: ` +
              `the sign of such a net follows where the influence mass sits, not only whether the data hurt (\`tracebook report ${name}\` has the sides and how stable they are)`);
          }
        }
      });
    });
}

/**
 * Close an epoch of a pipeline: its reward split must be up to date (so the closed statement is
 * the one the pipeline would give now), then closures.ts checks every inference is settled.
 */
async function close(ws: Workspace, name: string, epoch: string, by: string): Promise<Closure> {
  const { pipeline } = await loadPipelineIn(ws, name);
  const splits = (await pipelineStatus(ws, pipeline)).filter((c) => c.kind === "reward-split");
  if (!splits.length) throw new InputError(`pipeline ${name} has no rewardSplit cell: nothing is settled, nothing to close`);
  const behind = splits.filter((c) => c.state !== "fresh");
  if (behind.length) {
    throw new InputError(`${behind.map((c) => `cell ${c.cell} is ${c.state}${c.reason ? ` (${c.reason})` : ""}`).join("; ")}: ` +
      `run \`tracebook run ${name}\` first, so the closed statement is the one the pipeline gives now`);
  }
  return closeEpoch(ws, pipeline.name, epoch, { by, at: nowUtc() });
}

/** Whether an epoch's statement is final, as the statements say it. */
function finality(closed: { at: string; by: string } | null | undefined): string {
  return closed ? `closed ${closed.at} by ${closed.by}: final` : "open: provisional until closed";
}

/** One recipient's side, epoch by epoch: final or not, totals per role, penalties, the largest lines. */
function formatRecipient(pipeline: string, recipient: string, side: RecipientEpoch[]): string {
  const out: string[] = [];
  for (const e of side) {
    const paid = e.roles.map((r) => `${formatAmount(BigInt(r.amount))} as ${r.role} from ${r.inferences} inference${r.inferences === 1 ? "" : "s"}`).join(", ") || "nothing";
    out.push(`\n${recipient} in epoch ${e.epoch} of ${pipeline} (${finality(e.closed)}): paid ${paid}`);
    for (const p of e.penalties) out.push(`Penalised on model ${p.model_id ? p.model_id.slice(0, 12) : "(several, as one)"}: ${p.record}`);
    if (e.lines.length) {
      out.push(formatTable(e.lines.map((l) => ({ inference: l.inference_id.slice(0, 12), model: l.model_id.slice(0, 12), role: l.role, amount: formatAmount(BigInt(l.amount)), receipt: l.receipt_hash.slice(0, 12), why: l.reason })), { maxCell: 70 }));
      if (e.line_count > e.lines.length) out.push(`the largest ${e.lines.length} of ${e.line_count} lines (--limit); \`tracebook receipt <inference>\` checks one`);
    }
  }
  return out.join("\n").trimStart();
}

const PENALISED_SHOWN = 20;

/** One penalty scope of a statement: which model's inferences, how many, who earns nothing from them. */
export function penaltyLine(scope: RecordedScope, cellOf: ReadonlyMap<string, string>): string {
  // At scale a model can penalise hundreds (170 of 500 contributors on 100,000 rows): name a few.
  const names = scope.penalised.map((p) => p.contributor);
  const who = names.length > PENALISED_SHOWN
    ? `${names.slice(0, PENALISED_SHOWN).join(", ")} and ${names.length - PENALISED_SHOWN} more (${names.length} in all; --json or --recipient <name> for each)`
    : names.join(", ");
  if (scope.model_id === "") return `Penalised (net influence negative over the epoch's inferences, several models' as one: recorded before penalties were per model): ${who}`;
  const cell = cellOf.get(scope.model_id);
  const n = scope.inferences === null ? "its inferences" : `its ${scope.inferences} inference${scope.inferences === 1 ? "" : "s"}`;
  return `Penalised on model ${scope.model_id.slice(0, 12)} (${cell ? `cell ${cell}` : "retrained since"}; net influence negative over ${n} in the epoch, so nothing from them): ${who}`;
}

/**
 * Run what settles a fee just recorded: each reward split reading a usage ledger that reads this
 * model cell (or any, for a model id), with the stale cells it reads, and nothing else (the
 * pipeline's comparison cells wait for its next run). Fails when no cell would settle it.
 */
async function settle(ws: Workspace, pipeline: Pipeline, model: string): Promise<void> {
  const ledgers = new Set(readingLedgers(pipeline, model).map(([n]) => n));
  const splits = [...pipeline.cells].filter(([, c]) => c.kind === "reward-split" && ledgers.has((c.params as { usage: string }).usage)).map(([n]) => n);
  if (!splits.length) {
    throw new Error(ledgers.size ? `no rewardSplit cell of ${pipeline.name} reads ${[...ledgers].join(", ")}: nothing would settle these fees` : noLedger(pipeline, model));
  }
  for (const cell of splits) await bringUpToDate(ws, pipeline, cell, { stops: "the fees could not be settled" });
}

function readingLedgers(pipeline: Pipeline, model: string) {
  const ledgers = [...pipeline.cells].filter(([, c]) => c.kind === "usage-ledger");
  return pipeline.cells.has(model) ? ledgers.filter(([, c]) => (c.params as UsageLedgerParams).models.includes(model)) : ledgers;
}

/**
 * Where a fee just recorded will be settled: by the pipeline's usageLedger cells that read this
 * model cell, on its next run; or a warning that no cell reads it, so nothing will pay out.
 */
function settlementHint(pipeline: Pipeline, name: string, model: string): string {
  const reading = readingLedgers(pipeline, model);
  if (reading.length) {
    return `Recorded in the usage ledger: cell ${reading.map(([n]) => n).join(", ")} of ${pipeline.name} attributes and settles it on the next ` +
      `\`tracebook run ${name}\` (at once under \`tracebook dev\` or \`run --watch\`).`;
  }
  return `Warning: ${noLedger(pipeline, model)}`;
}

function noLedger(pipeline: Pipeline, model: string): string {
  return `recorded in the usage ledger, but no usageLedger cell of ${pipeline.name} reads ${pipeline.cells.has(model) ? `model cell "${model}"` : "its model cells"}: ` +
    "this fee will not be attributed or paid out until one does (usageLedger({ models: [...] }) in the pipeline).";
}

import { nowUtc, type Workspace } from "../store/workspace.ts";
import { InputError } from "../datanet/errors.ts";
import { formatAmount } from "./amounts.ts";
import { NOT_ATTRIBUTED, catchUpReceipts } from "./archive.ts";
import { lossGradientOf, receiptHash, sharedContributors } from "../attribution/receipts.ts";
import { cellsAsRun, explainSource } from "../attribution/source.ts";
import type { Receipt } from "../attribution/recompute.ts";
import type { Payload } from "../factory/featurize.ts";
import { closedEpochs, closureHolds } from "./closures.ts";

export interface PaymentCheck {
  inference: { id: string; pipeline: string | null; model_id: string; source: string; caller: string; epoch: string; fee: string; executed_at: string; prediction: string };
  lines: { policy: string; recipient: string; role: string; amount: string; reason: string; receipt_hash: string }[];
  receipt: { hash: string; body: ReceiptBody } | null;
  checks: { name: string; ok: boolean; detail: string }[];
  ok: boolean;
}

type ReceiptBody = Receipt & { query: string; model: { id: string } };

const MIN_PREFIX = 8;

/**
 * A reviewer's check of one paid inference, end to end (archiving first any cited receipt still
 * only in a receipts file): its ledger record; the reward lines that
 * split its fee (summing to it, per policy); the receipt they cite, from the archive (its hash
 * recomputes from its JSON, it names this inference and the model that executed it, and every
 * contributor paid has a positive share in it); and with `recompute`, TracIn run again on the
 * recorded input through that model and the contributions its lineage names. In a closed epoch,
 * also that the epoch's lines still hash to the root it was closed with (closures.ts).
 */
export async function checkPayment(ws: Workspace, ref: string, o: { recompute?: boolean } = {}): Promise<PaymentCheck> {
  const inference = await findInference(ws, ref);
  // Lines settled before the archive existed: their receipts, from the files still on disk.
  await catchUpReceipts(ws, nowUtc());
  const checks: PaymentCheck["checks"] = [];
  const add = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  const lines = await ws.rows<PaymentCheck["lines"][number]>(
    `select policy, recipient, role, amount::varchar as amount, reason, receipt_hash from rewards where inference_id = ?
     order by policy, amount::hugeint desc, role, recipient`, [inference.id]);
  add("settled", lines.length > 0, lines.length ? `${lines.length} reward lines` : `no reward line pays this fee yet: ${await whoSettles(ws, inference.pipeline)}`);
  for (const policy of [...new Set(lines.map((l) => l.policy))]) {
    const sum = lines.filter((l) => l.policy === policy).reduce((s, l) => s + BigInt(l.amount), 0n);
    add(`the lines sum to the fee (policy ${policy})`, sum === BigInt(inference.fee), `${formatAmount(sum)} paid of a fee of ${formatAmount(BigInt(inference.fee))}`);
  }
  const hashes = [...new Set(lines.map((l) => l.receipt_hash))];
  let receipt: PaymentCheck["receipt"] = null;
  if (hashes.length > 1) add("the lines cite one receipt", false, `they cite ${hashes.length}: ${hashes.map((h) => h.slice(0, 12)).join(", ")}`);
  else if (hashes[0] === NOT_ATTRIBUTED) add("the lines cite one receipt", true, "the model was not attributed: the contributors' part went to the protocol, and no receipt was written");
  else if (hashes[0]) {
    const [archived] = await ws.rows<{ receipt: string }>("select receipt from attribution_receipts where receipt_hash = ?", [hashes[0]]);
    add("the receipt the lines cite is archived", !!archived, archived ? hashes[0] : `${hashes[0]} is nowhere: settled before the archive existed, its receipts file has been collected`);
    if (archived) {
      const body = JSON.parse(archived.receipt) as ReceiptBody;
      receipt = { hash: hashes[0], body };
      const again = receiptHash(archived.receipt);
      add("the receipt's hash recomputes from its JSON", again === hashes[0], again === hashes[0] ? "sha256 of the canonical JSON matches" : `recomputed ${again}`);
      const names = body.query === inference.id && body.model?.id === inference.model_id;
      add("the receipt names this inference and the model that executed it", names, names ? `model ${inference.model_id.slice(0, 12)}` : `it names inference ${body.query} and model ${body.model?.id}`);
      const shared = sharedContributors(body);
      const strays = lines.filter((l) => l.role === "contributor" && !shared.has(l.recipient)).map((l) => l.recipient);
      add("every contributor paid has a positive share in the receipt", !strays.length, strays.length ? `not in it: ${strays.join(", ")}` : `${lines.filter((l) => l.role === "contributor").length} contributors paid`);
      if (o.recompute) add(...(await recomputed(ws, inference, body)));
    }
  }
  // Final or not: a closed epoch's lines (this one's among them) hash to the root it was closed with.
  const closure = inference.pipeline && lines.length ? (await closedEpochs(ws, inference.pipeline)).get(inference.epoch) : undefined;
  if (closure) {
    const now = await closureHolds(ws, closure);
    add("its epoch is closed and keeps the lines it was closed with", now.holds, now.holds
      ? `epoch ${closure.epoch} closed ${closure.closed_at} by ${closure.closed_by}: final; its ${closure.lines} lines hash to ${closure.lines_root.slice(0, 16)}…`
      : `epoch ${closure.epoch} was closed with ${closure.lines} lines hashing to ${closure.lines_root.slice(0, 16)}…; now ${now.lines} lines hash to ${now.root.slice(0, 16)}…`);
  }
  const { payload: _payload, ...record } = inference;
  return { inference: record, lines, receipt, checks, ok: checks.every((c) => c.ok) };
}

/** What would settle an inference of this pipeline: its next run, if a usage ledger of it has run. */
async function whoSettles(ws: Workspace, pipeline: string | null): Promise<string> {
  if (!pipeline) return "it names no pipeline, so none settles it";
  const ledger = [...(await cellsAsRun(ws, pipeline)).values()].some((c) => c.kind === "usage-ledger");
  return ledger ? `\`tracebook run ${pipeline}\` settles it`
    : `no usageLedger cell of pipeline ${pipeline} has run, so nothing settles it (declare one: usageLedger({ models: [...] }))`;
}

async function findInference(ws: Workspace, ref: string): Promise<PaymentCheck["inference"] & { payload: Payload }> {
  const wanted = ref.trim();
  if (!wanted) throw new InputError("give an inference id");
  // A caller's own ids may be short ("cli-1"): those match in full; a prefix needs MIN_PREFIX characters.
  const prefix = wanted.length >= MIN_PREFIX;
  const rows = await ws.rows<PaymentCheck["inference"] & { payload_json: string }>(
    `select id, pipeline, model_id, source, caller, epoch, fee::varchar as fee, strftime(executed_at, '%Y-%m-%dT%H:%M:%S.%gZ') as executed_at, prediction, payload_json
     from inferences where id = ? or (? and starts_with(id, ?)) order by id = ? desc, id limit 3`, [wanted, prefix, wanted, wanted]);
  if (!rows.length) {
    throw new InputError(`no inference "${ref}" in the usage ledger${prefix ? "" : ` (an id in full, or a unique prefix of at least ${MIN_PREFIX} characters)`}`);
  }
  if (rows[0]!.id !== wanted && rows.length > 1) throw new InputError(`"${ref}" names several inferences (${rows.map((r) => r.id).join(", ")}, …): give more of the id`);
  const { payload_json, ...r } = rows[0]!;
  return { ...r, payload: JSON.parse(payload_json) as Payload };
}

/** TracIn again, on the input the ledger recorded, through the model the receipt names. */
async function recomputed(ws: Workspace, inference: Awaited<ReturnType<typeof findInference>>, body: ReceiptBody): Promise<[string, boolean, string]> {
  const name = "TracIn run again matches the receipt";
  if (!inference.pipeline) return [name, false, "the inference names no pipeline, so no tracin cell to run again"];
  const cells = await cellsAsRun(ws, inference.pipeline);
  // The tracin cell the reward split read.
  const read = [...new Set([...cells.values()].filter((c) => c.kind === "reward-split").map((c) => (c.params as { influence?: string }).influence))];
  const source = await explainSource(ws, inference.pipeline, cells, read.length === 1 ? read[0] : undefined);
  const top = Math.max(1, body.top_contributions.length);
  // Loaded here: the TracIn engine (TF.js, onnxruntime) costs every other check a second to start.
  const { disagreement, explainThrough } = await import("../attribution/recompute.ts");
  const got = await explainThrough(ws, source, body.model.id, [{ payload: inference.payload, lossGradient: lossGradientOf(body) }], top);
  if ("why" in got) return [name, false, `model ${body.model.id.slice(0, 12)} cannot be traced: ${got.why}`];
  const why = disagreement(body, got[0]!, top);
  return [name, !why, why ?? `through model ${body.model.id.slice(0, 12)} and ${body.model.id === source.modelId ? `its training rows (${source.params.train})` : "the contributions its lineage names"}: prediction, top ${top} contributions in order with their scores, contributor and Datanet shares`];
}

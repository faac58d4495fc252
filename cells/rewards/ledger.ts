import { canonicalJson, sha256 } from "../graph/fingerprint.ts";
import type { Payload } from "../factory/featurize.ts";
import type { ModelServer, Prediction } from "../factory/serve.ts";
import { readManifest } from "../factory/store.ts";
import type { Workspace } from "../store/workspace.ts";
import { InputError } from "../datanet/errors.ts";
import { epochsOpen } from "./closures.ts";
import { stageRows } from "../store/stage.ts";

/** One executed inference, as the usage ledger keeps it. */
export interface InferenceRecord {
  id: string;
  pipeline: string | null;
  modelId: string;
  modelKind: string;
  payload: Payload;
  prediction: string;
  confidence: number;
  /** Integer base units (18 decimals). */
  fee: bigint;
  caller: string;
  epoch: string;
  /** How it came in: "cli", "api", or "workload:<pipeline>.<cell>". */
  source: string;
  executedAt: Date;
}

/** The canonical payload (only the fields a model reads) and its hash. */
export function payloadOf(p: Payload): { json: string; sha256: string } {
  const clean: Record<string, unknown> = {};
  if (p.title) clean.title = p.title;
  if (p.text) clean.text = p.text;
  if (p.features) clean.features = Array.from(p.features);
  const json = canonicalJson(clean);
  return { json, sha256: sha256(json) };
}

/**
 * The UTC month of a time ("2026-12"): the default epoch of an inference. An epoch is what a
 * penalty nets influence over and what a closure makes final, so it has to hold enough
 * inferences for a net to mean something (a day held one or two on a quiet pipeline), and
 * settlement statements read by the month; the demo's workload settles in a month too.
 */
export function epochOf(at: Date): string {
  return at.toISOString().slice(0, 7);
}

/** The epochs the ledger holds inferences of a pipeline in, in order: what an epoch asked for by name is checked against. */
export async function ledgerEpochs(ws: Workspace, pipeline: string): Promise<string[]> {
  return (await ws.rows<{ epoch: string }>("select distinct epoch from inferences where pipeline = ? order by epoch", [pipeline])).map((r) => r.epoch);
}

/** What names an inference in the ledger says something: its id, who paid for it, the epoch it settles in. */
function refuseBlank(r: { id?: string; caller?: string; epoch?: string }): void {
  for (const [field, value] of [["id", r.id], ["caller", r.caller], ["epoch", r.epoch]] as const) {
    if (value !== undefined && !value.trim()) throw new InputError(`an inference's ${field} cannot be blank`);
  }
}

/**
 * Record inferences in one transaction. Idempotent on the id: an inference already recorded
 * with the same model, payload, fee and caller is left as it is (a replay changes nothing); the
 * same id with different facts is refused, naming the id and the field that differs. A new
 * inference in an epoch its pipeline closed is refused (closures.ts). Records are judged in
 * order, as if written one by one (an id twice in one call: the second is a replay of the first,
 * or refused), but written in three statements whatever their number: a point lookup and an
 * insert per record cost 2.4 ms each, 48 s for 20,000 paid inferences. `recorded[i]`: whether
 * records[i] was written by this call (false: a replay, which pays nothing again).
 */
export async function recordInferences(ws: Workspace, records: readonly InferenceRecord[]): Promise<{ added: number; replayed: number; recorded: boolean[] }> {
  if (records.some((r) => r.fee < 0n)) throw new InputError("an inference fee cannot be negative");
  for (const r of records) refuseBlank(r);
  return ws.transaction(() => recordWithin(ws, records));
}

/** recordInferences' work, inside a transaction the caller holds (checked records). */
async function recordWithin(ws: Workspace, records: readonly InferenceRecord[]): Promise<{ added: number; replayed: number; recorded: boolean[] }> {
  await stageRows(ws, "__tracebook_recording_ids", [["id", "VARCHAR"]], [...new Set(records.map((r) => r.id))].map((id) => [id]));
  const known = new Map((await ws.rows<Recorded & { id: string }>(
    "select id, model_id, payload_sha256, fee, caller from inferences where id in (select id from __tracebook_recording_ids)")).map((e) => [e.id, e as Recorded]));
  const open = epochsOpen(ws);
  const fresh: { r: InferenceRecord; payload: { json: string; sha256: string } }[] = [];
  let replayed = 0;
  const recorded: boolean[] = [];
  for (const r of records) {
    const payload = payloadOf(r.payload);
    recorded.push(!known.has(r.id));
    const existing = known.get(r.id);
    if (existing) {
      const differs = existing.model_id !== r.modelId ? "model" : existing.payload_sha256 !== payload.sha256 ? "payload"
        : BigInt(existing.fee) !== r.fee ? "fee" : existing.caller !== r.caller ? "caller" : null;
      if (differs) throw new InputError(`inference ${r.id} is already recorded with a different ${differs}; an inference id names one execution`);
      replayed++;
      continue; // a replay records nothing, so it may name a closed epoch
    }
    await open(r); // the transaction rolls back what this call staged
    fresh.push({ r, payload });
    known.set(r.id, { model_id: r.modelId, payload_sha256: payload.sha256, fee: r.fee, caller: r.caller });
  }
  if (!fresh.length) return { added: 0, replayed, recorded };
  // Staged as text (a fee past 2^53, the time as written) and cast as the table's columns; a
  // confidence goes through JSON as the shortest text that reads back as the same double.
  await stageRows(ws, "__tracebook_recording", RECORDING, fresh.map(({ r, payload }) => [
    r.id, r.pipeline, r.modelId, r.modelKind, payload.json, payload.sha256, r.prediction, r.confidence, r.fee.toString(), r.caller, r.epoch, r.source,
    r.executedAt.toISOString().replace("T", " ").replace("Z", ""),
  ]));
  await ws.run(
    `insert into inferences (id, pipeline, model_id, model_kind, payload_json, payload_sha256, prediction, confidence, fee, caller, epoch, source, executed_at)
     select id, pipeline, model_id, model_kind, payload_json, payload_sha256, prediction, confidence, fee::hugeint, caller, epoch, source, executed_at::timestamp
     from __tracebook_recording`);
  return { added: fresh.length, replayed, recorded };
}

/** What an id already in the ledger is compared on. */
interface Recorded { model_id: string; payload_sha256: string; fee: bigint; caller: string }

/** The staged columns of recordInferences, in the ledger's order. */
const RECORDING: [string, string][] = [
  ["id", "VARCHAR"], ["pipeline", "VARCHAR"], ["model_id", "VARCHAR"], ["model_kind", "VARCHAR"], ["payload_json", "VARCHAR"], ["payload_sha256", "VARCHAR"],
  ["prediction", "VARCHAR"], ["confidence", "DOUBLE"], ["fee", "VARCHAR"], ["caller", "VARCHAR"], ["epoch", "VARCHAR"], ["source", "VARCHAR"], ["executed_at", "VARCHAR"],
];

export interface InferOptions {
  fee: bigint;
  caller: string;
  pipeline?: string | null;
  source?: string;
  epoch?: string;
  /** Inference ids, one per input; by default a fresh random id per execution. */
  ids?: string[];
  at?: Date;
}

/** One call of a batch: its input, and what it says of itself where a batch's calls differ (else the options'). */
export interface Call { payload: Payload; id?: string; caller?: string; fee?: bigint; epoch?: string }

/**
 * A call as executed and recorded: the prediction, the id it is recorded under, what it paid,
 * who paid, its epoch, and whether this call recorded it (false: a replay of an id already in
 * the ledger, which records and pays nothing).
 */
export type Executed = Prediction & { id: string; fee: bigint; caller: string; epoch: string; recorded: boolean };

/**
 * Run inputs through a model (base, adapter or imported) and record each execution in the
 * ledger: the programmatic way in. Returns the predictions with their inference ids.
 */
export async function infer(ws: Workspace, server: ModelServer, modelId: string, inputs: readonly Payload[], o: InferOptions): Promise<(Prediction & { id: string })[]> {
  const executed = await inferCalls(ws, server, modelId, inputs.map((payload) => ({ payload })), o);
  return executed.map(({ label, probabilities, id }) => ({ label, probabilities, id }));
}

/**
 * Run a batch of calls through a model and record each execution, as `infer` does, each with
 * its own id, caller, fee and epoch where it names them (a log of calls replayed from a file).
 * The model runs first, then the batch is recorded in one transaction: all of it or nothing.
 */
export async function inferCalls(ws: Workspace, server: ModelServer, modelId: string, calls: readonly Call[], o: InferOptions): Promise<Executed[]> {
  const executed: Executed[] = [];
  await inferCallBatches(ws, server, modelId, [callsWithIds(calls, o.ids)], o, (e) => void executed.push(...e));
  return executed;
}

/** `calls` with `ids[i]` the id of a call that names none (`InferOptions.ids`: one per call). */
export function callsWithIds(calls: readonly Call[], ids?: readonly string[]): Call[] {
  if (!ids) return [...calls];
  if (ids.length !== calls.length) throw new InputError(`${ids.length} inference ids for ${calls.length} inputs`);
  return calls.map((c, i) => (c.id === undefined ? { ...c, id: ids[i] } : c));
}

/**
 * Calls in batches (a file of millions, read a batch at a time), each batch run through the model
 * and recorded as inferCalls does, all of them in one transaction: every call is recorded, or
 * none is. `each` is told each batch's calls as executed, once recorded (before the commit: what
 * it keeps of them is the caller's to drop if the transaction then fails). An id a batch records
 * is a replay in any later batch.
 */
export async function inferCallBatches(ws: Workspace, server: ModelServer, modelId: string, batches: Iterable<readonly Call[]> | AsyncIterable<readonly Call[]>, o: Omit<InferOptions, "ids">,
  each: (executed: Executed[], calls: readonly Call[]) => void | Promise<void>): Promise<void> {
  const at = o.at ?? new Date();
  const manifest = readManifest(ws.home, modelId);
  await ws.transaction(async () => {
    for await (const calls of batches) {
      if (!calls.length) continue;
      const facts = calls.map((c) => ({ id: c.id ?? crypto.randomUUID(), caller: c.caller ?? o.caller, fee: c.fee ?? o.fee, epoch: c.epoch ?? o.epoch ?? epochOf(at) }));
      // Before the model runs (recordWithin takes them as checked).
      for (const f of facts) refuseBlank(f);
      if (facts.some((f) => f.fee < 0n)) throw new InputError("an inference fee cannot be negative");
      const predictions = await server.infer(modelId, calls.map((c) => c.payload));
      const { recorded } = await recordWithin(ws, predictions.map((p, i) => ({
        ...facts[i]!, pipeline: o.pipeline ?? null, modelId, modelKind: manifest.kind, payload: calls[i]!.payload, prediction: p.label,
        confidence: Math.max(...p.probabilities), source: o.source ?? "api", executedAt: at,
      })));
      await each(predictions.map((p, i) => ({ ...p, ...facts[i]!, recorded: recorded[i]! })), calls);
    }
  });
}

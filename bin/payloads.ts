import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { InputError } from "../cells/datanet/errors.ts";
import { readJsonl } from "../datasets/files/jsonl.ts";
import type { RecordSet } from "../datasets/files/types.ts";
import type { Payload } from "../cells/factory/featurize.ts";
import { payloadOf, type Call } from "../cells/rewards/ledger.ts";
import { parseAmount } from "../cells/rewards/amounts.ts";

/**
 * Command-line inputs as payloads: texts, or JSON arrays of numbers for a model that reads
 * `features` numbers. "-" reads one input from standard input (a whole e-mail, say).
 */
export function parsePayloads(inputs: readonly string[], features: number | null, model: string): Payload[] {
  let stdinRead = false;
  return inputs.map((arg, i) => {
    let text = arg;
    if (arg === "-") {
      if (stdinRead) throw new InputError(`input ${i + 1}: "-" (standard input) can be given once`);
      stdinRead = true;
      text = fs.readFileSync(0, "utf8");
    }
    if (features === null) return { text };
    try {
      const values = JSON.parse(text) as unknown;
      if (!Array.isArray(values) || !values.every((v) => typeof v === "number")) throw new Error("not an array of numbers");
      return { features: values as number[] };
    } catch (err) {
      throw new InputError(`input ${i + 1}: model ${model.slice(0, 12)} reads ${features} features; give a JSON array of numbers (${(err as Error).message})`);
    }
  });
}

/** The fields a line of a calls file may hold. */
const CALL_FIELDS = ["text", "title", "features", "id", "caller", "fee", "epoch"];

/**
 * A file of calls (`tracebook infer --from`; `-`: standard input), read as the importers read a
 * JSONL file (readJsonl: streamed, strict UTF-8, one JSON object a line, blank lines skipped,
 * each error naming the file and the line), each line then checked as a call (parseCalls).
 * Standard input is spooled to a file in `scratch` first: the reader names a bad byte by reading
 * the file again.
 */
export async function readCalls(from: string, scratch: string, features: number | null, model: string): Promise<Call[]> {
  if (from !== "-") return parseCalls(await readJsonl(from), features, model);
  const file = path.join(scratch, `calls-${randomUUID()}.jsonl`);
  try {
    fs.writeFileSync(file, fs.readFileSync(0));
    return await parseCalls(await readJsonl(file), features, model); // awaited here: the file goes in `finally`
  } catch (err) {
    if (err instanceof InputError && err.file === file) throw new InputError(err.reason, { file: "standard input", row: err.row, field: err.field });
    throw err;
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/**
 * The calls of a JSONL record set: the input (`text` and `title`, or `features` for a model that
 * reads numbers) and, where a call names them, its `id`, `caller`, `fee` (a decimal string of
 * tokens: a JSON number would round) and `epoch`. Every error names the file, the line and the
 * field; an unknown field is refused, so a misspelt "txt" is not an empty input paid for.
 */
export async function parseCalls(set: RecordSet, features: number | null, model: string): Promise<Call[]> {
  const calls: Call[] = [];
  const lineOf = new Map<string, { line: number; call: Call }>();
  for await (const { row, values: o } of set.records) {
    const at = (field?: string) => ({ file: set.file, row, field });
    for (const k of Object.keys(o)) {
      if (!CALL_FIELDS.includes(k)) throw new InputError(`unknown field (a call has ${CALL_FIELDS.join(", ")})`, at(k));
    }
    for (const k of ["text", "title", "id", "caller", "epoch", "fee"]) {
      if (o[k] !== undefined && typeof o[k] !== "string") throw new InputError(`expected a string${k === "fee" ? ` of tokens such as "0.002" (a JSON number would round)` : ""}`, at(k));
    }
    for (const k of ["id", "caller", "epoch"]) {
      if (typeof o[k] === "string" && !(o[k] as string).trim()) throw new InputError("cannot be blank", at(k));
    }
    const call: Call = { payload: {} };
    if (features === null) {
      if (o.features !== undefined) throw new InputError(`model ${model.slice(0, 12)} reads text: give "text" (and "title")`, at("features"));
      if (o.text === undefined && o.title === undefined) throw new InputError(`no input: give "text" (and "title")`, at());
      call.payload = { ...(o.title !== undefined ? { title: o.title as string } : {}), ...(o.text !== undefined ? { text: o.text as string } : {}) };
    } else {
      const f = o.features;
      if (o.text !== undefined || o.title !== undefined) throw new InputError(`model ${model.slice(0, 12)} reads ${features} features, not text`, at(o.text !== undefined ? "text" : "title"));
      if (!Array.isArray(f) || !f.every((v) => typeof v === "number")) throw new InputError(`model ${model.slice(0, 12)} reads ${features} features: give a JSON array of numbers`, at("features"));
      if (f.length !== features) throw new InputError(`${f.length} numbers; model ${model.slice(0, 12)} reads ${features}`, at("features"));
      call.payload = { features: f as number[] };
    }
    if (o.id !== undefined) call.id = o.id as string;
    if (o.caller !== undefined) call.caller = o.caller as string;
    if (o.epoch !== undefined) call.epoch = o.epoch as string;
    if (o.fee !== undefined) {
      try {
        call.fee = parseAmount(o.fee as string, "fee");
      } catch (err) {
        throw new InputError((err as Error).message.replace(/^fee: /, ""), at("fee"));
      }
    }
    // An id twice names one execution twice: a replay, unless the lines disagree on what it was.
    const first = call.id === undefined ? undefined : lineOf.get(call.id);
    if (first) {
      const differs = payloadOf(first.call.payload).sha256 !== payloadOf(call.payload).sha256 ? "input"
        : first.call.caller !== undefined && call.caller !== undefined && first.call.caller !== call.caller ? "caller"
        : first.call.fee !== undefined && call.fee !== undefined && first.call.fee !== call.fee ? "fee" : null;
      if (differs) throw new InputError(`id ${JSON.stringify(call.id)} is line ${first.line}'s too, with another ${differs}; an inference id names one execution`, at("id"));
    } else if (call.id !== undefined) lineOf.set(call.id, { line: row, call });
    calls.push(call);
  }
  return calls;
}

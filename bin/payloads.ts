import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { InputError } from "../cells/datanet/errors.ts";
import { readJsonl } from "../datasets/files/jsonl.ts";
import { pipeline } from "node:stream/promises";
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
    let values: unknown;
    try {
      values = JSON.parse(text);
      if (!Array.isArray(values) || !values.every((v) => typeof v === "number")) throw new Error("not an array of numbers");
    } catch (err) {
      throw new InputError(`input ${i + 1}: model ${model.slice(0, 12)} reads ${features} features; give a JSON array of numbers (${(err as Error).message})`);
    }
    // Checked here, as a line of a calls file is: the caller's mistake (exit 2), named as their input.
    if (values.length !== features) throw new InputError(`input ${i + 1}: ${wrongCount(values.length, features, model)}`);
    return { features: values as number[] };
  });
}

/** A feature input of the wrong length, said the same for an argument and a line of a calls file. */
const wrongCount = (n: number, features: number, model: string) => `${n} numbers; model ${model.slice(0, 12)} reads ${features}`;

/** The fields a line of a calls file may hold. */
const CALL_FIELDS = ["text", "title", "features", "id", "caller", "fee", "epoch"];

/**
 * A file of calls (`tracebook infer --from`), every line already checked (a bad one was refused
 * before any call is read): `batches` reads them (once), `size` at a time, so a file of millions
 * of calls never sits in memory. `close` lets go of it (and of standard input's copy).
 */
export interface CallFile {
  batches(size: number): AsyncGenerator<Call[]>;
  close(): void;
}

/**
 * Open a file of calls (`-`: standard input), read as the importers read a JSONL file (readJsonl:
 * streamed, strict UTF-8, one JSON object a line, blank lines skipped, each error naming the file
 * and the line), each line checked as a call (parseCall) and against the lines before it with the
 * same id, in the reader's first pass. Standard input is copied to a file in `scratch` first (the
 * reader reads it twice, and names a bad byte by reading it again), and named as such in errors.
 */
export async function openCalls(from: string, scratch: string, features: number | null, model: string): Promise<CallFile> {
  const spooled = from === "-" ? path.join(scratch, `calls-${randomUUID()}.jsonl`) : null;
  const file = spooled ?? from;
  const named = (err: unknown) => spooled && err instanceof InputError && err.file === spooled
    ? new InputError(err.reason, { file: "standard input", row: err.row, field: err.field }) : err;
  try {
    if (spooled) await pipeline(process.stdin, fs.createWriteStream(spooled));
    const ids = new IdCheck();
    const set = await readJsonl(file, { check: (values, row) => ids.check(parseCall(values, { file, row }, features, model), { file, row }) });
    return {
      async *batches(size) {
        let batch: Call[] = [];
        try {
          for await (const { row, values } of set.records) {
            batch.push(parseCall(values, { file, row }, features, model));
            if (batch.length === size) {
              yield batch;
              batch = [];
            }
          }
        } catch (err) {
          throw named(err);
        }
        if (batch.length) yield batch;
      },
      close() {
        set.close?.();
        if (spooled) fs.rmSync(spooled, { force: true });
      },
    };
  } catch (err) {
    if (spooled) fs.rmSync(spooled, { force: true });
    throw named(err);
  }
}

/**
 * One line of a calls file as a call: the input (`text` and `title`, or `features` for a model
 * that reads numbers) and, where the line names them, its `id`, `caller`, `fee` (a decimal string
 * of tokens: a JSON number would round) and `epoch`. Every error names the file, the line and the
 * field; an unknown field is refused, so a misspelt "txt" is not an empty input paid for.
 */
export function parseCall(o: Record<string, unknown>, where: { file: string; row: number }, features: number | null, model: string): Call {
  const at = (field?: string) => ({ ...where, field });
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
    if (f.length !== features) throw new InputError(wrongCount(f.length, features, model), at("features"));
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
  return call;
}

/**
 * An id twice in a file names one execution twice: a replay, unless the lines disagree on what it
 * was. Per id only what lines are compared on is kept (the input's hash, not the input).
 */
class IdCheck {
  private readonly first = new Map<string, { line: number; sha256: string; caller?: string; fee?: bigint }>();

  check(call: Call, where: { file: string; row: number }): void {
    if (call.id === undefined) return;
    const sha256 = payloadOf(call.payload).sha256;
    const first = this.first.get(call.id);
    if (!first) {
      this.first.set(call.id, { line: where.row, sha256, caller: call.caller, fee: call.fee });
      return;
    }
    const differs = first.sha256 !== sha256 ? "input"
      : first.caller !== undefined && call.caller !== undefined && first.caller !== call.caller ? "caller"
      : first.fee !== undefined && call.fee !== undefined && first.fee !== call.fee ? "fee" : null;
    if (differs) throw new InputError(`id ${JSON.stringify(call.id)} is line ${first.line}'s too, with another ${differs}; an inference id names one execution`, { ...where, field: "id" });
  }
}

import fs from "node:fs";
import { InputError } from "../cells/datanet/errors.ts";
import type { Payload } from "../cells/factory/featurize.ts";

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

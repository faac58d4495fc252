import { z } from "zod";
import { didYouMean } from "./nearest.ts";
import { PipelineError } from "./cell.ts";

// A pipeline file is run by tsx, which strips types without checking them: a misspelt option
// (`topk: 10`) would otherwise be ignored and the cell run with its default, and a missing one
// would fail deep inside a run. Every cell factory checks its options against a schema here.
// The schema only checks: the options the cell keeps (and fingerprints) are the ones given.

/**
 * A cell's options object: an option it does not have is refused, with the nearest name it
 * does have and the list of them.
 */
export function options<S extends z.core.$ZodLooseShape>(shape: S) {
  const names = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) => (issue.code === "unrecognized_keys" ? unknownOptions(issue.keys, names) : undefined),
  });
}

function unknownOptions(given: string[], names: string[]): string {
  return given.map((key) => `"${key}" is not an option (${didYouMean(key, names)}options: ${names.join(", ")})`).join("; ");
}

/** Positive integers: sizes, counts, epochs. */
export const positiveInt = z.int({ error: "must be a positive integer" }).min(1, { error: "must be a positive integer" });
/** Seeds: any integer (0 included). */
export const seed = z.int({ error: "must be an integer (a seed)" });
/** The name of another cell of the pipeline. */
export const cellName = z.string({ error: "must name a cell of the pipeline" }).min(1, { error: "must name a cell of the pipeline" });

/** Check a cell factory's options; throws one line naming the factory and each option that is wrong. */
export function checkOptions(factory: string, schema: z.ZodType, given: unknown): void {
  const result = schema.safeParse(given, { reportInput: true });
  if (result.success) return;
  // A misspelt name first: the missing option it leaves behind is the same mistake.
  const issues = [...result.error.issues].sort((a, b) => Number(b.code === "unrecognized_keys") - Number(a.code === "unrecognized_keys"));
  const problems = issues.slice(0, 4).map(describe);
  const more = result.error.issues.length - problems.length;
  throw new PipelineError(`${factory}: ${problems.join("; ")}${more > 0 ? `; and ${more} more` : ""}`);
}

/** Where a zod issue is, as a reader writes it: `lines[0].path[1].side` ("" at the top). */
export function issuePath(issue: z.core.$ZodIssue): string {
  return issue.path.reduce<string>((s, k) => (typeof k === "number" ? `${s}[${k}]` : s ? `${s}.${String(k)}` : String(k)), "");
}

function describe(issue: z.core.$ZodIssue): string {
  const where = issuePath(issue);
  const at = (text: string) => (where ? `${where} ${text}` : text);
  if (issue.code === "unrecognized_keys") return where ? `${where}: ${issue.message}` : issue.message;
  if (issue.code === "invalid_type") {
    const input = (issue as { input?: unknown }).input;
    const kind = KINDS[issue.expected] ?? issue.expected;
    if (input === undefined) return at(`is required (${kind})`);
    // A message set on the schema says what the value must be; zod's own names the type.
    const must = /^Invalid input/.test(issue.message) ? `must be ${kind}` : issue.message;
    return at(`${must}, got ${shown(input)}`);
  }
  if (issue.code === "invalid_value") return at(`must be ${issue.values.map((v) => JSON.stringify(v)).join(" or ")}, got ${shown((issue as { input?: unknown }).input)}`);
  const input = (issue as { input?: unknown }).input;
  return at(`${issue.message.replace(/^Invalid input$/, "is not valid")}${input !== undefined && typeof input !== "object" ? `, got ${shown(input)}` : ""}`);
}

const KINDS: Record<string, string> = { array: "a list", object: "an object", number: "a number", int: "an integer", string: "a string", boolean: "true or false" };

function shown(v: unknown): string {
  const text = typeof v === "string" ? `${JSON.stringify(v)} (a string)` : JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

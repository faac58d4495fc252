import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { InputError } from "../datanet/errors.ts";
import { MAX_FEATURES } from "../datanet/limits.ts";

/**
 * A Datanet's validation rules, declarative and versioned: plain JSON, so it can live in the
 * pipeline or in a file beside it (`mail-spam.rules.json`), and it enters the `validate` cell's
 * params, so editing a rule makes the flags stale. `version` is the curators' own number: bump
 * it when a rule changes meaning, so decisions citing `name@version/rule` stay interpretable.
 *
 *   { "format": "tracebook.rules/1", "name": "mail-spam", "version": 1,
 *     "rules": [{ "id": "near-duplicate", "kind": "near-duplicate", "threshold": 0.8 }, ...] }
 *
 * Every parameter has a documented default (below), filled in by `parseRuleSet`, so the params
 * that enter the fingerprint are the effective ones.
 */
export const RULES_FORMAT = "tracebook.rules/1";

export const RULE_KINDS = ["schema", "empty", "oversize", "exact-duplicate", "near-duplicate", "label-set", "rate-limit"] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

/** Payload present and typed as the Datanet's kind says; id and split recomputable from the content. */
export interface SchemaRule { id: string; kind: "schema" }
/** Text (title + body, trimmed) shorter than `minChars`; feature vectors that are constant (blank). */
export interface EmptyRule { id: string; kind: "empty"; minChars: number }
/** Text over `maxTextBytes` of UTF-8, raw HTML over `maxHtmlBytes`, more than `maxFeatures` features. */
export interface OversizeRule { id: string; kind: "oversize"; maxTextBytes: number; maxHtmlBytes: number; maxFeatures: number }
/** The same payload (label aside, whitespace collapsed) as another contribution of this Datanet, or the same contribution earlier in another Datanet. */
export interface ExactDuplicateRule { id: string; kind: "exact-duplicate"; acrossDatanets: boolean }
/**
 * Text: MinHash over word `shingle`-grams, `hashes` hash functions in `bands` LSH bands, and a
 * flag when the exact Jaccard similarity with an earlier contribution is ≥ `threshold`.
 * Features: SimHash (random hyperplanes, `bits` in `bitBands`) and a flag when the exact cosine
 * similarity is ≥ `cosine`. `seed` fixes the hash functions and hyperplanes.
 */
export interface NearDuplicateRule {
  id: string; kind: "near-duplicate"; shingle: number; hashes: number; bands: number; threshold: number;
  bits: number; bitBands: number; cosine: number; seed: number; maxCompare: number;
}
/** A label outside `allowed` (default: the labels the Datanet declares). */
export interface LabelSetRule { id: string; kind: "label-set"; allowed: string[] | null }
/**
 * A contributor whose submissions in one window (`windowDays`, tumbling, aligned to 1970-01-01
 * UTC) reach `factor` × the median of the contributors active in that window, and at least
 * `minSubmissions`; windows with fewer than `minContributors` active have no meaningful median.
 */
export interface RateLimitRule { id: string; kind: "rate-limit"; windowDays: number; factor: number; minSubmissions: number; minContributors: number }

export type Rule = SchemaRule | EmptyRule | OversizeRule | ExactDuplicateRule | NearDuplicateRule | LabelSetRule | RateLimitRule;

export interface RuleSet {
  format: typeof RULES_FORMAT;
  name: string;
  version: number;
  rules: Rule[];
}

/** Defaults per kind. Why these numbers is said next to each. */
const DEFAULTS: { [K in RuleKind]: Omit<Extract<Rule, { kind: K }>, "id" | "kind"> } = {
  schema: {},
  // 20 characters: fewer is a subject line with no body, or a stray "ok" — rarely a usable example.
  empty: { minChars: 20 },
  // A quarter of the ingest cap: a 256 KiB e-mail body is almost always a pasted attachment or digest.
  oversize: { maxTextBytes: 262_144, maxHtmlBytes: 1_048_576, maxFeatures: MAX_FEATURES },
  // Other Datanets too: the same content earning twice is what attribution must prevent.
  "exact-duplicate": { acrossDatanets: true },
  // Broder's w-shingling with 5 words; 128 hashes in 32 bands of 4: a pair at Jaccard 0.8 becomes
  // a candidate with probability 1 − (1 − 0.8⁴)³² > 0.99999, and every candidate is verified
  // exactly, so the threshold is the exact Jaccard, not an estimate. Features: 512 SimHash bits in
  // 16 bands of 32; a pair at cosine 0.99 (8.1°, each bit agrees with p = 0.955) is a candidate
  // with probability 1 − (1 − p³²)¹⁶ ≈ 0.985, while the many MNIST pairs near cosine 0.9 rarely
  // are (p³² ≈ 0.007 per band). Cosine 0.99: on MNIST the closest two distinct digits are at
  // 0.9876, so only altered copies pass it. maxCompare bounds the work per row in a crowded bucket.
  "near-duplicate": { shingle: 5, hashes: 128, bands: 32, threshold: 0.8, bits: 512, bitBands: 16, cosine: 0.99, seed: 1, maxCompare: 200 },
  "label-set": { allowed: null },
  // A week at an order of magnitude above the median, and at least 100: a mailing list's busy day
  // is not abuse. On mail-spam 5× and 50 flag 28 contributor-weeks, nearly all of them busy lists;
  // 10× and 100 flag 10. On digits no scribe reaches it (the largest has 6.5× the median).
  "rate-limit": { windowDays: 7, factor: 10, minSubmissions: 100, minContributors: 3 },
};

/** Every rule with its defaults: what `validate(datanet)` applies when no rule set is given. */
export function defaultRuleSet(name = "default"): RuleSet {
  return parseRuleSet({ format: RULES_FORMAT, name, version: 1, rules: RULE_KINDS.map((kind) => ({ id: kind, kind })) });
}

/** Check a rule set (parsed JSON or a literal) and fill in defaults. Errors name the rule and field. */
export function parseRuleSet(input: unknown, where = "rule set"): RuleSet {
  const o = object(input, where);
  if (o.format !== RULES_FORMAT) throw new InputError(`${where}: format must be "${RULES_FORMAT}", got ${JSON.stringify(o.format)}`);
  const name = o.name;
  if (typeof name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) throw new InputError(`${where}: name must be 1–64 letters, digits, '.', '_' or '-'`);
  if (!Number.isInteger(o.version) || (o.version as number) < 1) throw new InputError(`${where}: version must be a positive integer`);
  if (!Array.isArray(o.rules) || o.rules.length === 0) throw new InputError(`${where}: rules must be a non-empty list`);
  const ids = new Set<string>();
  const rules = o.rules.map((r, i) => {
    const rule = parseRule(r, `${where} rule ${i + 1}`);
    if (ids.has(rule.id)) throw new InputError(`${where}: rule id "${rule.id}" is used twice`);
    ids.add(rule.id);
    return rule;
  });
  return { format: RULES_FORMAT, name, version: o.version as number, rules };
}

/** A rule set from a JSON file, read now (at pipeline load), so its content enters the cell's params. */
export function ruleSetFile(file: string | URL): RuleSet {
  const path = file instanceof URL ? fileURLToPath(file) : file;
  let text: string;
  try {
    text = fs.readFileSync(path, "utf8");
  } catch (err) {
    throw new InputError(`cannot read rule set ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InputError(`rule set ${path} is not JSON: ${(err as Error).message}`);
  }
  return parseRuleSet(json, `rule set ${path}`);
}

/** How decisions cite a rule: `mail-spam@1/near-duplicate`. */
export function ruleRef(set: Pick<RuleSet, "name" | "version">, ruleId: string): string {
  return `${set.name}@${set.version}/${ruleId}`;
}

function parseRule(input: unknown, where: string): Rule {
  const o = object(input, where);
  const kind = o.kind as RuleKind;
  if (!RULE_KINDS.includes(kind)) throw new InputError(`${where}: unknown kind ${JSON.stringify(o.kind)} (one of ${RULE_KINDS.join(", ")})`);
  const id = o.id ?? kind;
  if (typeof id !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(id)) throw new InputError(`${where}: id must be 1–64 letters, digits, '.', '_' or '-'`);
  const defaults = DEFAULTS[kind] as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (key !== "id" && key !== "kind" && !(key in defaults)) {
      throw new InputError(`${where} (${kind}): unknown field "${key}"${Object.keys(defaults).length ? ` (fields: ${Object.keys(defaults).join(", ")})` : ""}`);
    }
  }
  const rule = { id, kind, ...defaults, ...Object.fromEntries(Object.entries(o).filter(([k]) => k !== "id" && k !== "kind")) } as Rule;
  check(rule, `${where} (${id})`);
  return rule;
}

function check(rule: Rule, where: string): void {
  const positive = (v: unknown, field: string, integer = true) => {
    if (typeof v !== "number" || !(v > 0) || (integer && !Number.isInteger(v))) {
      throw new InputError(`${where}: ${field} must be a positive ${integer ? "integer" : "number"}, got ${JSON.stringify(v)}`);
    }
  };
  const unit = (v: unknown, field: string) => {
    if (typeof v !== "number" || !(v > 0 && v <= 1)) throw new InputError(`${where}: ${field} must be in (0, 1], got ${JSON.stringify(v)}`);
  };
  switch (rule.kind) {
    case "empty": positive(rule.minChars, "minChars"); break;
    case "oversize": positive(rule.maxTextBytes, "maxTextBytes"); positive(rule.maxHtmlBytes, "maxHtmlBytes"); positive(rule.maxFeatures, "maxFeatures"); break;
    case "near-duplicate":
      positive(rule.shingle, "shingle"); positive(rule.hashes, "hashes"); positive(rule.bands, "bands"); positive(rule.bits, "bits"); positive(rule.bitBands, "bitBands"); positive(rule.maxCompare, "maxCompare");
      unit(rule.threshold, "threshold"); unit(rule.cosine, "cosine");
      if (!Number.isInteger(rule.seed)) throw new InputError(`${where}: seed must be an integer`);
      if (rule.hashes % rule.bands) throw new InputError(`${where}: hashes (${rule.hashes}) must be a multiple of bands (${rule.bands})`);
      if (rule.bits % rule.bitBands) throw new InputError(`${where}: bits (${rule.bits}) must be a multiple of bitBands (${rule.bitBands})`);
      if (rule.bits / rule.bitBands > 32) throw new InputError(`${where}: at most 32 bits per band (bits / bitBands = ${rule.bits / rule.bitBands})`);
      break;
    case "exact-duplicate":
      if (typeof rule.acrossDatanets !== "boolean") throw new InputError(`${where}: acrossDatanets must be true or false`);
      break;
    case "label-set":
      if (rule.allowed !== null && (!Array.isArray(rule.allowed) || !rule.allowed.length || !rule.allowed.every((l) => typeof l === "string" && l !== ""))) {
        throw new InputError(`${where}: allowed must be a non-empty list of labels, or null for the Datanet's own labels`);
      }
      break;
    case "rate-limit":
      positive(rule.windowDays, "windowDays", false); positive(rule.factor, "factor", false); positive(rule.minSubmissions, "minSubmissions"); positive(rule.minContributors, "minContributors");
      break;
    default:
      break;
  }
}

function object(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new InputError(`${where} must be an object`);
  return v as Record<string, unknown>;
}

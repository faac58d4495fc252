import { InputError, type InputLocation } from "./errors.ts";
import { MAX_CONTRIBUTOR_BYTES, MAX_FEATURES, MAX_LABEL_BYTES, MAX_TEXT_BYTES } from "./limits.ts";
import type { ContributionField, ContributionInput, DatanetSpec } from "./types.ts";

/**
 * Checks every contribution meets the Datanet's contract before anything is written. Errors
 * name the row and field, so one bad cell in a million-row file is found at once.
 */
export function checkContribution(spec: DatanetSpec, input: ContributionInput): void {
  const base = input.where ?? { file: input.source };
  const at = (field: ContributionField): InputLocation => ({ ...base, field: input.columns?.[field] ?? field });
  requiredString(input.label, MAX_LABEL_BYTES, at("label"), "label");
  requiredString(input.contributor, MAX_CONTRIBUTOR_BYTES, at("contributor"), "contributor");
  if (input.title != null) optionalString(input.title, MAX_TEXT_BYTES, at("title"));
  if (input.html != null) optionalString(input.html, MAX_TEXT_BYTES * 4, at("html"));
  if (spec.kind === "text") {
    if (input.text == null) throw new InputError("text is missing", at("text"));
    optionalString(input.text, MAX_TEXT_BYTES, at("text"));
    if (input.text.trim() === "" && (input.title ?? "").trim() === "") {
      throw new InputError("text is empty", at("text"));
    }
  } else {
    if (input.text != null) optionalString(input.text, MAX_TEXT_BYTES, at("text"));
    checkFeatures(spec, input.features, at("features"));
  }
  if (!(input.submittedAt instanceof Date) || Number.isNaN(input.submittedAt.getTime())) {
    throw new InputError("submitted_at is not a valid time", at("submitted_at"));
  }
}

function checkFeatures(spec: DatanetSpec, features: ArrayLike<number> | null | undefined, at: InputLocation): void {
  if (features == null || features.length === 0) throw new InputError("features are missing", at);
  if (features.length > MAX_FEATURES) throw new InputError(`${features.length} features exceed the cap of ${MAX_FEATURES}`, at);
  if (spec.featureDim != null && features.length !== spec.featureDim) {
    throw new InputError(`expected ${spec.featureDim} features, got ${features.length}`, at);
  }
  for (let i = 0; i < features.length; i++) {
    const v = features[i]!;
    if (typeof v !== "number" || !Number.isFinite(v) || !Number.isFinite(Math.fround(v))) {
      throw new InputError(`feature ${i} is ${String(v)}, not a finite float32 number`, at);
    }
  }
}

function requiredString(value: unknown, maxBytes: number, where: InputLocation, what: string): void {
  if (typeof value !== "string" || value.trim() === "") throw new InputError(`${what} is empty`, where);
  optionalString(value, maxBytes, where);
}

function optionalString(value: unknown, maxBytes: number, where: InputLocation): void {
  if (typeof value !== "string") throw new InputError(`expected text, got ${typeof value}`, where);
  // Lone surrogates (e.g. from a JSON "\ud800" escape) have no UTF-8 encoding.
  if (!value.isWellFormed()) throw new InputError("text is not valid Unicode (lone surrogate)", where);
  const bytes = Buffer.byteLength(value, "utf8");
  if (bytes > maxBytes) throw new InputError(`${bytes} bytes exceed the cap of ${maxBytes} bytes`, where);
}

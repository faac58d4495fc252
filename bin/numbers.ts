import { InputError } from "../cells/datanet/errors.ts";

/**
 * A whole number given on the command line (a count, a seed), at least `min`; anything else is
 * bad input naming the flag and `what` it should be (exit 2).
 */
export function wholeNumber(value: string, flag: string, o: { min?: number; what?: string } = {}): number {
  const min = o.min ?? 0, n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) throw new InputError(`${flag}: ${o.what ?? `a count of at least ${min}`} (got ${JSON.stringify(value)})`);
  return n;
}

/** A share given on the command line, in [0, 1) (a test fraction): anything else is bad input naming the flag. */
export function fraction(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === "" || !(n >= 0 && n < 1)) throw new InputError(`${flag}: a fraction, 0 or more and below 1 (got ${JSON.stringify(value)})`);
  return n;
}

/** `--seed-check`'s value: the seed of a retrain with nothing left out, the yardstick of a seed change alone. */
export function parseSeed(v: string): number {
  return wholeNumber(v, "--seed-check", { what: "a seed is a non-negative integer" });
}

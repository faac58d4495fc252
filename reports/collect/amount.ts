import { formatAmount } from "../../cells/rewards/amounts.ts";
import type { Amount } from "../facts.ts";

/** Base units as both exact forms a reader needs; never through a float. */
export function amount(units: bigint): Amount {
  return { units: units.toString(), tokens: formatAmount(units) };
}

export function sumUnits(values: Iterable<bigint>): bigint {
  let s = 0n;
  for (const v of values) s += v;
  return s;
}

/**
 * Influence scores rounded to 6 significant digits: the facts are hashed into the run id, and a
 * different summation order in another process must not change them in the last bits.
 */
export function round6(x: number): number {
  if (!Number.isFinite(x) || x === 0) return 0;
  return Number(x.toPrecision(6));
}

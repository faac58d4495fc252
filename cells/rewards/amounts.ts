/**
 * Money and fractions as exact integers.
 *
 * Fees are bigint base units with 18 decimals, like most tokens: 1 token = 10^18 units. Text is
 * parsed digit by digit into a bigint — never through `Number` — because a float cannot hold
 * 0.1 exactly and a ledger that is off by one unit no longer balances. Shares (fractions of a
 * fee) use the same scale: parts per 10^18 ("ppe18"), so 70% is exactly 7·10^17.
 */

export const DECIMALS = 18;
export const UNIT = 10n ** 18n;

/**
 * Plain decimal notation only: digits, optionally a point followed by digits. No exponent
 * ("1e-3" hides its precision), no "-" (a negative fee makes no sense), no "." without digits on
 * both sides, no separators. A leading "+" is tolerated because some exports write it.
 */
const DECIMAL = /^\+?(\d+)(?:\.(\d+))?$/;

/** "0.002" → 2_000_000_000_000_000n. Throws, naming `where` and the text, on anything else. */
export function parseAmount(text: string, where = "amount"): bigint {
  if (typeof text !== "string") {
    throw new Error(`${where}: expected a decimal string such as "0.002", got ${describe(text)}`);
  }
  const r = toUnits(text);
  if (typeof r === "string") throw new Error(`${where}: invalid amount ${JSON.stringify(text)}: ${r}`);
  return r;
}

/** The units, or why the text is not an amount. */
function toUnits(text: string): bigint | string {
  const m = DECIMAL.exec(text);
  if (!m) {
    if (text.trim().startsWith("-")) return "amounts cannot be negative";
    if (/^\+?[\d.]+e[+-]?\d+$/i.test(text.trim())) return "exponent notation is not accepted, write the digits out";
    return "expected plain decimal notation such as \"0.002\"";
  }
  const whole = m[1]!;
  const frac = m[2] ?? "";
  // Rounding would silently change the amount; the caller must say what they mean.
  if (frac.length > DECIMALS) return `at most ${DECIMALS} decimals, got ${frac.length}`;
  return BigInt(whole) * UNIT + BigInt(frac.padEnd(DECIMALS, "0"));
}

/** Exact decimal text, trailing zeros trimmed: 2_000_000_000_000_000n → "0.002", UNIT → "1". */
export function formatAmount(units: bigint): string {
  // Negative values are formatted too (a difference between two amounts may be negative), even
  // though parseAmount never produces them.
  const sign = units < 0n ? "-" : "";
  const abs = units < 0n ? -units : units;
  const whole = abs / UNIT;
  const frac = (abs % UNIT).toString().padStart(DECIMALS, "0").replace(/0+$/, "");
  return `${sign}${whole}${frac ? `.${frac}` : ""}`;
}

/**
 * A fraction in [0, 1] as parts per 10^18: "0.7" or "70%" → 7·10^17. Percentages may carry at
 * most 16 decimals, so that dividing by 100 stays exact.
 */
export function parseShare(text: string, where = "share"): bigint {
  if (typeof text !== "string") {
    throw new Error(`${where}: expected a fraction such as "0.7" or "70%", got ${describe(text)}`);
  }
  const percent = text.endsWith("%");
  const body = percent ? text.slice(0, -1) : text;
  const r = toUnits(body);
  if (typeof r === "string") {
    throw new Error(`${where}: invalid share ${JSON.stringify(text)}: ${r}; expected a fraction between 0 and 1 such as "0.7" or "70%"`);
  }
  let value = r;
  if (percent) {
    if (value % 100n !== 0n) {
      throw new Error(`${where}: invalid share ${JSON.stringify(text)}: a percentage takes at most ${DECIMALS - 2} decimals`);
    }
    value /= 100n;
  }
  if (value > UNIT) {
    throw new Error(`${where}: invalid share ${JSON.stringify(text)}: a share is at most 1 (100%)`);
  }
  return value;
}

/** Parts per 10^18 as an exact percentage: 15·10^16 → "15%", 10^15 → "0.1%". */
export function formatShare(ppe18: bigint): string {
  return `${formatAmount(ppe18 * 100n)}%`;
}

function describe(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : `${typeof v} ${String(v)}`;
}

import { formatShare, UNIT } from "./amounts.ts";
import { SHARE_KEYS, type ParsedPolicy, type ShareKey } from "./policy.ts";

/**
 * Splitting one executed inference's fee. Pure: same input, same parts, whatever the order of
 * the lists. Money never touches floating point: fees are bigint base units, and the float
 * weights (influence scores, validator weights) are converted to exact integers first, so every
 * proportion below is an exact rational and every rounding decision is exact and reproducible.
 */

export const PROTOCOL = "protocol";

export interface Influence {
  /** Content hash of the contribution (or the contributor key, for contributor-level scores). */
  contribution: string;
  contributor: string;
  score: number;
  /** Lower = submitted earlier. Decides who owns duplicated content. */
  order: number;
}

export interface SplitInput {
  fee: bigint;
  policy: ParsedPolicy;
  /** Model creator recipient id. */
  creator: string;
  /** Validators' weights (e.g. cited contributions they approved); none (or all 0) → their part goes to the protocol. */
  validators: { validator: string; weight: number }[];
  /** Contribution-level or contributor-level scores for this inference. */
  influence: Influence[];
  /** Penalised contributors (net negative over the epoch): earn nothing. */
  excluded?: ReadonlySet<string>;
}

export type Role = "protocol" | "creator" | "validator" | "contributor";

export interface Part {
  recipient: string;
  role: Role;
  amount: bigint;
  reason: string;
}

const ROLE_ORDER: readonly Role[] = ["protocol", "creator", "validator", "contributor"];

/**
 * The parts of `fee`, one per (recipient, role), every amount > 0, summing exactly to `fee`.
 * Zero-amount parts are omitted (a fee of 0 gives []): a ledger line that moves nothing carries
 * no information, and "every part is positive" is an invariant callers can rely on. Parts are
 * sorted by role (protocol, creator, validator, contributor), then amount descending, then
 * recipient, so equal inputs give identical arrays.
 */
export function splitFee(input: SplitInput): Part[] {
  const { fee, policy, creator } = input;
  if (typeof fee !== "bigint") throw new Error(`splitFee: fee must be a bigint of base units, got ${typeof fee}`);
  if (fee < 0n) throw new Error(`splitFee: fee must be ≥ 0, got ${fee}`);
  const total = SHARE_KEYS.reduce((s, k) => s + policy.shares[k], 0n);
  if (total !== UNIT) throw new Error(`splitFee: policy ${policy.id} shares sum to ${formatShare(total)}, not 100%; pass it through parsePolicy`);
  if (typeof creator !== "string" || creator === "") throw new Error(`splitFee: creator must be a non-empty recipient id`);
  // Validate everything before the fee-0 shortcut, so a bad input fails whatever the fee.
  const validators = validatorWeights(input.validators);
  const contributors = contributorWeights(input.influence, input.excluded ?? new Set());

  const out = new Ledger();
  if (fee === 0n) return out.parts();

  // (a) Fee → roles, by the policy shares (weights summing to 10^18), ties in SHARE_KEYS order.
  const roleAmounts = apportion(fee, SHARE_KEYS.map((k) => policy.shares[k]));
  const role = (k: ShareKey) => roleAmounts[SHARE_KEYS.indexOf(k)]!;
  const pct = (k: ShareKey) => formatShare(policy.shares[k]);

  out.add(PROTOCOL, "protocol", role("protocol"), `policy ${policy.id}: ${pct("protocol")} to the protocol`);
  out.add(creator, "creator", role("creator"), `policy ${policy.id}: ${pct("creator")} to the model creator`);

  // (b) Validators' part, by weight.
  const vPart = role("validators");
  if (validators.length === 0) {
    out.add(PROTOCOL, "protocol", vPart, `validators' part (${pct("validators")}): no validator with positive weight`);
  } else {
    const vTotal = validators.reduce((s, v) => s + v.weight, 0n);
    const amounts = apportion(vPart, validators.map((v) => v.weight));
    validators.forEach((v, i) => out.add(v.id, "validator", amounts[i]!,
      `${percentOf(v.weight, vTotal)} of validator weight (policy ${policy.id}: ${pct("validators")} to validators)`));
  }

  // (c–f) Contributor pool, by net positive influence.
  const pool = role("contributors");
  const { paid, penalised } = contributors;
  if (paid.length === 0) {
    const why = penalised > 0 ? ` (${penalised} penalised contributor${penalised === 1 ? "" : "s"} excluded)` : "";
    out.add(PROTOCOL, "protocol", pool, `contributor pool (${pct("contributors")}): no positive influence${why}`);
    return out.parts();
  }
  const wTotal = paid.reduce((s, c) => s + c.weight, 0n);
  const amounts = apportion(pool, paid.map((c) => c.weight));
  // (f) Below the minimum share: w/W < min ⇔ w·10^18 < min·W, compared exactly.
  const min = policy.minContributorShare;
  const below = (w: bigint) => w * UNIT < min * wTotal;
  let dust = 0n;
  let dropped = 0;
  let next: { id: string; weight: bigint } | undefined;
  paid.forEach((c, i) => {
    if (below(c.weight)) {
      dust += amounts[i]!;
      dropped++;
      return;
    }
    out.add(c.id, "contributor", amounts[i]!, `${percentOf(c.weight, wTotal)} of positive influence`);
    // paid is sorted by id, so a strict ">" keeps the lowest id among equal weights.
    if (!next || c.weight > next.weight) next = c;
  });
  if (dropped > 0) {
    const why = `dust of ${dropped} contributor${dropped === 1 ? "" : "s"} below ${formatShare(min)}`;
    if (policy.dust === "next" && next) out.add(next.id, "contributor", dust, why);
    else out.add(PROTOCOL, "protocol", dust, next ? why : `${why} (no contributor above it)`);
  }
  return out.parts();
}

/**
 * Largest-remainder apportionment of `total` units in proportion to integer `weights` (≥ 0, not
 * all 0): each gets ⌊total·w/W⌋, then the units left over (fewer than the number of weights)
 * go one each to the largest remainders total·w mod W. Equal remainders go to the lower index,
 * so callers pass weights in their tie-break order. A zero weight never receives a unit.
 */
export function apportion(total: bigint, weights: readonly bigint[]): bigint[] {
  const W = weights.reduce((s, w) => s + w, 0n);
  if (W <= 0n || weights.some((w) => w < 0n)) throw new Error("apportion: weights must be ≥ 0 and not all 0");
  const amounts = weights.map((w) => (total * w) / W);
  const rems = weights.map((w) => (total * w) % W);
  let left = total - amounts.reduce((s, a) => s + a, 0n);
  const byRemainder = weights.map((_, i) => i).sort((a, b) => (rems[a]! > rems[b]! ? -1 : rems[a]! < rems[b]! ? 1 : a - b));
  for (const i of byRemainder) {
    if (left === 0n) break;
    amounts[i]! += 1n;
    left--;
  }
  return amounts;
}

/** Validators with positive exact weight, duplicate ids summed, sorted by id (the tie-break). */
function validatorWeights(list: SplitInput["validators"]): { id: string; weight: bigint }[] {
  if (!Array.isArray(list)) throw new Error("splitFee: validators must be an array");
  list.forEach((v, i) => {
    if (typeof v?.validator !== "string" || v.validator === "") throw new Error(`splitFee: validators[${i}].validator must be a non-empty id`);
    if (typeof v.weight !== "number" || !Number.isFinite(v.weight) || v.weight < 0) {
      throw new Error(`splitFee: validators[${i}].weight must be a finite number ≥ 0, got ${v.weight}`);
    }
  });
  const exact = exactIntegers(list.map((v) => v.weight));
  const byId = new Map<string, bigint>();
  list.forEach((v, i) => byId.set(v.validator, (byId.get(v.validator) ?? 0n) + exact[i]!));
  return [...byId].filter(([, w]) => w > 0n).map(([id, weight]) => ({ id, weight })).sort(byId_);
}

/**
 * Contributors to pay, with exact net positive weights, sorted by id (the tie-break):
 *  - one entry per content hash: the earliest submission (lowest order, then lowest contributor
 *    id, then lowest score so even identical keys resolve alike) owns it; copies earn nothing,
 *    so resubmitting or splitting content cannot multiply a reward;
 *  - a contributor's weight is max(Σ kept scores, 0): opponents offset proponents;
 *  - penalised (excluded) contributors get weight 0; the copy of their content under someone
 *    else does not inherit it, since that copy was already dropped as a duplicate.
 */
function contributorWeights(list: Influence[], excluded: ReadonlySet<string>): { paid: { id: string; weight: bigint }[]; penalised: number } {
  if (!Array.isArray(list)) throw new Error("splitFee: influence must be an array");
  list.forEach((e, i) => {
    if (typeof e?.contribution !== "string" || e.contribution === "") throw new Error(`splitFee: influence[${i}].contribution must be a non-empty hash`);
    if (typeof e.contributor !== "string" || e.contributor === "") throw new Error(`splitFee: influence[${i}].contributor must be a non-empty id`);
    if (typeof e.score !== "number" || !Number.isFinite(e.score)) throw new Error(`splitFee: influence[${i}].score must be a finite number, got ${e.score}`);
    if (typeof e.order !== "number" || Number.isNaN(e.order)) throw new Error(`splitFee: influence[${i}].order must be a number, got ${e.order}`);
  });
  const kept = new Map<string, Influence>();
  for (const e of list) {
    const k = kept.get(e.contribution);
    if (!k || earlier(e, k)) kept.set(e.contribution, e);
  }
  const entries = [...kept.values()];
  // Exact integers: the sums below are then independent of the order of the list.
  const exact = exactIntegers(entries.map((e) => e.score));
  const net = new Map<string, bigint>();
  entries.forEach((e, i) => net.set(e.contributor, (net.get(e.contributor) ?? 0n) + exact[i]!));
  const paid: { id: string; weight: bigint }[] = [];
  let penalised = 0;
  for (const [id, weight] of net) {
    if (weight <= 0n) continue;
    if (excluded.has(id)) penalised++;
    else paid.push({ id, weight });
  }
  return { paid: paid.sort(byId_), penalised };
}

function earlier(a: Influence, b: Influence): boolean {
  if (a.order !== b.order) return a.order < b.order;
  if (a.contributor !== b.contributor) return a.contributor < b.contributor;
  return a.score < b.score;
}

/**
 * Finite doubles as exact integers on one common scale: every double is m·2^e with integer m,
 * so multiplying all by 2^−(smallest e) gives integers with exactly the same ratios. No grid,
 * no rounding: a weight of 1e-300 next to 1e300 still counts (bigints of ~2,100 bits at worst).
 */
export function exactIntegers(xs: readonly number[]): bigint[] {
  const parts = xs.map(decompose);
  let min = Infinity;
  for (const p of parts) if (p.m !== 0n && p.e < min) min = p.e;
  return parts.map((p) => (p.m === 0n ? 0n : p.m << BigInt(p.e - min)));
}

const view = new DataView(new ArrayBuffer(8));

/** x = m·2^e exactly, from the IEEE-754 bits. */
function decompose(x: number): { m: bigint; e: number } {
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  const fraction = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  // Subnormals have no implicit leading 1 and the smallest exponent.
  let m = biased === 0 ? fraction : fraction | (1n << 52n);
  let e = (biased === 0 ? 1 : biased) - 1075;
  // Drop trailing zero bits so that the common scale, and with it the integers, stay small.
  while (m !== 0n && (m & 1n) === 0n) {
    m >>= 1n;
    e++;
  }
  return { m: hi >>> 31 ? -m : m, e };
}

/** w/W as a percentage with up to 2 decimals, rounded half up; "<0.01%" rather than a false "0%". */
function percentOf(w: bigint, W: bigint): string {
  const hundredths = (w * 20000n + W) / (2n * W);
  if (hundredths === 0n && w > 0n) return "<0.01%";
  const frac = (hundredths % 100n).toString().padStart(2, "0").replace(/0+$/, "");
  return `${hundredths / 100n}${frac ? `.${frac}` : ""}%`;
}

/** Code-unit order, not localeCompare: the tie-break must not depend on the machine's locale. */
function byId_(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Merges amounts per (recipient, role); only positive amounts leave a line or a reason. */
class Ledger {
  private lines = new Map<string, Part & { reasons: string[] }>();

  add(recipient: string, role: Role, amount: bigint, reason: string): void {
    if (amount <= 0n) return;
    const key = `${role}\u0000${recipient}`;
    const line = this.lines.get(key);
    if (line) {
      line.amount += amount;
      line.reasons.push(reason);
    } else {
      this.lines.set(key, { recipient, role, amount, reason, reasons: [reason] });
    }
  }

  parts(): Part[] {
    return [...this.lines.values()]
      .map(({ recipient, role, amount, reasons }) => ({ recipient, role, amount, reason: reasons.join("; ") }))
      .sort((a, b) =>
        ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role)
        || (a.amount > b.amount ? -1 : a.amount < b.amount ? 1 : 0)
        || (a.recipient < b.recipient ? -1 : a.recipient > b.recipient ? 1 : 0));
  }
}

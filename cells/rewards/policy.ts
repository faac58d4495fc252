import { formatShare, parseShare, UNIT } from "./amounts.ts";

/**
 * How an inference's fee is divided, as data rather than code: a policy can be stored next to
 * the receipts it produced, compared, and replayed. `name@version` identifies it; a changed
 * policy must get a new version so that old receipts still say which rule paid them.
 */
export interface SplitPolicy {
  name: string;
  version: number;
  /** Decimal ("0.7") or percent ("70%") strings; the four must sum to exactly 100%. */
  shares: { protocol: string; creator: string; validators: string; contributors: string };
  /** Contributors whose part of the pool would be below this fraction of the pool get nothing; their dust goes where `dust` says. Optional. */
  minContributorShare?: string;
  /** "next": to the pool's largest remaining recipient (deterministic), "protocol": to the protocol. Default "next". */
  dust?: "next" | "protocol";
  /** Where the pool goes when no contributor has positive influence, or all are penalised: "protocol" (default). */
  emptyPool?: "protocol";
}

export type ShareKey = keyof SplitPolicy["shares"];

/** A validated policy: shares as exact parts per 10^18, every default filled in. */
export interface ParsedPolicy {
  name: string;
  version: number;
  /** `${name}@${version}` */
  id: string;
  shares: Record<ShareKey, bigint>;
  /** 0n when the policy sets none: every positive contributor is paid. */
  minContributorShare: bigint;
  dust: "next" | "protocol";
  emptyPool: "protocol";
}

/** Also the tie-break order of the role split: fixed, so equal remainders always resolve alike. */
export const SHARE_KEYS: readonly ShareKey[] = ["protocol", "creator", "validators", "contributors"];

const POLICY_KEYS = new Set(["name", "version", "shares", "minContributorShare", "dust", "emptyPool"]);
const DUST_MODES = ["next", "protocol"] as const;

export const DEFAULT_POLICY: SplitPolicy = Object.freeze({
  name: "default",
  version: 1,
  shares: Object.freeze({ protocol: "5%", creator: "15%", validators: "10%", contributors: "70%" }),
  minContributorShare: "0.001",
  dust: "next",
}) as SplitPolicy;

/**
 * Checks a policy read from anywhere (JSON, a pipeline file) and returns it parsed. Unknown keys
 * are errors rather than ignored: a misspelt "minContributorShare" would otherwise silently pay
 * dust to everyone. Errors start with `source` (and the policy id once it is known).
 */
export function parsePolicy(p: unknown, source = "policy"): ParsedPolicy {
  if (!isRecord(p)) throw new Error(`${source}: expected an object with name, version and shares`);
  for (const k of Object.keys(p)) {
    if (!POLICY_KEYS.has(k)) throw new Error(`${source}: unknown field "${k}" (expected ${[...POLICY_KEYS].join(", ")})`);
  }
  const { name, version } = p;
  if (typeof name !== "string" || name.trim() === "" || name.includes("@")) {
    throw new Error(`${source}.name: expected a non-empty string without "@", got ${JSON.stringify(name)}`);
  }
  if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 1) {
    throw new Error(`${source} ${name}: version must be a positive integer, got ${JSON.stringify(version)}`);
  }
  const id = `${name}@${version}`;
  const label = `${source} ${id}`;

  if (!isRecord(p.shares)) throw new Error(`${label}: shares must be an object with ${SHARE_KEYS.join(", ")}`);
  for (const k of Object.keys(p.shares)) {
    if (!(SHARE_KEYS as readonly string[]).includes(k)) {
      throw new Error(`${label}: unknown share "${k}" (expected ${SHARE_KEYS.join(", ")})`);
    }
  }
  const shares = {} as Record<ShareKey, bigint>;
  for (const k of SHARE_KEYS) {
    const v = p.shares[k];
    if (v === undefined) throw new Error(`${label}: missing share "${k}" (expected ${SHARE_KEYS.join(", ")})`);
    shares[k] = parseShare(v as string, `${label}: shares.${k}`);
  }
  // Exactly 100%: under would leave part of every fee unassigned, over would pay out more than
  // was charged. Both are policy bugs, so neither is normalised away.
  const sum = SHARE_KEYS.reduce((s, k) => s + shares[k], 0n);
  if (sum > UNIT) throw new Error(`${label}: shares sum to ${formatShare(sum)}, over 100%`);
  if (sum < UNIT) throw new Error(`${label}: shares sum to ${formatShare(sum)}; they must sum to exactly 100%`);

  const minContributorShare = p.minContributorShare === undefined
    ? 0n
    : parseShare(p.minContributorShare as string, `${label}: minContributorShare`);

  const dust = p.dust ?? "next";
  if (!(DUST_MODES as readonly unknown[]).includes(dust)) {
    throw new Error(`${label}: unknown dust mode ${JSON.stringify(dust)} (expected ${DUST_MODES.map((d) => `"${d}"`).join(" or ")})`);
  }
  const emptyPool = p.emptyPool ?? "protocol";
  if (emptyPool !== "protocol") {
    throw new Error(`${label}: unknown emptyPool mode ${JSON.stringify(emptyPool)} (expected "protocol")`);
  }

  return Object.freeze({
    name,
    version,
    id,
    shares: Object.freeze(shares),
    minContributorShare,
    dust: dust as ParsedPolicy["dust"],
    emptyPool,
  });
}

/** DEFAULT_POLICY, parsed once. */
export const DEFAULT_PARSED_POLICY: ParsedPolicy = parsePolicy(DEFAULT_POLICY, "DEFAULT_POLICY");

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

import { z } from "zod";
import type { Workspace } from "../store/workspace.ts";
import { issuePath } from "../graph/options.ts";
import { InputError } from "../datanet/errors.ts";
import { didYouMean } from "../graph/nearest.ts";
import { ledgerEpochs } from "./ledger.ts";
import { merkleTree, rootFromPath, type MerkleStep } from "../graph/fingerprint.ts";
import { receiptHash, sharedContributors } from "../attribution/receipts.ts";
import { stageRows } from "../store/stage.ts";
import { nowUtc } from "../store/workspace.ts";
import { closedEpochs, closureLeaf, epochLineRows, type EpochLine } from "./closures.ts";
import { catchUpReceipts, NOT_ATTRIBUTED } from "./archive.ts";
import { formatAmount } from "./amounts.ts";

export const PROOF_FORMAT = "tracebook.proof/1";

/** One reward line as the closure hashed it, with its path to the closure's root. */
export interface ProofLine extends EpochLine {
  path: MerkleStep[];
}

/**
 * What one recipient was paid in a closed epoch, in a form it can check alone: its reward lines,
 * each with its Merkle path to the root the epoch was closed with, and the attribution receipts
 * its contributor and validator lines cite. No other recipient's line is in it; the root is the
 * one the attribution report and `tracebook rewards` publish.
 */
export interface RewardProof {
  format: typeof PROOF_FORMAT;
  pipeline: string;
  epoch: string;
  recipient: string;
  closure: { closed_at: string; closed_by: string; inferences: number; fees: string; lines: number; lines_root: string };
  /** The sum of the lines, integer base units. */
  total: string;
  lines: ProofLine[];
  /** receipt hash → the receipt's JSON, as archived when the line was paid (those of contributor and validator lines). */
  receipts: Record<string, string>;
}

/**
 * The proof of a recipient's lines in a closed epoch of a pipeline. Refused for an open epoch
 * (its lines can still change: nothing final to prove) and for a name with no line in it; an
 * error when the epoch's lines no longer hash to the root it was closed with (a proof from them
 * could not hold).
 */
export async function rewardProof(ws: Workspace, pipeline: string, recipient: string, epoch: string): Promise<RewardProof> {
  return (await rewardProofs(ws, pipeline, epoch, [recipient]))[0]!;
}

/**
 * The proofs of these recipients (or of every recipient the epoch paid, by name) from one pass
 * over the epoch's lines and tree: what an operator hands out after closing an epoch.
 */
export async function rewardProofs(ws: Workspace, pipeline: string, epoch: string, recipients: readonly string[] | "all"): Promise<RewardProof[]> {
  const closures = await closedEpochs(ws, pipeline);
  const closure = closures.get(epoch);
  if (!closure) {
    const epochs = await ledgerEpochs(ws, pipeline);
    if (!epochs.includes(epoch)) {
      throw new InputError(`pipeline ${pipeline} has no epoch ${epoch} (${didYouMean(epoch, [...closures.keys()])}closed: ${[...closures.keys()].sort().join(", ") || "none"}; open: ${epochs.filter((e) => !closures.has(e)).join(", ") || "none"})`);
    }
    throw new InputError(`epoch ${epoch} of pipeline ${pipeline} is not closed: its lines can still change, so there is nothing final to prove ` +
      `(close it with \`tracebook rewards ${pipeline} --epoch ${epoch} --close\`)`);
  }
  const rows = await epochLineRows(ws, pipeline, epoch);
  const leaves = rows.map(closureLeaf);
  const tree = merkleTree(leaves);
  if (tree.root !== closure.lines_root || rows.length !== closure.lines) {
    throw new Error(`the reward lines of epoch ${epoch} of pipeline ${pipeline} no longer hash to the root it was closed with ` +
      `(${closure.lines} lines, root ${closure.lines_root.slice(0, 16)}…; now ${rows.length}, ${tree.root.slice(0, 16)}…): no proof can hold`);
  }
  // Each recipient's lines, largest first (the rows' order): indices into rows and leaves.
  const byRecipient = new Map<string, number[]>();
  rows.forEach((r, i) => {
    const list = byRecipient.get(r.recipient);
    if (list) list.push(i);
    else byRecipient.set(r.recipient, [i]);
  });
  const names = recipients === "all" ? [...byRecipient.keys()].sort() : [...recipients];
  for (const name of names) {
    if (!byRecipient.has(name)) {
      throw new InputError(`"${name}" has no reward line in closed epoch ${epoch} of pipeline ${pipeline} ` +
        `(${didYouMean(name, [...byRecipient.keys()])}\`tracebook rewards ${pipeline} --epoch ${epoch}\` lists who was paid)`);
    }
  }
  // Lines settled before the archive existed cite receipts still only in receipts outputs on disk.
  await catchUpReceipts(ws, nowUtc());
  const cited = [...new Set(names.flatMap((n) => byRecipient.get(n)!.map((i) => rows[i]!)).filter(citesContent).map((l) => l.receipt_hash).filter((h) => h !== NOT_ATTRIBUTED))];
  await stageRows(ws, "__tracebook_proof_receipts", [["hash", "VARCHAR"]], cited.map((h) => [h]));
  const archived = new Map((await ws.rows<{ receipt_hash: string; receipt: string }>(
    "select receipt_hash, receipt from attribution_receipts where receipt_hash in (select hash from __tracebook_proof_receipts)")).map((r) => [r.receipt_hash, r.receipt]));
  return names.map((recipient) => {
    const mine = byRecipient.get(recipient)!;
    const paths = tree.paths(mine.map((i) => leaves[i]!));
    const lines = mine.map((i, k) => ({ ...rows[i]!, path: paths[k]! }));
    const receipts = [...new Set(lines.filter(citesContent).map((l) => l.receipt_hash))].filter((h) => archived.has(h)).sort();
    return {
      format: PROOF_FORMAT, pipeline, epoch, recipient,
      closure: { closed_at: closure.closed_at, closed_by: closure.closed_by, inferences: closure.inferences, fees: closure.fees.toString(), lines: closure.lines, lines_root: closure.lines_root },
      total: lines.reduce((s, l) => s + BigInt(l.amount), 0n).toString(),
      lines,
      receipts: Object.fromEntries(receipts.map((h) => [h, archived.get(h)!])),
    };
  });
}

/**
 * Whether a line's amount follows from its receipt's content: a contributor's from the shares, a
 * validator's from the contributions cited. The protocol's and the creator's follow from the fee
 * and the policy alone, so their proofs leave the receipts out (the protocol's would hold every
 * receipt of the epoch); the receipt hash is in every line's leaf all the same.
 */
function citesContent(l: { role: string }): boolean {
  return l.role === "contributor" || l.role === "validator";
}

export interface ProofCheck { name: string; ok: boolean; detail: string }

/**
 * Check a proof with nothing but the proof: every line's hash leads by its path to the closure's
 * root (and that root is `root`, the one published, when given), every line is the recipient's,
 * the total is their sum, the receipt of every contributor and validator line is there and hashes
 * to what the line cites and names its inference, and a contributor's receipts give it a positive
 * share. No workspace: a contributor checks what it was paid on its own machine.
 */
export function verifyProof(proof: RewardProof, o: {
  root?: string;
  /** What a report states the recipient was paid under its policy in the epoch: the proof's lines of that policy must sum to it. */
  published?: { total: string; policy: string | null; source: string };
} = {}): { ok: boolean; checks: ProofCheck[] } {
  const checks: ProofCheck[] = [];
  const root = proof.closure.lines_root;
  const off = proof.lines.filter((l) => rootFromPath(closureLeaf(l), l.path) !== root);
  checks.push({
    name: "lines lead to the closure's root", ok: off.length === 0,
    detail: off.length
      ? `${off.length} of ${proof.lines.length} lines do not (first: ${describe(off[0]!)})`
      : `${proof.lines.length} line${proof.lines.length === 1 ? "" : "s"}, each hashed with its path of ${proof.lines.reduce((m, l) => Math.max(m, l.path.length), 0)} steps at most, give root ${root.slice(0, 16)}… of ${proof.closure.lines} lines closed at ${proof.closure.closed_at} by ${proof.closure.closed_by}`,
  });
  if (o.root !== undefined) {
    const same = o.root.toLowerCase() === root;
    checks.push({ name: "the root is the one you hold", ok: same, detail: same ? `${root}` : `the proof's root ${root} is not ${o.root}` });
  }
  const others = proof.lines.filter((l) => l.recipient !== proof.recipient);
  checks.push({
    name: "every line pays the recipient", ok: others.length === 0,
    detail: others.length ? `${others.length} lines pay someone else (first: ${describe(others[0]!)})` : `${proof.recipient}, in ${[...new Set(proof.lines.map((l) => l.role))].sort().join(", ")}`,
  });
  const sum = proof.lines.reduce((s, l) => s + BigInt(l.amount), 0n);
  checks.push({
    name: "the total is the sum of the lines", ok: sum === BigInt(proof.total),
    detail: `${formatAmount(sum)} over ${proof.lines.length} lines${sum === BigInt(proof.total) ? "" : `, not the ${formatAmount(BigInt(proof.total))} the proof states`}`,
  });
  if (o.published) {
    const mine = proof.lines.filter((l) => l.policy === o.published!.policy).reduce((s, l) => s + BigInt(l.amount), 0n);
    const same = mine === BigInt(o.published.total);
    checks.push({
      name: "the report pays the recipient what its lines sum to", ok: same,
      detail: `${formatAmount(mine)} under policy ${o.published.policy ?? "?"}${same ? `, as ${o.published.source} states` : `; ${o.published.source} states ${formatAmount(BigInt(o.published.total))}`}`,
    });
  }
  const bad: string[] = [];
  const bodies = new Map<string, { query?: string; contributor_shares?: { contributor?: string; share?: number }[] }>();
  for (const l of proof.lines) {
    if (!citesContent(l) || l.receipt_hash === NOT_ATTRIBUTED || bodies.has(l.receipt_hash)) continue;
    const json = proof.receipts[l.receipt_hash];
    if (json === undefined) { bad.push(`${l.receipt_hash.slice(0, 12)} is missing`); continue; }
    let body;
    try {
      if (receiptHash(json) !== l.receipt_hash) { bad.push(`${l.receipt_hash.slice(0, 12)} does not hash to itself`); continue; }
      body = JSON.parse(json);
    } catch {
      bad.push(`${l.receipt_hash.slice(0, 12)} is not JSON`);
      continue;
    }
    bodies.set(l.receipt_hash, body);
  }
  for (const l of proof.lines.filter(citesContent)) {
    const body = bodies.get(l.receipt_hash);
    if (body && body.query !== l.inference_id) bad.push(`${l.receipt_hash.slice(0, 12)} is the receipt of ${body.query}, not of inference ${l.inference_id}`);
  }
  if (proof.lines.some(citesContent)) {
    checks.push({
      name: "the receipts recompute and name their inferences", ok: bad.length === 0,
      detail: bad.length ? bad.slice(0, 3).join("; ") + (bad.length > 3 ? `; ${bad.length - 3} more` : "")
        : `${bodies.size} receipt${bodies.size === 1 ? "" : "s"} of the contributor and validator lines (sha256 of tracebook.receipt/1 JSON)`,
    });
  }
  const contributorLines = proof.lines.filter((l) => l.role === "contributor" && bodies.has(l.receipt_hash));
  const unshared = contributorLines.filter((l) => !sharedContributors(bodies.get(l.receipt_hash)!).has(proof.recipient));
  if (contributorLines.length) {
    checks.push({
      name: "a contributor is paid only where its receipt gives it a share", ok: unshared.length === 0,
      detail: unshared.length ? `${unshared.length} contributor lines cite receipts without a positive share for ${proof.recipient} (first: ${describe(unshared[0]!)})`
        : `${contributorLines.length} contributor line${contributorLines.length === 1 ? "" : "s"}, each on a receipt with a positive share for ${proof.recipient}`,
    });
  }
  return { ok: checks.every((c) => c.ok), checks };
}

/**
 * What the proofs of one epoch say together, as `--all` writes them: they name one pipeline,
 * epoch and root; no line is in two of them; and they cover every line the epoch was closed with,
 * so each policy's lines sum to the epoch's fees. An auditor holding every recipient's proof then
 * knows that nobody was paid outside them, and nothing twice.
 */
export function verifyProofSet(proofs: readonly RewardProof[]): ProofCheck[] {
  const first = proofs[0];
  if (!first) return [{ name: "the proofs are of one closed epoch", ok: false, detail: "no proof given" }];
  const others = proofs.filter((p) => p.pipeline !== first.pipeline || p.epoch !== first.epoch || p.closure.lines_root !== first.closure.lines_root);
  const checks: ProofCheck[] = [{
    name: "the proofs are of one closed epoch", ok: others.length === 0,
    detail: others.length ? `${others.length} of ${proofs.length} name another pipeline, epoch or root than ${first.pipeline} ${first.epoch} ${first.closure.lines_root.slice(0, 16)}… (first: ${others[0]!.recipient})`
      : `${proofs.length} proofs of epoch ${first.epoch} of ${first.pipeline}, root ${first.closure.lines_root.slice(0, 16)}…`,
  }];
  const seen = new Map<string, string>();
  let twice = 0;
  for (const p of proofs) for (const l of p.lines) {
    const leaf = closureLeaf(l);
    if (seen.has(leaf)) twice++;
    else seen.set(leaf, p.recipient);
  }
  const recipients = new Set(proofs.map((p) => p.recipient));
  checks.push({
    name: "no line is in two proofs", ok: twice === 0 && recipients.size === proofs.length,
    detail: twice ? `${twice} lines are` : recipients.size !== proofs.length ? `${proofs.length - recipients.size} recipients have two proofs` : `${seen.size} lines, ${recipients.size} recipients`,
  });
  checks.push({
    name: "the proofs cover every line of the epoch", ok: seen.size === first.closure.lines,
    detail: `${seen.size} of the ${first.closure.lines} lines it was closed with${seen.size === first.closure.lines ? "" : ": a recipient's proof is missing, or a proof is short"}`,
  });
  const byPolicy = new Map<string, bigint>();
  for (const p of proofs) for (const l of p.lines) byPolicy.set(l.policy, (byPolicy.get(l.policy) ?? 0n) + BigInt(l.amount));
  const off = [...byPolicy].filter(([, sum]) => sum !== BigInt(first.closure.fees));
  checks.push({
    name: "each policy's lines pay out the epoch's fees", ok: off.length === 0,
    detail: off.length ? off.map(([policy, sum]) => `${policy}: ${formatAmount(sum)}, not ${formatAmount(BigInt(first.closure.fees))}`).join("; ")
      : `${[...byPolicy.keys()].sort().join(", ")}: ${formatAmount(BigInt(first.closure.fees))} from ${first.closure.inferences} inferences`,
  });
  return checks;
}

function describe(l: ProofLine): string {
  return `inference ${l.inference_id}, ${l.role} ${l.recipient}, ${formatAmount(BigInt(l.amount))}`;
}

const text = z.string({ error: "must be a string" });
const units = z.string({ error: "must be a whole number of base units, as a string" }).regex(/^\d+$/, { error: "must be a whole number of base units, as a string" });
const sha = z.string({ error: "must be a sha256 (64 hex characters)" }).regex(/^[0-9a-f]{64}$/i, { error: "must be a sha256 (64 hex characters)" }).transform((h) => h.toLowerCase());
const count = z.number({ error: "must be a number" });
const object = { error: "must be an object" };

/**
 * A proof file's shape. Fields are checked in this order and the first wrong one is reported, so
 * the lines (what a proof is for) come before the names around them.
 */
const proofSchema = z.object({
  format: z.literal(PROOF_FORMAT, { error: (issue) => `must be "${PROOF_FORMAT}" (got ${JSON.stringify(issue.input ?? null)})` }),
  lines: z.array(z.object({
    policy: text, inference_id: text, receipt_hash: text, recipient: text, role: text, amount: units, reason: text,
    path: z.array(z.object({ side: z.enum(["left", "right"], { error: 'must be "left" or "right"' }), hash: sha }, object), { error: "must be a list" }),
  }, object), { error: "must be a non-empty list" }).min(1, { error: "must be a non-empty list" }),
  receipts: z.record(z.string(), text, object),
  closure: z.object({ closed_at: text, closed_by: text, inferences: count, fees: units, lines: count, lines_root: sha }, object),
  pipeline: text, epoch: text, recipient: text, total: units,
}, object);

/**
 * A proof read from a file, its shape checked field by field: a malformed proof is the caller's
 * mistake and the error names the file and the field, before anything is verified.
 */
export function parseProof(json: string, file: string): RewardProof {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new InputError(`not JSON (${(err as Error).message})`, { file });
  }
  const parsed = proofSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InputError(issue.message, { file, field: issuePath(issue) || "(top)" });
  }
  return parsed.data;
}

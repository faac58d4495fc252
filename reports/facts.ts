import type { PenaltySides, PenaltyStability } from "./collect/stability.ts";
import { canonicalJson, sha256 } from "../cells/graph/fingerprint.ts";

/**
 * The facts of an attribution report: everything `index.html` shows and `report.json` holds,
 * as plain JSON (amounts as decimal strings of base units, never as floats). The renderer reads
 * nothing else, so the HTML is a pure function of these facts, and `report verify` can check a
 * report by collecting them again from the workspace. Bump REPORT_FORMAT when their meaning
 * changes; `reports/report.schema.json` describes the same shape.
 */
export const REPORT_FORMAT = "tracebook.report/1";

/** Where report folders go unless told (`--out`): reports/out under the current directory. */
export const DEFAULT_OUT = "reports/out";

/** An exact amount: integer base units (18 decimals) and the same as a decimal token string. */
export interface Amount {
  units: string;
  tokens: string;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface FileHash {
  file: string;
  sha256: string;
  /** The hash the model's manifest records for this file. */
  matches_manifest: boolean;
}

export interface ModelFacts {
  cell: string;
  id: string;
  kind: string;
  manifest_sha256: string;
  held_out_accuracy: number | null;
  files: FileHash[];
}

export interface ContributionText {
  contribution: string;
  contributor: string;
  datanet: string;
  /** Contributed text, cut to a few hundred characters; untrusted. */
  text: string;
}

export interface StatementLine {
  recipient: string;
  role: string;
  amount: Amount;
  inferences: number;
  /** Σ of this recipient's lines in `rewards` for the epoch: must equal `amount`. */
  lines_total: Amount;
  reason: string;
}

export interface EpochStatement {
  epoch: string;
  policy: string;
  inferences: number;
  fees: Amount;
  paid: Amount;
  reconciles: boolean;
  lines: StatementLine[];
  /**
   * A closed epoch (cells/rewards/closures.ts): final, with the Merkle root of its reward lines
   * when closed and as recomputed now. Absent for an open one (provisional: a run may change it).
   */
  closure?: { closed_at: string; closed_by: string; inferences: number; lines: number; lines_root: string; recomputed_lines: number; recomputed_root: string };
}

/** The run log's record of a quality-evaluation cell whose table a report quotes. */
export interface QualityRun {
  pipeline: string;
  cell: string;
  fingerprint: string;
  /** The table's content hash, as the run log records it… */
  data_version: string;
  /** …and as hashed again from the Parquet file when the report was collected. */
  recomputed_data_version: string;
}

/**
 * How far the influence scores agree with retraining, from the quality-evaluation cells run on
 * the report's model (loco, lds, mislabel); each part is null when its cell has not run on it.
 * Correlations and rates are null where the table holds no finite number (NaN: constant inputs).
 */
export interface TrustFacts {
  model_id: string;
  /** The command that runs (or reruns) the evaluation. */
  command: string;
  /** Other models of this workspace that have been evaluated (an earlier training): they say nothing about this one. */
  other_models: number;
  loco: {
    run: QualityRun;
    contributors: number;
    /** Spearman between two training seeds' LOCO changes: the most any attribution of one training can reach. */
    ceiling: { seeds: string; spearman: number | null } | null;
    modes: { mode: string; spearman: number | null; spearman_mean_delta: number | null }[];
  } | null;
  lds: {
    run: QualityRun;
    /** Share of the training rows in each random subset (the cell's parameter). */
    fraction: number | null;
    modes: { mode: string; lds: number | null; subsets: number; examples: number }[];
    /** Published figures for another task and model, for scale only. */
    published: { method: string; lds: number | null }[];
  } | null;
  mislabel: {
    run: QualityRun;
    rows: number;
    flipped: number;
    fraction: number;
    flip_seed: number;
    scores: { score: string; auc: number | null; recall: { top_pct: number; k: number; recall: number | null; found: number }[] }[];
  } | null;
  /**
   * Retrained without some contributions (counterfactual cells and `tracebook what-if`
   * questions run on this model), largest removal first. Absent in reports written before it.
   */
  counterfactuals?: CounterfactualFact[];
}

/** One answer to "what if these contributions had never been given?", from its counterfactual table. */
export interface CounterfactualFact {
  run: QualityRun;
  /** A question asked with `tracebook what-if` (or a curator's preview), or one of a pipeline's cells. */
  asked_with: "what-if" | "pipeline";
  /** What was left out, in words (contributors, Datanets, or a count of contributions and the first ids). */
  without: string;
  removed: number;
  removed_contributors: number;
  kept: number;
  /** Of the removed rows, how many also trained the frozen base (which the retrain keeps); null for a model without one. */
  removed_in_base: number | null;
  measured_on: string;
  measured_rows: number;
  accuracy: { with: number | null; without: number | null; seed: number | null };
  loss: { with: number | null; without: number | null; seed: number | null };
  /** The seed of the retrain with nothing left out (the yardstick), when one was run. */
  seed_check: number | null;
  queries: number;
  flips: number;
  flips_seed: number | null;
  /** TracIn's estimate against the retrain's change of each prediction's loss. */
  spearman: number | null;
  flips_found: number;
}

export interface ReportFacts {
  format: typeof REPORT_FORMAT;
  pipeline: string;
  epochs: string[];
  summary: {
    model: { cell: string; id: string; kind: string; held_out_accuracy: number | null };
    datanets: { name: string; contributions: number }[];
    period: { epochs: string[]; first_inference: string | null; last_inference: string | null };
    inferences: number;
    fees: Amount;
    paid: Amount;
    payouts_by_role: { role: string; amount: Amount; recipients: number }[];
    policies: string[];
    reconciles: boolean;
  };
  methodology: {
    method: string;
    influence: string;
    self_influence: string;
    normalisation: string;
    /** How the loss gradient's target entry is computed (absent from reports written before it was stated). */
    loss_gradient?: string;
    shares: string;
    mode: string;
    target: string;
    top_k: number;
    projection: { dim: number; seed: number } | null;
    checkpoints: { index: number; step: number; epoch: number; learning_rate: number; sha256: string }[];
    known_limits: string[];
  };
  lineage: {
    ledger: {
      inferences: number; root: string; unsettled: number;
      /** The settled inferences by how they came in (absent from reports written before it existed). */
      sources?: { source: string; inferences: number; fees: Amount }[];
    };
    receipts: {
      cell: string; count: number; root: string; recomputed: number; mismatched: number; missing: number;
      /** The receipts by how their loss gradient was computed (absent from reports written before it was stated). */
      loss_gradients?: { summed: number; subtracted: number };
      /** TracIn run again from the checkpoints for a seeded sample (absent from reports written before it existed). */
      attribution?: AttributionRecomputed;
      /** The receipts the reward lines cite, found in the workspace's archive (absent from reports written before it existed). */
      archive?: { cited: number; archived: number; recomputed: number };
    };
    model: ModelFacts;
    adapter: { rank: number; alpha: number; targets: string[] } | null;
    base: ModelFacts | null;
    checkpoints: (FileHash & { index: number; step: number; learning_rate: number })[];
    snapshot: { root: string; recomputed_root: string; datanets: string[]; contributions: number };
    contributions: { file_sha256: string; count: number; by_datanet: { datanet: string; count: number; not_approved_now: number }[] };
    /** The rewardSplit cell that wrote the lines. */
    reward_lines: { cell: string; count: number; root: string };
  };
  influence: {
    contributors: { contributor: string; net_influence: number; mean_share: number; inferences_led: number; paid: Amount; penalised: boolean }[];
    contributors_total: number;
    datanets: { datanet: string; net_influence: number; mean_share: number }[];
    proponents: (ContributionText & { appearances: number; total_score: number })[];
    opponents: (ContributionText & { appearances: number; total_score: number })[];
    /**
     * Per epoch and model whose inferences the net runs over (model_id '' for a record from before
     * penalties were per model: several models' inferences as one). model_id is absent from facts
     * written before.
     */
    penalised: { epoch: string; model_id?: string; contributor: string; net_influence: number; record: string }[];
    /**
     * Per epoch (and model): the penalties that would go or come without the 1% of inferences with the most
     * influence (collect/stability.ts). Absent from facts written before it existed.
     */
    penalty_stability?: PenaltyStability[];
    /**
     * Per epoch (and model) with two or more predicted outputs: the contributors who help only one output,
     * and how many of them were penalised (collect/stability.ts). Absent from facts written before it existed.
     */
    penalty_sides?: PenaltySides[];
    /**
     * The check that no penalised contributor is paid from the inferences its penalty covers
     * (collect/influence.ts): the records, those from before penalties were per model, and the
     * lines that pay one anyway. Absent from facts written before it existed.
     */
    penalties_paid?: { records: number; unscoped: number; paid: { epoch: string; model_id: string; contributor: string; inferences: number; amount: Amount }[] };
  };
  quality: {
    decisions: { datanet: string; verdict: string; count: number }[];
    flagged: (ContributionText & { verdict: string; validator: string; rule: string; reason: string; decided_at: string })[];
    trained_then_changed: (ContributionText & { status: string })[];
    duplicates: { datanet: string; submissions: number; duplicates: number }[];
    pending: { datanet: string; count: number }[];
    self_influence: (ContributionText & { label: string; score: number })[];
  };
  /** Absent from reports written before the section existed. */
  trust?: TrustFacts;
  /**
   * What the model's last retrain changed, from the pipeline's retrain-diff cell (collect/retrain.ts):
   * null when it has none on this model, or the model has no predecessor. Absent from reports
   * written before the section existed.
   */
  retrain?: RetrainFacts | null;
  statement: EpochStatement[];
  never_executed: { epoch: string; recipient: string; cell: string | null; model_id: string | null; reason: string }[];
  reproducibility: {
    versions: Record<string, string>;
    backend: { name: string; provider: string };
    seeds: { what: string; seed: number }[];
    cells: { cell: string; kind: string; fingerprint: string; data_version: string }[];
    command: string;
  };
  checks: Check[];
}

/** The model this report is about against the one its cell trained before it (a retrain-diff cell's table). */
export interface RetrainFacts {
  cell: string;
  model_a: string;
  model_b: string;
  trained_a: string | null;
  trained_b: string | null;
  rows_a: number;
  rows_b: number;
  /** On the held-out rows the cell compares on; null where they carry no label. */
  accuracy_a: number | null;
  accuracy_b: number | null;
  loss_a: number | null;
  loss_b: number | null;
  compared: number;
  changed: number;
  settings: { field: string; a: string; b: string }[];
  /** Training rows that left or entered, in the adapter or its base, each with the last record on its trail. */
  rows: (ContributionText & { change: string; scope: string; label: string | null; status: string | null; verdict: string | null; validator: string | null; reason: string | null; decided_at: string | null })[];
  /** The first predictions that changed, the largest fall first (all of them are counted in `changed`). */
  outputs: { contribution: string; label: string | null; prediction_a: string; prediction_b: string; p_a: number; p_b_of_a: number; text: string }[];
}

/** What `report.json` holds: the facts, their hash, and the hashes of the files rendered from them. */
export interface ReportDocument {
  format: typeof REPORT_FORMAT;
  /** sha256 of the canonical facts: the same facts give the same id, whenever and wherever. */
  run_id: string;
  files: Record<string, string>;
  facts: ReportFacts;
}

/** The run id: a hash of the facts, not a timestamp, so a report can be regenerated and compared. */
export function runIdOf(facts: ReportFacts): string {
  return sha256(`${REPORT_FORMAT}\n${canonicalJson(facts)}`);
}

/** The folder name for a run: the first 16 hex characters of its id (64 bits: collisions are not a concern here). */
export function runFolder(runId: string): string {
  return runId.slice(0, 16);
}

/** A seeded sample of receipts whose attribution was computed again with TracIn from the model's checkpoints. */
export interface AttributionRecomputed {
  /** Every sampled receipt recomputed to what it says (false too when the recomputation could not run). */
  ok: boolean;
  sampled: number;
  of: number;
  seed: number;
  mismatched: number;
  /** What was found, in a sentence: all match, the first differences, or why it could not run. */
  detail: string;
}

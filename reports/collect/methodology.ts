import type { Workspace } from "../../cells/store/workspace.ts";
import type { ModelManifest } from "../../cells/factory/store.ts";
import type { ReportFacts } from "../facts.ts";
import type { ReportCells } from "./cells.ts";

/**
 * What a reviewer must know before trusting the scores. Written for people, kept with the
 * facts so a report states the limits of the method that produced it.
 */
export const KNOWN_LIMITS: readonly string[] = [
  "TracIn is a first-order approximation: it sums gradient dot products at a few checkpoints, not the effect of actually removing a contribution and retraining.",
  "Checkpoints stand in for the whole training trajectory; with few checkpoints, influence from steps between them is approximated by their learning rates.",
  "Only the trainable parameters are traced (for an adapter: LoRA A, B and the head). What the frozen base learned from its own data is not credited through the adapter.",
  "Gradient dot products grow with gradient norms: rare, atypical or mislabelled rows (high self-influence) can dominate scores without being more useful.",
  "Scores ignore interactions between contributions: two near-duplicates each get full credit for what either alone would have taught.",
  "With target \"predicted\", influence explains the output the model gave, right or wrong; it is not evidence that the output was correct.",
  "Only positive net influence is paid; opponents earn nothing, and a contributor whose net over an epoch is negative earns nothing from that epoch.",
  "Scores from different models, modes or checkpoint sets are not comparable; random projection (mode \"projection\") adds seeded noise.",
];

/**
 * How ∂ℓ/∂logits is computed, which a reviewer recomputing scores in float32 must match: the
 * subtracted form loses the target entry's digits on near-certain predictions (factors.ts).
 */
export const LOSS_GRADIENT = "∂ℓ/∂logits = softmax(logits) − onehot(target), in float32, with the target's entry taken as −Σ_{c≠target} p_c: the same number as p_target − 1, but a near-certain prediction (p_target within 1e-7 of 1) keeps its digits. Receipts made so say attribution.loss_gradient \"summed\"; a receipt without it was made with p_target − 1 (before attribution version 3) and is recomputed that way.";

/** The attribution method as it was run: the tracin cell's parameters and the checkpoints it summed over. */
export async function collectMethodology(ws: Workspace, cells: ReportCells, manifest: ModelManifest): Promise<ReportFacts["methodology"]> {
  const p = cells.influence.params as { mode?: string; target?: string; topK?: number; projection?: { dim: number; seed: number } };
  const [row] = await ws.rows<{ checkpoints: string }>("select any_value(checkpoints) as checkpoints from read_parquet(?)", [cells.influence.artifact]);
  const used = new Set((row?.checkpoints ?? "").split(",").filter(Boolean).map(Number));
  const mode = p.mode ?? "exact";
  return {
    method: "TracInCP (Pruthi et al., 2020), as in Captum's TracInCP",
    influence: "influence(z, z′) = Σ_k η_k ∇θ ℓ(θ_k, z) · ∇θ ℓ(θ_k, z′)",
    self_influence: "self-influence(z) = Σ_k η_k ‖∇θ ℓ(θ_k, z)‖²",
    normalisation: "η_k (the learning rate in force at checkpoint k) once per checkpoint, no 1/n; θ = the trainable parameters; ℓ = per-example cross-entropy. Positive = proponent, negative = opponent.",
    loss_gradient: LOSS_GRADIENT,
    shares: "Per inference, share(contributor) = max(net score, 0) / Σ max(net score, 0). The contributor pool of each fee is split by these shares, largest remainder to the base unit.",
    mode,
    target: p.target ?? "predicted",
    top_k: p.topK ?? 20,
    projection: mode === "projection" ? p.projection ?? null : null,
    checkpoints: manifest.checkpoints.filter((c) => used.has(c.index))
      .map((c) => ({ index: c.index, step: c.step, epoch: c.epoch, learning_rate: c.learningRate, sha256: c.sha256 })),
    known_limits: [...KNOWN_LIMITS],
  };
}

/**
 * A model as `tracebook model list`, `model diff` and the Model history page show it: its place
 * in its cell's history, its training rows and held-out accuracy, and what it was paid for. Its
 * own module, with no imports, so the notebooks' browser code (cells/notebooks/wire.ts) shares
 * the one definition (catalog.ts: standingOf).
 */
export interface ModelStanding {
  id: string;
  /** `<pipeline>.<cell>` that trained it; null for an imported model. */
  from: string | null;
  /** current: its cell's output now; earlier: superseded (a retrain); imported: trained elsewhere. */
  state: "current" | "earlier" | "imported";
  trainedAt: string;
  contributions: number;
  heldOutAccuracy: number | null;
  inferences: number;
  /** Fees in tokens, as a decimal string. */
  fees: string;
}

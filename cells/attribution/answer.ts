/**
 * What an explanation of an input says (explain.ts), as the CLI's JSON and the dev server's API
 * send it. No imports: the browser's tsconfig checks it too (cells/notebooks/wire.ts).
 */

export interface ExplainedContribution {
  /** 1…k for proponents, −1…−k for opponents. */
  rank: number;
  contribution: string;
  contributor: string;
  datanet: string;
  label: string;
  score: number;
  text: string;
}

export interface ExplainedGroup { name: string; score: number; share: number | null }

export interface Explanation {
  prediction: string;
  /** Per class, in the model's class order. */
  probabilities: { label: string; p: number }[];
  /** The class whose loss is traced: the prediction, or the label asked for. */
  target: string;
  proponents: ExplainedContribution[];
  opponents: ExplainedContribution[];
  contributors: ExplainedGroup[];
  datanets: ExplainedGroup[];
}

export interface ExplainAnswer {
  pipeline: string;
  influence: string;
  model_id: string;
  mode: string;
  checkpoints: number[];
  train_rows: number;
  train_version: string;
  /** Seconds of TracIn for these inputs (the model and training rows were loaded before). */
  seconds: number;
  engine: string;
  explanations: Explanation[];
}


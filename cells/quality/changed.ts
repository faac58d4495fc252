/**
 * A row whose prediction changed between two models (behaviour.ts). Its own module, with no
 * imports, so the notebooks' browser code (cells/notebooks/wire.ts) shares the one definition.
 */
export interface ChangedOutput {
  id: string;
  label: string | null;
  /** The earlier model's prediction, and the later one's. */
  a: string;
  b: string;
  /** The probability the earlier model gives its own prediction. */
  pA: number;
  /** The probability the later model gives the earlier one's prediction: how far it fell. */
  pBofA: number;
  text: string;
}

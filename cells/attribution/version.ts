/**
 * Bump when the influence tables would differ for the same inputs. Its own module: receipts,
 * proofs and reports quote it without loading the TracIn engine (TF.js, onnxruntime).
 */
export const ATTRIBUTION_VERSION = "3"; // 2: duplicate content credited once; 3: the loss gradient `summed` (factors.ts)

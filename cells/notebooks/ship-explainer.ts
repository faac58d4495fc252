import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { InputError } from "../datanet/errors.ts";
import { cellsAsRun, explainSource } from "../attribution/source.ts";
import { encodePortable } from "../attribution/portable-file.ts";
import { sha256 } from "../graph/fingerprint.ts";
import type { NotebookData } from "./data.ts";
import type { ShippedExplainer } from "./wire.ts";
import { makeDir } from "../store/make-dir.ts";

/** More than a page should download to explain one input; such a site says to use `tracebook dev`. */
export const MAX_EXPLAINER_BYTES = 128 * 2 ** 20;

/**
 * Write a pipeline's portable explainer (its default tracin cell's model, checkpoints and
 * training rows: attribution/portable.ts) into a static site's `dir`, so Explain an input runs
 * in the page. A pipeline that cannot be explained (never run, no tracin cell) or whose explainer
 * is too large ships the reason instead, and the page says it.
 */
export async function shipExplainer(data: NotebookData, pipeline: string, dir: string, maxBytes = MAX_EXPLAINER_BYTES): Promise<ShippedExplainer> {
  // TF.js and the model store load only for a site whose notebooks explain.
  const { Explainer } = await import("../attribution/explain.ts");
  let portable;
  try {
    portable = await data.withWorkspace(async (ws) => (await Explainer.load(ws, await explainSource(ws, pipeline, await cellsAsRun(ws, pipeline)))).portable());
  } catch (err) {
    if (err instanceof InputError) return { missing: `this static build has no explainer for ${pipeline}: ${err.message}` };
    throw err;
  }
  const bytes = encodePortable(portable);
  const rows = portable.train.y.length;
  if (bytes.length > maxBytes) {
    return { missing: `the explainer of ${pipeline} would be ${mib(bytes.length)} (${rows} training rows), more than a page should download (${mib(maxBytes)}): run \`tracebook dev\` to explain your own input` };
  }
  // Named by its content: a page never runs an explainer a browser cached from an earlier build.
  // Gzipped, as the tables are (mail's 17.0 MiB ships as 9.6).
  const file = `${pipeline}.${sha256(bytes).slice(0, 16)}.bin.gz`;
  const packed = zlib.gzipSync(bytes, { level: 3 });
  makeDir(dir);
  fs.writeFileSync(path.join(dir, file), packed);
  return { file, bytes: packed.length, influence: portable.source.influence, model_id: portable.source.modelId, train_rows: rows };
}

/** A size as the build's messages give it. */
export const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

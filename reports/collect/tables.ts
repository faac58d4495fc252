import fs from "node:fs";
import type { Workspace } from "../../cells/store/workspace.ts";
import { artifactPath, contentVersion } from "../../cells/graph/artifacts.ts";
import { modelIdsIn } from "../../cells/factory/catalog.ts";
import { round6 } from "./amount.ts";

/** How much of a name from a table (a mode, a score) a report shows. */
const NAME_CHARS = 120;

/**
 * A run's table on disk: content-addressed under this workspace (a copied or moved workspace still
 * finds its own), else the path the run recorded; null when neither exists (collected by gc).
 */
export function tableFile(ws: Workspace, run: { data_version: string; artifact: string | null }): string | null {
  return [artifactPath(ws, run.data_version), run.artifact].find((f): f is string => !!f && fs.existsSync(f)) ?? null;
}

/** The one model a quality table names; null when it names none, several, or has no model_id column. */
export async function modelIn(ws: Workspace, file: string): Promise<string | null> {
  const ids = await modelIdsIn(ws, file).catch(() => []);
  return ids.length === 1 ? ids[0]! : null;
}

/** The table's data version hashed again from its file, as the run log computed it when the cell ran. */
export async function tableVersion(ws: Workspace, file: string): Promise<string> {
  const t = "__report_quality_table";
  await ws.run(`create or replace temp table ${t} as select * from read_parquet(?)`, [file]);
  try {
    return await contentVersion(ws, t);
  } finally {
    await ws.run(`drop table if exists ${t}`);
  }
}

/** A finite number from a table cell, rounded as every score in the facts is; null for NaN, ±∞, null or a non-number. */
export function num(v: unknown): number | null {
  const x = typeof v === "bigint" ? Number(v) : v;
  return typeof x === "number" && Number.isFinite(x) ? round6(x) : null;
}

/** A non-negative integer from a table cell (counts, seeds); 0 when absent. */
export function int(v: unknown): number {
  const x = typeof v === "bigint" ? Number(v) : v;
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0 ? x : 0;
}

export function seed(v: unknown): number {
  const x = typeof v === "bigint" ? Number(v) : v;
  return typeof x === "number" && Number.isSafeInteger(x) ? x : 0;
}

/** A name from a table, as text of bounded length; the renderer escapes it. */
export function name(v: unknown): string {
  const chars = [...String(v ?? "").toWellFormed()];
  return chars.length > NAME_CHARS ? `${chars.slice(0, NAME_CHARS).join("")}…` : chars.join("");
}

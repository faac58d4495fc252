import fs from "node:fs";
import path from "node:path";
import { featureCacheDir } from "../factory/feature-cache.ts";
import { servedCacheDir } from "../notebooks/served-cache.ts";
import type { Workspace } from "../store/workspace.ts";
import { modelDir, modelsRoot, readManifest } from "../factory/store.ts";
import { artifactPath } from "./artifacts.ts";
import { artifactOfGroups } from "./groups.ts";
import { artifactFiles } from "./parts.ts";

/** One thing a collection would remove, and why it is no longer needed. */
export interface Garbage {
  kind: "artifact" | "model" | "temp" | "cache";
  path: string;
  bytes: number;
  why: string;
}

export interface GcPlan {
  /** What stays: every cell's current output and every evaluation table, and the models current outputs or the ledger name. */
  kept: { artifacts: number; models: number; bytes: number };
  garbage: Garbage[];
  bytes: number;
}

/** Cell kinds whose every table stays: quality evaluations and what-if answers. */
const EVIDENCE = ["loco", "lds", "mislabel", "counterfactual"];

/**
 * The columns in which an output names a model it stands on: every model cell's `model_id`, and
 * a retrain comparison's two (`retrainDiff`: the model a retrain superseded, which `tracebook
 * model diff` and the notebooks compare the current one with).
 */
const MODEL_COLUMNS = ["model_id", "model_a", "model_b"];

/** How old a file in tmp/ must be before it counts as left behind by a killed process. */
const TEMP_AGE_MS = 10 * 60_000;

/**
 * What can go: artifacts no cell currently outputs (superseded by a rerun, or the cell is no
 * longer in its pipeline's file: `declared`, the cells of each pipeline whose file loads), models no current
 * output names (MODEL_COLUMNS: a last retrain's earlier model included) and no paid inference
 * names (with the bases of those that stay), and temp files left
 * behind. Nothing is lost that a rerun cannot rebuild: the run log keeps every run, and a cached
 * run whose file is gone is simply recomputed. Models that were imported, not trained here, and
 * every model an executed inference used (receipts and reports cite it) always stay, and so do
 * the tables of quality evaluations and what-if answers.
 * The caller holds the workspace, so no run writes meanwhile.
 */
export async function planGc(ws: Workspace, o: { now?: number; declared?: ReadonlyMap<string, ReadonlySet<string>> } = {}): Promise<GcPlan> {
  const now = o.now ?? Date.now();
  const latest = await ws.rows<{ pipeline: string; cell: string; data_version: string; artifact: string | null }>(
    `select pipeline, cell, data_version, artifact from runs where status = 'succeeded' and data_version is not null
     qualify row_number() over (partition by pipeline, cell order by finished_at desc nulls last, started_at desc) = 1`);
  // A cell taken out of its pipeline's file outputs nothing any more (where the file was loaded;
  // a pipeline whose file could not be read keeps every output).
  const dropped = (r: { pipeline: string; cell: string }) => o.declared?.get(r.pipeline)?.has(r.cell) === false;
  const current = latest.filter((r) => !dropped(r));
  const droppedFrom = new Map(latest.filter(dropped).map((r) => [path.resolve(artifactPath(ws, r.data_version)), r] as const));
  const keptFiles = new Set<string>();
  const keep = (r: { data_version: string; artifact: string | null }) => {
    keptFiles.add(path.resolve(artifactPath(ws, r.data_version)));
    if (r.artifact) keptFiles.add(path.resolve(r.artifact));
  };
  current.forEach(keep);
  const models = new Set<string>((await ws.rows<{ model_id: string }>("select distinct model_id from inferences")).map((r) => r.model_id));
  for (const file of keptFiles) {
    if (!fs.existsSync(file)) continue;
    const named = (await ws.rows<{ name: string }>(
      `select name from parquet_schema(?) where name in (${MODEL_COLUMNS.map(() => "?").join(", ")})`, [file, ...MODEL_COLUMNS])).map((r) => r.name);
    for (const column of named) {
      for (const r of await ws.rows<{ id: string | null }>(`select distinct "${column}" as id from read_parquet(?)`, [file])) if (r.id) models.add(r.id);
    }
  }
  // Evaluations and what-if answers are evidence that took many retrains to get (reports quote
  // them, about the models they were run on): their tables stay, though not the models they name.
  (await ws.rows<{ data_version: string; artifact: string | null }>(
    `select data_version, artifact from runs where status = 'succeeded' and data_version is not null and kind in (${EVIDENCE.map(() => "?").join(", ")})`, [...EVIDENCE])).forEach(keep);
  const garbage: Garbage[] = [];
  const root = modelsRoot(ws.home);
  const present = fs.existsSync(root) ? fs.readdirSync(root).filter((d) => fs.statSync(path.join(root, d)).isDirectory()) : [];
  const manifests = new Map(present.map((id) => {
    try {
      return [id, readManifest(ws.home, id)] as const;
    } catch {
      return [id, null] as const;
    }
  }));
  // Only a cell's output is collected: imported models (the user's data) and unreadable manifests
  // have no producedBy and stay. Bases of kept models stay.
  for (const [id, m] of manifests) if (!m?.producedBy) models.add(id);
  for (const todo = [...models]; todo.length;) {
    const base = manifests.get(todo.pop()!)?.base;
    if (base && !models.has(base)) {
      models.add(base);
      todo.push(base);
    }
  }
  let keptBytes = 0, keptModels = 0;
  for (const id of present) {
    if (/^\..*\.deleting$/.test(id)) {
      garbage.push({ kind: "temp", path: path.join(root, id), bytes: sizeOf(path.join(root, id)), why: "a model folder whose removal was interrupted" });
      continue;
    }
    const bytes = sizeOf(modelDir(ws.home, id));
    if (models.has(id)) {
      keptModels++;
      keptBytes += bytes;
    } else garbage.push({ kind: "model", path: modelDir(ws.home, id), bytes, why: `model ${id.slice(0, 12)}: no current output and no executed inference names it` });
  }
  const artifacts = path.join(ws.home, "artifacts");
  let keptArtifacts = 0;
  // An output written as parts (parts.ts) is a folder whose parts may be links to parts of other
  // versions: a part counts once, and only what no kept version links to is freed by removing it.
  const keptParts = new Set<string>(), counted = new Set<string>();
  const inode = (s: fs.Stats) => `${s.dev}:${s.ino}`;
  const whyUnused = (artifact: string) => {
    const gone = droppedFrom.get(path.resolve(artifact));
    return gone ? `cell ${gone.cell} is no longer in pipeline ${gone.pipeline}` : "no cell's current output (a rerun superseded it)";
  };
  const entries = artifactEntries(artifacts);
  for (const e of entries) {
    if (!e.parts || !keptFiles.has(path.resolve(e.path))) continue;
    keptArtifacts++;
    for (const part of e.parts) {
      if (!keptParts.has(inode(part))) keptBytes += part.size;
      keptParts.add(inode(part));
    }
  }
  for (const e of entries) {
    if (e.parts) {
      if (keptFiles.has(path.resolve(e.path))) continue;
      const freed = e.parts.filter((p) => !keptParts.has(inode(p)) && !counted.has(inode(p)));
      freed.forEach((p) => counted.add(inode(p)));
      garbage.push({ kind: "artifact", path: e.path, bytes: freed.reduce((n, p) => n + p.size, 0), why: whyUnused(e.path) });
      continue;
    }
    const { path: file, stat: { size: bytes, mtimeMs } } = e;
    if (file.endsWith(".parquet") && keptFiles.has(path.resolve(file))) {
      keptArtifacts++;
      keptBytes += bytes;
    } else if (file.endsWith(".parquet")) {
      garbage.push({ kind: "artifact", path: file, bytes, why: whyUnused(file) });
    } else if (artifactOfGroups(file)) {
      // An artifact's group digests (groups.ts) live and go with it.
      if (keptFiles.has(path.resolve(artifactOfGroups(file)!))) keptBytes += bytes;
      else garbage.push({ kind: "artifact", path: file, bytes, why: "group digests of an artifact no cell currently outputs" });
    } else if (now - mtimeMs > TEMP_AGE_MS) {
      garbage.push({ kind: "temp", path: file, bytes: e.stat.isDirectory() ? sizeOf(file) : bytes, why: "left behind by an interrupted write" });
    }
  }
  for (const file of walk(path.join(ws.home, "tmp"))) {
    const stat = fs.statSync(file);
    if (now - stat.mtimeMs > TEMP_AGE_MS) garbage.push({ kind: "temp", path: file, bytes: stat.size, why: "left behind by an interrupted write" });
  }
  // Featurized training rows: a cache, rebuilt by the next command that needs them.
  for (const file of walk(featureCacheDir(ws.home))) {
    garbage.push({ kind: "cache", path: file, bytes: fs.statSync(file).size, why: "featurized training rows (rebuilt on use)" });
  }
  // Arrow streams the notebook server made of outputs: a cache, made again when a page asks.
  for (const file of walk(servedCacheDir(ws.home))) {
    garbage.push({ kind: "cache", path: file, bytes: fs.statSync(file).size, why: "a table the notebook server sent (made again on use)" });
  }
  return {
    kept: { artifacts: keptArtifacts, models: keptModels, bytes: keptBytes },
    garbage, bytes: garbage.reduce((n, g) => n + g.bytes, 0),
  };
}

/**
 * Remove what the plan lists. A model folder is renamed aside first and then deleted, so a crash
 * half-way leaves either the whole folder or none of it under models/ (a reader never meets a
 * model with files missing).
 */
export function collectGarbage(plan: GcPlan): { removed: number; bytes: number } {
  let removed = 0, bytes = 0;
  for (const g of plan.garbage) {
    if (!fs.existsSync(g.path)) continue;
    if (fs.statSync(g.path).isDirectory()) {
      const aside = g.path.endsWith(".deleting") ? g.path : path.join(path.dirname(g.path), `.${path.basename(g.path)}.deleting`);
      if (aside !== g.path) fs.renameSync(g.path, aside);
      fs.rmSync(aside, { recursive: true, force: true });
    } else {
      fs.rmSync(g.path, { force: true });
    }
    removed++;
    bytes += g.bytes;
  }
  return { removed, bytes };
}

/**
 * What the artifact store holds, one entry per output: a file (an output, its group digests, a
 * temp file) or a folder, which is an output written as parts (`<version>.parquet`, with its
 * parts' stats) or the temp folder of a write cut short.
 */
function artifactEntries(root: string): { path: string; stat: fs.Stats; parts?: fs.Stats[] }[] {
  const out: { path: string; stat: fs.Stats; parts?: fs.Stats[] }[] = [];
  if (!fs.existsSync(root)) return out;
  for (const shard of fs.readdirSync(root, { withFileTypes: true })) {
    if (!shard.isDirectory()) {
      out.push({ path: path.join(root, shard.name), stat: fs.statSync(path.join(root, shard.name)) });
      continue;
    }
    for (const e of fs.readdirSync(path.join(root, shard.name), { withFileTypes: true })) {
      const full = path.join(root, shard.name, e.name);
      const stat = fs.statSync(full);
      const parts = e.isDirectory() && e.name.endsWith(".parquet") ? artifactFiles(full).map((f) => fs.statSync(f)) : undefined;
      out.push({ path: full, stat, parts });
    }
  }
  return out;
}

function* walk(dir: string): Generator<string> {
  if (!fs.existsSync(dir)) return;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(full);
    else if (e.isFile()) yield full;
  }
}

function sizeOf(dir: string): number {
  let n = 0;
  for (const f of walk(dir)) n += fs.statSync(f).size;
  return n;
}

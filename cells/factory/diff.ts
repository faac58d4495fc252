import type { Workspace } from "../store/workspace.ts";
import { stageRows } from "../store/stage.ts";
import { readContributions, readManifest, type ContributionRef, type ModelManifest } from "./store.ts";

// What changed between two models, as their lineages say: the settings that enter a model id
// and the training rows (content hashes) that entered one and not the other, each with the
// validation record that explains it (a curator's rejection, an approval, an import).

export interface SettingChange {
  /** A lineage field, as a dotted path: `training.seed`, `lora.rank`, `base`. */
  field: string;
  a: string;
  b: string;
}

/** The last record on a contribution's validation trail. */
export interface TrailRecord {
  verdict: string;
  validator: string;
  rule: string | null;
  reason: string | null;
  decidedAt: Date;
}

export interface RowChange extends ContributionRef {
  label: string | null;
  /** Its status now (null: no longer in the workspace). */
  status: string | null;
  record: TrailRecord | null;
}

export interface RowsDiff {
  a: number;
  b: number;
  added: RowChange[];
  removed: RowChange[];
  /** Per contributor: rows that entered b and rows that left, most changed first. */
  contributors: { contributor: string; added: number; removed: number }[];
}

export interface LineageDiff {
  a: ModelManifest;
  b: ModelManifest;
  settings: SettingChange[];
  rows: RowsDiff;
  /** When both are adapters over different bases: what changed in the bases' own training rows. */
  base: { a: string; b: string; rows: RowsDiff } | null;
}

/** The lineage of two models side by side: settings that differ, rows added and removed. */
export async function diffLineage(ws: Workspace, a: ModelManifest, b: ModelManifest): Promise<LineageDiff> {
  let base: LineageDiff["base"] = null;
  if (a.base && b.base && a.base !== b.base) {
    base = { a: a.base, b: b.base, rows: await diffRows(ws, readManifest(ws.home, a.base), readManifest(ws.home, b.base)) };
  }
  return { a, b, settings: diffSettings(a, b), rows: await diffRows(ws, a, b), base };
}

/** The lineage fields (what enters a model id) whose values differ. */
export function diffSettings(a: ModelManifest, b: ModelManifest): SettingChange[] {
  const lineage = (m: ModelManifest) => flatten({
    kind: m.kind, base: m.base, spec: m.spec, featurizer: m.featurizer, lora: m.lora, training: m.training, seed: m.seed,
    backend: m.backend.name, codeVersion: m.codeVersion, datanets: m.snapshot?.datanets ?? null,
  });
  const [fa, fb] = [lineage(a), lineage(b)];
  const fields = [...new Set([...fa.keys(), ...fb.keys()])];
  return fields.filter((f) => fa.get(f) !== fb.get(f)).map((field) => ({ field, a: fa.get(field) ?? "(none)", b: fb.get(field) ?? "(none)" }));
}

/** Leaves of a settings object as dotted paths; lists as one value (a layer list is one setting). */
function flatten(value: unknown, prefix = "", out = new Map<string, string>()): Map<string, string> {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (value !== undefined) {
    out.set(prefix, value === null ? "(none)" : typeof value === "string" ? value : JSON.stringify(value));
  }
  return out;
}

async function diffRows(ws: Workspace, a: ModelManifest, b: ModelManifest): Promise<RowsDiff> {
  const key = (r: ContributionRef) => `${r.datanet}\u0000${r.id}`;
  const [ra, rb] = [readContributions(ws.home, a), readContributions(ws.home, b)];
  const [ka, kb] = [new Set(ra.map(key)), new Set(rb.map(key))];
  const added = rb.filter((r) => !ka.has(key(r)));
  const removed = ra.filter((r) => !kb.has(key(r)));
  const explained = await explain(ws, [...added, ...removed]);
  const perContributor = new Map<string, { contributor: string; added: number; removed: number }>();
  const count = (r: ContributionRef, side: "added" | "removed") => {
    const c = perContributor.get(r.contributor) ?? { contributor: r.contributor, added: 0, removed: 0 };
    c[side]++;
    perContributor.set(r.contributor, c);
  };
  added.forEach((r) => count(r, "added"));
  removed.forEach((r) => count(r, "removed"));
  return {
    a: ra.length, b: rb.length,
    added: added.map((r) => explained.get(key(r))!),
    removed: removed.map((r) => explained.get(key(r))!),
    contributors: [...perContributor.values()].sort((x, y) => y.added + y.removed - (x.added + x.removed) || x.contributor.localeCompare(y.contributor)),
  };
}

/** Each row's label and status now, and the last record on its trail: why it entered or left. */
async function explain(ws: Workspace, refs: ContributionRef[]): Promise<Map<string, RowChange>> {
  const out = new Map<string, RowChange>();
  if (!refs.length) return out;
  await stageRows(ws, "__tracebook_diff_rows", [["datanet", "VARCHAR"], ["id", "VARCHAR"], ["contributor", "VARCHAR"]], refs.map((r) => [r.datanet, r.id, r.contributor]));
  const rows = await ws.rows<{ datanet: string; id: string; contributor: string; label: string | null; status: string | null; verdict: string | null; validator: string | null; rule: string | null; reason: string | null; decided_at: Date | null }>(
    `select r.datanet, r.id, r.contributor, c.label, c.status, v.verdict, v.validator, v.rule, v.reason, v.decided_at
     from __tracebook_diff_rows r
     left join contributions c on c.datanet = r.datanet and c.id = r.id
     left join (select * from validations qualify row_number() over (partition by datanet, contribution order by seq desc) = 1) v
       on v.datanet = r.datanet and v.contribution = r.id
     order by r.datanet, r.id`,
  );
  await ws.run("drop table if exists __tracebook_diff_rows");
  for (const r of rows) {
    out.set(`${r.datanet}\u0000${r.id}`, {
      datanet: r.datanet, id: r.id, contributor: r.contributor, label: r.label, status: r.status,
      record: r.verdict === null ? null : { verdict: r.verdict, validator: r.validator!, rule: r.rule, reason: r.reason, decidedAt: new Date(r.decided_at!) },
    });
  }
  return out;
}

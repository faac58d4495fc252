import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Workspace } from "../../cells/store/workspace.ts";
import type { ModelManifest } from "../../cells/factory/store.ts";
import type { ReportFacts } from "../facts.ts";
import { REPORT_FORMAT } from "../facts.ts";
import { rendererVersion } from "../render/version.ts";
import type { ReportCells } from "./cells.ts";

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The packages whose versions decide the numbers and the rendering. */
const PACKAGES = ["@tensorflow/tfjs", "@duckdb/node-api", "@observablehq/plot", "linkedom"] as const;

function versionOf(packageJson: string): string {
  try {
    return (JSON.parse(fs.readFileSync(packageJson, "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** The tool versions this process runs: the only facts that come from the machine, not the workspace. */
export function toolVersions(): Record<string, string> {
  return {
    report: REPORT_FORMAT,
    renderer: rendererVersion(),
    tracebook: versionOf(path.join(PROJECT_ROOT, "package.json")),
    node: process.version,
    ...Object.fromEntries(PACKAGES.map((p) => [p, versionOf(path.join(PROJECT_ROOT, "node_modules", p, "package.json"))])),
  };
}

/** Versions, backend, every seed, the cells' fingerprints and the command that regenerates the report. */
export async function collectReproducibility(ws: Workspace, pipeline: string, epochs: string[], cells: ReportCells, manifest: ModelManifest, base: ModelManifest | null): Promise<ReportFacts["reproducibility"]> {
  const seeds: { what: string; seed: number }[] = [];
  if (base?.seed != null) seeds.push({ what: `base model training (${base.id.slice(0, 12)})`, seed: base.seed });
  if (manifest.seed != null) seeds.push({ what: `${manifest.kind} training (${manifest.id.slice(0, 12)})`, seed: manifest.seed });
  // The usage cell is a workload itself, or a usage ledger read after workload cells.
  const after = cells.usage.kind === "usage-ledger" ? (cells.usage.params.after as string[] | undefined) ?? [] : [];
  for (const w of [cells.usage, ...cells.all.filter((c) => after.includes(c.cell))]) {
    if (w.kind === "inferences" && typeof w.params.seed === "number") seeds.push({ what: `inference workload (cell ${w.cell})`, seed: w.params.seed });
  }
  const projection = (cells.influence.params as { mode?: string; projection?: { seed: number } });
  if (projection.mode === "projection" && projection.projection) seeds.push({ what: `random projection (cell ${cells.influence.cell})`, seed: projection.projection.seed });
  const datanets = manifest.snapshot?.datanets ?? [];
  if (datanets.length) {
    const rows = await ws.rows<{ name: string; split_seed: bigint }>(`select name, split_seed from datanets where name in (${datanets.map(() => "?").join(", ")}) order by name`, datanets);
    for (const r of rows) seeds.push({ what: `train/test split of Datanet ${r.name}`, seed: Number(r.split_seed) });
  }
  return {
    versions: toolVersions(),
    backend: { ...manifest.backend },
    seeds,
    cells: cells.all.map((c) => ({ cell: c.cell, kind: c.kind, fingerprint: c.fingerprint, data_version: c.dataVersion })),
    command: `npx tracebook run ${shellWord(pipeline)} && npx tracebook report ${shellWord(pipeline)}${epochs.length === 1 ? ` --epoch ${shellWord(epochs[0]!)}` : ""}`,
  };
}

/** A word a POSIX shell reads back unchanged: a reviewer may paste the command. */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

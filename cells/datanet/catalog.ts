import type { Workspace } from "../store/workspace.ts";
import type { DatanetSpec } from "./types.ts";
import { knownDatanet } from "./known.ts";

export interface DatanetSummary {
  name: string;
  kind: string;
  source: string;
  contributions: number;
  contributors: number;
  approved: number;
  pending: number;
  rejected: number;
  quarantined: number;
  train: number;
  test: number;
  /** Submitted copies of content that was already in the Datanet. */
  duplicates: number;
  created_at: Date;
}

export async function listDatanets(ws: Workspace): Promise<DatanetSummary[]> {
  const rows = await ws.rows<Record<string, unknown>>(`
    select d.name, d.kind, d.source,
           count(c.id) as contributions,
           count(distinct c.contributor) as contributors,
           count(c.id) filter (where c.status = 'approved') as approved,
           count(c.id) filter (where c.status = 'pending') as pending,
           count(c.id) filter (where c.status = 'rejected') as rejected,
           count(c.id) filter (where c.status = 'quarantined') as quarantined,
           count(c.id) filter (where c.split = 'train') as train,
           count(c.id) filter (where c.split = 'test') as test,
           coalesce((select count(*) from submissions s where s.datanet = d.name and s.duplicate), 0) as duplicates,
           d.created_at
    from datanets d left join contributions c on c.datanet = d.name
    group by d.name, d.kind, d.source, d.created_at
    order by d.name`);
  return rows.map((r) => numbers(r) as unknown as DatanetSummary);
}

export interface DatanetDetail {
  spec: DatanetSpec;
  summary: DatanetSummary;
  labels: { label: string; split: string; status: string; n: number }[];
  contributors: { contributor: string; display_name: string; contributions: number; labels: string; duplicates: number }[];
  imports: { id: string; importer: string; source: string; source_sha256: string | null; rows_read: number; contributions_added: number; duplicates: number; finished_at: Date }[];
}

export async function describeDatanet(ws: Workspace, name: string): Promise<DatanetDetail> {
  const spec = await knownDatanet(ws, name);
  const summary = (await listDatanets(ws)).find((d) => d.name === name)!;
  const labels = await ws.rows<Record<string, unknown>>(
    "select label, split, status, count(*) as n from contributions where datanet = ? group by all order by label, split, status",
    [name],
  );
  const contributors = await ws.rows<Record<string, unknown>>(
    `select c.contributor, p.display_name, count(*) as contributions, string_agg(distinct c.label, ',' order by c.label) as labels,
            coalesce((select count(*) from submissions s where s.datanet = ? and s.contributor = c.contributor and s.duplicate), 0) as duplicates
     from contributions c join contributors p on p.id = c.contributor
     where c.datanet = ? group by c.contributor, p.display_name order by contributions desc, c.contributor`,
    [name, name],
  );
  const imports = await ws.rows<Record<string, unknown>>(
    `select id, importer, source, source_sha256, rows_read, contributions_added, duplicates, finished_at
     from imports where datanet = ? order by finished_at`,
    [name],
  );
  return {
    spec,
    summary,
    labels: labels.map(numbers) as unknown as DatanetDetail["labels"],
    contributors: contributors.map(numbers) as unknown as DatanetDetail["contributors"],
    imports: imports.map(numbers) as unknown as DatanetDetail["imports"],
  };
}

/** Counts come back from DuckDB as bigint; these are small enough to be plain numbers. */
function numbers(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === "bigint" ? Number(v) : v]));
}

import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import type { Workspace } from "../store/workspace.ts";
import { nowUtc } from "../store/workspace.ts";
import { quoteLiteral } from "../store/export.ts";
import { InputError } from "./errors.ts";
import { canonicalFeatures, canonicalText, contributionId } from "./hash.ts";
import { SPLIT_RULE, splitOf } from "./split.ts";
import { listValue } from "@duckdb/node-api";
import { checkContribution } from "./check.ts";
import { DATANET_NAME, IMPORT_RULE, STATUSES, type ContributionInput, type ContributorInfo, type DatanetSpec, type Status } from "./types.ts";

export type IngestMode = "create" | "append" | "replace";

export interface IngestOptions {
  /** create: the Datanet must not exist; append: it must; replace: drop it (rows and validation trail) first. */
  mode: IngestMode;
  /** Status of newly added contributions. Anything but pending is recorded as a validation by `validator`. */
  status: Status;
  validator: string;
  /** Why the initial status was given, for the validation trail. */
  statusReason?: string;
  importer: string;
  /** The source's sha256; a function when it is known only once the rows were read (a streamed file's). */
  sourceSha256?: string | null | (() => string | null);
  contributors?: ReadonlyMap<string, ContributorInfo>;
  onProgress?: (done: number) => void;
}

export interface ImportSummary {
  importId: string;
  datanet: string;
  rowsRead: number;
  contributionsAdded: number;
  /** Rows whose content (same id) was already in the Datanet or earlier in the same import. */
  duplicates: number;
  contributorsAdded: number;
  seconds: number;
}

const STAGE_COLUMNS =
  "{ord: 'BIGINT', id: 'VARCHAR', contributor: 'VARCHAR', title: 'VARCHAR', text: 'VARCHAR', html: 'VARCHAR', " +
  "features: 'FLOAT[]', label: 'VARCHAR', split: 'VARCHAR', submitted_at: 'TIMESTAMP', source: 'VARCHAR'}";

/**
 * Ingest contributions into a Datanet, all or nothing. Rows are checked and hashed in JS,
 * staged as NDJSON in the workspace scratch directory, and loaded by DuckDB's reader inside
 * one transaction (per-value appends are ~8× slower for feature vectors). Exact duplicates
 * keep their first copy as the contribution and every copy as a submission flagged duplicate.
 */
export async function ingest(
  ws: Workspace,
  spec: DatanetSpec,
  inputs: Iterable<ContributionInput> | AsyncIterable<ContributionInput>,
  options: IngestOptions,
): Promise<ImportSummary> {
  const started = nowUtc();
  const t0 = performance.now();
  checkSpec(spec);
  if (!STATUSES.includes(options.status)) throw new Error(`unknown status "${options.status}" (one of ${STATUSES.join(", ")})`);
  const existing = await loadDatanetSpec(ws, spec.name);
  if (options.mode === "create" && existing) {
    throw new Error(`Datanet "${spec.name}" already exists; append to it, or re-import with --replace`);
  }
  if (options.mode === "append" && !existing) throw new Error(`unknown Datanet "${spec.name}"`);
  // Appends keep the Datanet's recorded contract (kind, dimension, split rule).
  const effective = { ...(options.mode === "append" && existing ? existing : spec) };
  if (options.mode === "append" && existing) assertCompatible(existing, spec);

  const stage = path.join(ws.scratchDir(), `ingest-${randomUUID()}.ndjson`);
  try {
    const rowsRead = await stageRows(stage, effective, inputs, options.onProgress);
    if (rowsRead === 0) throw new InputError("no rows to import", { file: spec.source });
    const importId = randomUUID();
    return await ws.transaction(async () => {
      if (options.mode === "replace" && existing) await dropDatanetRows(ws, spec.name);
      if (options.mode !== "append") await insertDatanet(ws, effective);
      await ws.run(
        `create or replace temp table __stage as
           select *, row_number() over (partition by id order by ord) as copy_no
           from read_json(${quoteLiteral(stage)}, format = 'newline_delimited', columns = ${STAGE_COLUMNS},
                          maximum_object_size = 268435456)`,
      );
      const contributorsAdded = await insertContributors(ws, effective, options.contributors, started);
      await ws.run(
        `create or replace temp table __new as
           select s.* from __stage s
           where s.copy_no = 1
             and not exists (select 1 from contributions c where c.datanet = ? and c.id = s.id)`,
        [spec.name],
      );
      await ws.run(
        `insert into contributions
           select ?, id, contributor, title, text, html, features, label, split, ?, submitted_at, source
           from __new order by ord`,
        [spec.name, options.status],
      );
      await ws.run(
        `insert into submissions
           select ?, s.ord, ?, s.id, s.contributor, s.source, s.submitted_at,
                  (s.id not in (select id from __new)) or s.copy_no > 1
           from __stage s`,
        [importId, spec.name],
      );
      if (options.status !== "pending") {
        await ws.run(
          `insert into validations (datanet, contribution, validator, verdict, rule, reason, decided_at)
             select ?, id, ?, ?, ?, ?, ?::timestamp from __new order by ord`,
          [spec.name, options.validator, options.status, IMPORT_RULE, options.statusReason ?? `imported as ${options.status}`, started],
        );
      }
      const [counts] = await ws.rows<{ added: bigint; dups: bigint }>(
        "select (select count(*) from __new) as added, (select count(*) from __stage) - (select count(*) from __new) as dups",
      );
      const summary: ImportSummary = {
        importId,
        datanet: spec.name,
        rowsRead,
        contributionsAdded: Number(counts!.added),
        duplicates: Number(counts!.dups),
        contributorsAdded,
        seconds: 0,
      };
      await ws.run(
        "insert into imports values (?, ?, ?, ?, ?, ?, ?, ?, ?::timestamp, ?::timestamp)",
        [importId, spec.name, spec.source, (typeof options.sourceSha256 === "function" ? options.sourceSha256() : options.sourceSha256) ?? null, options.importer, rowsRead,
          summary.contributionsAdded, summary.duplicates, started, nowUtc()],
      );
      await ws.run("drop table __stage");
      await ws.run("drop table __new");
      summary.seconds = (performance.now() - t0) / 1000;
      return summary;
    });
  } finally {
    fs.rmSync(stage, { force: true });
  }
}

async function stageRows(
  stage: string,
  spec: DatanetSpec,
  inputs: Iterable<ContributionInput> | AsyncIterable<ContributionInput>,
  onProgress?: (done: number) => void,
): Promise<number> {
  const fd = fs.openSync(stage, "w");
  let ord = 0;
  let buffered: string[] = [];
  try {
    for await (const input of inputs) {
      // A new features Datanet takes its dimension from its first row; every later row must match.
      if (spec.kind === "features" && spec.featureDim == null && input.features) spec.featureDim = input.features.length;
      checkContribution(spec, input);
      const title = input.title == null ? null : canonicalText(input.title);
      const text = input.text == null ? null : canonicalText(input.text);
      const features = input.features == null ? null : canonicalFeatures(input.features);
      const id = contributionId({ title, text, features, label: input.label });
      buffered.push(JSON.stringify({
        ord: ord++, id, contributor: input.contributor, title, text, html: input.html ?? null,
        features: features ? Array.from(features) : null, label: input.label,
        split: splitOf(id, spec.splitSeed, spec.testFraction), submitted_at: input.submittedAt.toISOString(),
        source: input.source,
      }));
      if (buffered.length >= 1000) {
        fs.writeSync(fd, buffered.join("\n") + "\n");
        buffered = [];
        onProgress?.(ord);
      }
    }
    if (buffered.length) fs.writeSync(fd, buffered.join("\n") + "\n");
    onProgress?.(ord);
  } finally {
    fs.closeSync(fd);
  }
  return ord;
}

async function insertContributors(
  ws: Workspace,
  spec: DatanetSpec,
  infos: ReadonlyMap<string, ContributorInfo> | undefined,
  at: string,
): Promise<number> {
  const fresh = await ws.rows<{ contributor: string }>(
    `select distinct contributor from __stage
     where contributor not in (select id from contributors) order by contributor`,
  );
  for (const { contributor } of fresh) {
    const info = infos?.get(contributor);
    await ws.run("insert into contributors values (?, ?, ?, ?::timestamp)", [
      contributor, info?.displayName ?? contributor, info?.rule ?? spec.contributorRule, at,
    ]);
  }
  return fresh.length;
}

async function insertDatanet(ws: Workspace, spec: DatanetSpec): Promise<void> {
  await ws.run("insert into datanets values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::timestamp)", [
    spec.name, spec.kind, spec.description, spec.source, spec.labels ? listValue(spec.labels) : null,
    spec.featureDim ?? null, SPLIT_RULE, spec.splitSeed, spec.testFraction, spec.contributorRule, nowUtc(),
  ]);
}

/** Drop a Datanet's rows and trail, inside the caller's transaction. */
export async function dropDatanetRows(ws: Workspace, name: string): Promise<void> {
  for (const table of ["submissions", "validations", "contributions", "imports", "datanets"]) {
    await ws.run(`delete from ${table} where ${table === "datanets" ? "name" : "datanet"} = ?`, [name]);
  }
}

export async function loadDatanetSpec(ws: Workspace, name: string): Promise<DatanetSpec | null> {
  const [row] = await ws.rows<{
    name: string; kind: "text" | "features"; description: string; source: string; labels: string[] | null;
    feature_dim: number | null; contributor_rule: string; split_seed: bigint; test_fraction: number;
  }>("select * from datanets where name = ?", [name]);
  if (!row) return null;
  return {
    name: row.name, kind: row.kind, description: row.description, source: row.source, labels: row.labels,
    featureDim: row.feature_dim, contributorRule: row.contributor_rule, splitSeed: Number(row.split_seed),
    testFraction: row.test_fraction,
  };
}

function checkSpec(spec: DatanetSpec): void {
  if (!DATANET_NAME.test(spec.name)) {
    throw new Error(`invalid Datanet name "${spec.name}": use lowercase letters, digits, '.', '_' or '-' (at most 64)`);
  }
  if (!(spec.testFraction >= 0 && spec.testFraction < 1)) throw new InputError(`test fraction ${spec.testFraction} is not in [0, 1)`);
  if (!Number.isSafeInteger(spec.splitSeed)) throw new InputError(`split seed ${spec.splitSeed} is not an integer`);
}

function assertCompatible(existing: DatanetSpec, incoming: DatanetSpec): void {
  if (existing.kind !== incoming.kind) {
    throw new Error(`Datanet "${existing.name}" holds ${existing.kind} contributions; this import has ${incoming.kind}`);
  }
}

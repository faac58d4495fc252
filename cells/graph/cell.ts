import type { DuckDBValue } from "@duckdb/node-api";
import type { Workspace } from "../store/workspace.ts";
import type { OutputGroups } from "./groups.ts";

/**
 * The contract every cell kind implements. A cell is a value: kind, the kind's code version,
 * JSON-able params and the names of the cells it reads. Nothing runs when a cell is declared.
 */
export interface Cell {
  readonly kind: string;
  /** Bump when the kind's code would produce different output for the same params and inputs. */
  readonly version: string;
  readonly params: unknown;
  readonly inputs: readonly string[];
  /**
   * False for a kind that never reaches TF.js (a query, a Datanet, the ledger, the split): the
   * scheduler starts the compute backend before any other kind runs, as cells expect it started,
   * and not before these, so a run of them loads no TF.js and a forced backend that cannot start
   * fails only the cells that compute.
   */
  readonly computes?: boolean;
  /**
   * For cells that read state outside the graph (a Datanet): the version of that state now,
   * cheap to compute. It enters the fingerprint, so a curator's decision makes the cell stale.
   * `pipeline` is the pipeline the cell is planned in, for state kept per pipeline (the usage ledger).
   */
  source?(ws: Workspace, pipeline: string): Promise<SourceVersion>;
  run(ctx: CellContext): Promise<CellResult>;
  /**
   * For cells whose output table points at files outside it (a model folder): why the recorded
   * output cannot be used any more, or null when it can. A reason makes the cell stale.
   */
  verify?(ws: Workspace, artifact: string): Promise<string | null>;
}

export interface SourceVersion {
  version: string;
  /** How to name the state in a staleness reason, e.g. "Datanet mail-spam snapshot". */
  describe: string;
}

export interface CellInput {
  name: string;
  /** A quoted identifier of a temp view over the input's artifact, ready to splice into SQL. */
  relation: string;
  dataVersion: string;
  artifact: string;
}

export interface CellContext {
  ws: Workspace;
  pipeline: string;
  cell: string;
  inputs: Readonly<Record<string, CellInput>>;
  /** Aborted on Ctrl-C: long cells check it between steps. */
  signal: AbortSignal;
  /** Report progress of a long cell; the CLI draws it. */
  progress(done: number, total: number, label?: string): void;
  /** A line worth showing while the cell runs (the compute backend chosen, a final metric). */
  log(message: string): void;
  /** The source version computed for this run (source cells only). */
  sourceVersion?: string;
  /** A forced run (`--force`) recomputes from nothing: a cell that reuses its earlier output must not. */
  forced?: boolean;
}

/**
 * A cell's output is a table defined by a query over its inputs' views and the workspace,
 * materialised by the graph into a content-addressed Parquet artifact. `dataVersion` may be
 * given when the kind knows its identity better than a content hash (a snapshot root).
 */
export interface CellResult {
  query: string;
  params?: DuckDBValue[];
  dataVersion?: string;
  /**
   * The output is groups of rows keyed by a column, most taken over from the previous output
   * (`unchanged`): it is versioned per group, so only the new groups' rows are hashed.
   */
  groups?: OutputGroups;
  /** Drop what the query reads that the cell staged for it (temp tables), once it is written. */
  release?(): Promise<void>;
}

/** Why a pipeline was refused before anything ran. */
export class PipelineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PipelineError";
  }
}

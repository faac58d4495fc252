import fs from "node:fs";
import path from "node:path";
import { requestFields } from "./api.ts";
import type { NotebookData } from "./data.ts";
import type { StatusAnswer, StatusRequest } from "./wire.ts";
import { statesOf } from "../graph/status.ts";
import type { Workspace } from "../store/workspace.ts";
import { makeDir } from "../store/make-dir.ts";

/** Check a status request before the workspace is opened; every error names the field at fault. */
export function parseStatusRequest(body: unknown, served: ReadonlySet<string>): StatusRequest {
  const b = requestFields(body, ["pipeline"], "{pipeline}", served);
  return { pipeline: b.pipeline as string };
}

/**
 * Every cell of a served pipeline now, as `tracebook status` tells it: its file read again (an
 * edit since the last run makes cells stale), the states worked out against the run log. It only
 * reads; a watcher mid-cycle holds the workspace, and the answer waits for it.
 */
export async function answerStatus(data: NotebookData, req: StatusRequest, o: { spec?: string; cwd?: string; watched: boolean }): Promise<StatusAnswer> {
  return data.withWorkspace((ws) => readStatus(ws, req.pipeline, o), { attempts: 8 });
}

/**
 * The states from an open workspace: also what a static build ships. `spec` is where the server
 * found the pipeline (a file, or its name: pipelines/<name>.pipeline.ts, else the file this
 * workspace last ran it from). A file that does not load is said, not thrown: the page shows why.
 */
export async function readStatus(ws: Workspace, pipeline: string, o: { spec?: string; cwd?: string; watched: boolean | null }): Promise<StatusAnswer> {
  const at = new Date().toISOString(); // before reading: a watcher's report heard after it is newer (cells-now.ts)
  const { file, unread, cells } = await statesOf(ws, pipeline, o);
  return {
    pipeline, watched: o.watched, at, file, unread,
    cells: cells.map((c) => ({ cell: c.cell, kind: c.kind, state: c.state, reason: c.reason, rows: c.rows, data_version: c.dataVersion, finished_at: c.finishedAt?.toISOString() ?? null })),
  };
}

/** Write the cell states for a static site's Pipeline runs page, as they were when it was built. */
export async function shipStatus(data: NotebookData, pipeline: string, dir: string, o: { spec?: string; cwd?: string }): Promise<{ file: string; answer: StatusAnswer }> {
  const answer = await data.withWorkspace((ws) => readStatus(ws, pipeline, { ...o, watched: null }), { attempts: 8 });
  const file = `${pipeline}.status.json`;
  makeDir(dir);
  fs.writeFileSync(path.join(dir, file), JSON.stringify(answer));
  return { file, answer };
}


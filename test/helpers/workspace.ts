import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openWorkspace, WorkspaceBusyError, type Workspace } from "../../cells/store/workspace.ts";

export function tempDir(prefix = "tb-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Open the workspace, waiting (up to a minute) while another process — a watcher, the notebook server, the CLI — holds it. */
export async function openWorkspaceRetrying(home: string): Promise<Workspace> {
  for (let i = 0; ; i++) {
    try {
      return await openWorkspace({ home });
    } catch (err) {
      if (i > 240 || !(err instanceof WorkspaceBusyError)) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export async function tempWorkspace(): Promise<Workspace> {
  return openWorkspace({ home: tempDir("tb-ws-") });
}

const TABLES = ["datanets", "contributors", "contributions", "validations", "imports", "submissions", "schema_migrations"];

/** Every row of every table, as text: equal snapshots mean an unchanged database. */
export async function snapshot(ws: Workspace): Promise<string> {
  const parts: string[] = [];
  for (const table of TABLES) {
    const rows = await ws.rows(`select * from ${table} order by all`);
    parts.push(`${table}:${JSON.stringify(rows, (_k, v) => (typeof v === "bigint" ? v.toString() : v))}`);
  }
  return parts.join("\n");
}

/** A pipeline module `<name>.pipeline.ts` with this source, in a temp folder that is an ES module package. */
export function pipelineFile(name: string, source: string): string {
  const dir = tempDir("tb-pipe-");
  fs.writeFileSync(path.join(dir, "package.json"), '{"type":"module"}\n');
  const file = path.join(dir, `${name}.pipeline.ts`);
  fs.writeFileSync(file, source);
  return file;
}

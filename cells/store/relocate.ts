import fs from "node:fs";
import path from "node:path";
import type { Workspace } from "./workspace.ts";
import { quoteIdent, quoteLiteral } from "./export.ts";

/** The folder under a workspace's home that holds every cell output (`<2 hex>/<data version>.parquet`). */
export const ARTIFACTS_DIR = "artifacts";

/**
 * A workspace is a folder its user moves, renames, copies to a reviewer or restores from a backup.
 * The runs table names each output by its absolute path, so that `read_parquet(artifact)` works
 * in `tracebook sql` and in any DuckDB. Opened somewhere else, those paths would name the old
 * folder: every cell would look stale and run again, `show` and `rewards` would fail on a missing
 * file, and a copy would read the original's files (and lose them to the original's gc). So on
 * open, a path outside this home's artifact store is pointed into it: the part after the store's
 * folder is where the same file is in any workspace. Nothing is written when nothing moved (the
 * notebook server's watchers wake on writes), nor in a workspace open read-only.
 */
export async function relocateArtifacts(ws: Workspace): Promise<number> {
  const store = path.join(ws.home, ARTIFACTS_DIR) + path.sep;
  // Greedy up to the last `/artifacts/`: an old home may itself contain a folder of that name.
  const within = `^(.*)[/\\\\]${ARTIFACTS_DIR}[/\\\\]([0-9a-f]{2})[/\\\\]([^/\\\\]+)$`;
  const elsewhere = `artifact is not null and not starts_with(artifact, $store) and regexp_matches(artifact, $within)`;
  const homes = await ws.rows<{ home: string; n: bigint }>(
    `select regexp_extract(artifact, $within, 1) as home, count(*) as n from runs where ${elsewhere} group by all`, { store, within });
  // The same folder by another path (a symlink; /tmp on macOS) has not moved: nothing to write.
  const moved = homes.filter((h) => !sameFolder(h.home, ws.home));
  if (!moved.length) return 0;
  // Literals rather than parameters: the read-only view's text cannot hold parameters.
  const [at, pattern] = [quoteLiteral(store), quoteLiteral(within)];
  const olds = `[${moved.map((h) => quoteLiteral(h.home)).join(", ")}]::varchar[]`;
  const from = `artifact is not null and not starts_with(artifact, ${at}) and regexp_matches(artifact, ${pattern})
                and list_contains(${olds}, regexp_extract(artifact, ${pattern}, 1))`;
  const here = `${at} || regexp_extract(artifact, ${pattern}, 2) || ${quoteLiteral(path.sep)} || regexp_extract(artifact, ${pattern}, 3)`;
  if (ws.readOnly) {
    // Read-only, the paths are pointed home in a temp view of the table, which every query of this
    // connection that names `runs` reads instead (DuckDB looks in the temp schema first). A view
    // takes no write, so nothing meant for the workspace lands in memory unnoticed.
    const [{ db } = { db: "" }] = await ws.rows<{ db: string }>("select current_database() as db");
    await ws.run(`create temp view runs as select * replace (case when ${from} then ${here} else artifact end as artifact) from ${quoteIdent(db)}.main.runs`);
  } else {
    await ws.run(`update runs set artifact = ${here} where ${from}`);
  }
  return moved.reduce((n, h) => n + Number(h.n), 0);
}

function sameFolder(a: string, b: string): boolean {
  try {
    return fs.realpathSync(a) === fs.realpathSync(b);
  } catch {
    return false; // the old folder is gone: moved
  }
}

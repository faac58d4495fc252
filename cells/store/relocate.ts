import fs from "node:fs";
import path from "node:path";
import type { Workspace } from "./workspace.ts";

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
 * notebook server's watchers wake on writes).
 */
export async function relocateArtifacts(ws: Workspace): Promise<number> {
  const store = path.join(ws.home, ARTIFACTS_DIR) + path.sep;
  // Greedy up to the last `/artifacts/`: an old home may itself contain a folder of that name.
  const within = `^(.*)[/\\\\]${ARTIFACTS_DIR}[/\\\\]([0-9a-f]{2})[/\\\\]([^/\\\\]+)$`;
  const elsewhere = `artifact is not null and not starts_with(artifact, $store) and regexp_matches(artifact, $within)`;
  const homes = await ws.rows<{ home: string; n: bigint }>(
    `select regexp_extract(artifact, $within, 1) as home, count(*) as n from runs where ${elsewhere} group by all`, { store, within });
  let moved = 0;
  for (const { home, n } of homes) {
    // The same folder by another path (a symlink; /tmp on macOS) has not moved: nothing to write.
    if (sameFolder(home, ws.home)) continue;
    await ws.run(
      `update runs set artifact = $store || regexp_extract(artifact, $within, 2) || $sep || regexp_extract(artifact, $within, 3)
       where ${elsewhere} and regexp_extract(artifact, $within, 1) = $home`,
      { store, within, sep: path.sep, home },
    );
    moved += Number(n);
  }
  return moved;
}

function sameFolder(a: string, b: string): boolean {
  try {
    return fs.realpathSync(a) === fs.realpathSync(b);
  } catch {
    return false; // the old folder is gone: moved
  }
}

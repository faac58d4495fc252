import type { Cell } from "../graph/cell.ts";
import { merkleRoot, sha256 } from "../graph/fingerprint.ts";
import type { Workspace } from "../store/workspace.ts";
import type { Status } from "./types.ts";
import { checkOptions } from "../graph/options.ts";
import { datanetFilterOptions, datanetName } from "./options.ts";

export interface DatanetFilter {
  /** Which contributions enter the snapshot (default: approved). */
  status?: Status | Status[];
}

/** 2: the datanet column, for lineage; 3: the data version names the columns too. */
const VERSION = "3";
const COLUMNS = "datanet, id, contributor, title, text, html, features, label, split, status, submitted_at, source";

/**
 * A snapshot of a Datanet's contributions with the given status. Its data version is the
 * Merkle root of one leaf per contribution: sha256 of its content hash, status, contributor and
 * split. A curator's decision changes a leaf, so the root, so everything that read it.
 */
export function datanet(name: string, filter: DatanetFilter = {}): Cell {
  checkOptions("datanet", datanetName, name);
  checkOptions(`datanet("${name}")`, datanetFilterOptions, filter);
  const statuses = [...new Set([filter.status ?? "approved"].flat())].sort();
  const where = `datanet = ? and status in (${statuses.map(() => "?").join(", ")})`;
  return {
    kind: "datanet",
    computes: false,
    version: VERSION,
    params: { datanet: name, status: statuses },
    inputs: [],
    async source(ws) {
      return { version: await snapshotRoot(ws, name, statuses), describe: `Datanet ${name} snapshot` };
    },
    async run(ctx) {
      return {
        query: `select ${COLUMNS} from contributions where ${where} order by id`,
        params: [name, ...statuses],
        // The root names the rows; the kind version names the columns, so a new column is a new output.
        dataVersion: sha256(`datanet/${VERSION}\n${ctx.sourceVersion}`),
      };
    },
  };
}

/** The snapshot root of a Datanet's contributions with these statuses. */
export async function snapshotRoot(ws: Workspace, name: string, statuses: readonly Status[]): Promise<string> {
  const [known] = await ws.rows("select 1 from datanets where name = ?", [name]);
  if (!known) throw new Error(`unknown Datanet "${name}"; import it first (tracebook datanet import ${name})`);
  const rows = await ws.rows<{ id: string; status: string; contributor: string; split: string }>(
    `select id, status, contributor, split from contributions where datanet = ? and status in (${statuses.map(() => "?").join(", ")})`,
    [name, ...statuses],
  );
  return merkleRoot(rows.map((r) => sha256(`${r.id}\u0000${r.status}\u0000${r.contributor}\u0000${r.split}`)));
}

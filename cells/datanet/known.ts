import type { Workspace } from "../store/workspace.ts";
import { InputError } from "./errors.ts";
import { didYouMean } from "../graph/nearest.ts";
import { loadDatanetSpec } from "./ingest.ts";
import type { DatanetSpec } from "./types.ts";

/** A Datanet's spec; a name the workspace does not hold is refused, naming those it does: a typo is the caller's (exit 2). */
export async function knownDatanet(ws: Workspace, name: string): Promise<DatanetSpec> {
  const spec = await loadDatanetSpec(ws, name);
  if (spec) return spec;
  const known = (await ws.rows<{ name: string }>("select name from datanets order by name")).map((r) => r.name);
  throw new InputError(`unknown Datanet "${name}" (${didYouMean(name, known)}known: ${known.join(", ") || "none"})`);
}

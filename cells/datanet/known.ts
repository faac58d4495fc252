import type { Workspace } from "../store/workspace.ts";
import { InputError } from "./errors.ts";
import { didYouMean } from "../graph/nearest.ts";
import { loadDatanetSpec } from "./ingest.ts";
import type { DatanetSpec } from "./types.ts";

/** The names of the Datanets the workspace holds, in order. */
export async function datanetNames(ws: Workspace): Promise<string[]> {
  return (await ws.rows<{ name: string }>("select name from datanets order by name")).map((r) => r.name);
}

/** The one wording of a Datanet name the workspace does not hold: the nearest it does, then all of them (`none` when there are none). */
export function unknownDatanet(name: string, known: readonly string[], none = "none"): string {
  return `unknown Datanet "${name}" (${didYouMean(name, known)}known: ${known.join(", ") || none})`;
}

/** A Datanet's spec; a name the workspace does not hold is refused, naming those it does: a typo is the caller's (exit 2). */
export async function knownDatanet(ws: Workspace, name: string): Promise<DatanetSpec> {
  const spec = await loadDatanetSpec(ws, name);
  if (spec) return spec;
  throw new InputError(unknownDatanet(name, await datanetNames(ws)));
}

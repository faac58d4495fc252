import type { Workspace } from "../store/workspace.ts";
import { InputError } from "./errors.ts";

/** Refuse a Datanet name the workspace does not hold, naming those it does: a typo is the caller's (exit 2). */
export async function assertDatanet(ws: Workspace, name: string): Promise<void> {
  const known = (await ws.rows<{ name: string }>("select name from datanets order by name")).map((r) => r.name);
  if (!known.includes(name)) throw new InputError(`unknown Datanet "${name}" (known: ${known.join(", ") || "none"})`);
}

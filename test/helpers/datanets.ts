import { ingest } from "../../cells/datanet/ingest.ts";
import type { Workspace } from "../../cells/store/workspace.ts";

/** A small text Datanet of `n` approved rows: "<name> row <i>", labels alternating a/b, three contributors. */
export async function smallDatanet(ws: Workspace, name: string, n = 30): Promise<void> {
  const rows = Array.from({ length: n }, (_, i) => ({
    text: `${name} row ${i}`, label: i % 2 ? "b" : "a", contributor: `c${i % 3}`,
    submittedAt: new Date("2024-01-01T00:00:00Z"), source: `${name}#${i}`,
  }));
  await ingest(ws, { name, kind: "text", description: name, source: "test", contributorRule: "test", splitSeed: 0, testFraction: 0.3 }, rows, {
    mode: "create", status: "approved", validator: "test", importer: "test@1",
  });
}

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

/**
 * A text Datanet a classifier can learn: "spam" rows mention one of a few sales words among
 * filler, "ham" rows do not. Seeded, so the same call gives the same Datanet.
 */
export async function separableDatanet(ws: Workspace, name: string, n = 160, seed = 1, options: { contributorPrefix?: string; submittedAt?: string; contributorsByLabel?: boolean } = {}): Promise<void> {
  const filler = ["meeting", "notes", "project", "lunch", "report", "draft", "review", "team", "schedule", "update", "weekend", "coffee"];
  const sales = ["discount", "winner", "casino", "pills", "offer"];
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pick = (xs: string[]) => xs[Math.floor(next() * xs.length)]!;
  const rows = Array.from({ length: n }, (_, i) => {
    const spam = i % 2 === 0;
    const words = Array.from({ length: 6 }, () => pick(filler));
    if (spam) words.splice(Math.floor(next() * 6), 0, pick(sales), pick(sales));
    return {
      text: `${words.join(" ")} ${i}`, label: spam ? "spam" : "ham",
      // By label: spam-0, spam-1, ham-0, ham-1, each on one side of every output; else c0…c3, each with both labels.
      contributor: options.contributorsByLabel ? `${spam ? "spam" : "ham"}-${Math.floor(i / 2) % 2}` : `${options.contributorPrefix ?? "c"}${Math.floor(i / 2) % 4}`,
      submittedAt: new Date(options.submittedAt ?? "2024-01-01T00:00:00Z"), source: `${name}#${i}`,
    };
  });
  await ingest(ws, { name, kind: "text", description: name, source: "test", contributorRule: "test", splitSeed: 0, testFraction: 0.25 }, rows, {
    mode: "create", status: "approved", validator: "test", importer: "test@1",
  });
}

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import type { ContributionInput, ContributorInfo, DatanetSpec } from "../cells/datanet/types.ts";

/** A real corpus shipped as an npm package, turned into a Datanet by a documented rule. */
export interface Corpus {
  /** The Datanet name it imports as. */
  name: string;
  /** Importer id and version, recorded with every import. */
  importer: string;
  spec(): DatanetSpec;
  load(onProgress?: (done: number, total: number) => void): Promise<CorpusRows>;
}

export interface CorpusRows {
  rows: ContributionInput[];
  contributors: Map<string, ContributorInfo>;
  /** sha256 over the raw source files, in order: the import's receipt for what was read. */
  sourceSha256: string;
  /** Counts worth reporting (e.g. how many texts came from HTML). */
  notes: Record<string, number>;
}

const require = createRequire(import.meta.url);

/** The installed package's root folder and version, found through Node's resolution. */
export function packageRoot(name: string): { dir: string; version: string } {
  let entry: string;
  try {
    entry = require.resolve(name);
  } catch {
    throw new Error(`corpus package ${name} is not installed; run npm install`);
  }
  for (let dir = path.dirname(entry); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    if (fs.existsSync(manifest)) {
      const pkg = JSON.parse(fs.readFileSync(manifest, "utf8")) as { name?: string; version?: string };
      if (pkg.name === name) return { dir, version: pkg.version ?? "unknown" };
    }
  }
  throw new Error(`cannot find the package.json of ${name}`);
}

import os from "node:os";
import fs from "node:fs";
import path from "node:path";
import { openWorkspace, type Workspace } from "../cells/store/workspace.ts";
import { corpora } from "../datasets/index.ts";
import { importCorpus } from "../datasets/import.ts";
import { loadPipeline } from "../cells/graph/loader.ts";
import { runPipeline } from "../cells/graph/scheduler.ts";

/** A command-line value: `--name value`. */
export function argument(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/**
 * A temp workspace where the mail pipeline is up to date: copied from `--from` (its runs stay
 * valid: artifacts are found by data version), else mail-spam imported and the pipeline run
 * (a few minutes on 2 cores). The caller removes `home`.
 */
export async function mailWorkspace(prefix: string): Promise<{ ws: Workspace; home: string }> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const from = argument("--from");
  if (from) fs.cpSync(from, home, { recursive: true });
  const ws = await openWorkspace({ home });
  if (!from) {
    console.log("importing mail-spam and running the mail pipeline (a few minutes on 2 cores)…");
    await importCorpus(ws, corpora.get("mail-spam")!);
  }
  const { pipeline } = await loadPipeline("mail");
  const run = await runPipeline(ws, pipeline);
  if (run.failed.length) throw new Error(`mail pipeline: ${run.failed.join(", ")} failed`);
  return { ws, home };
}

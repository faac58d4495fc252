import type { NotebookData } from "./data.ts";
import type { Watchers } from "./watchers.ts";
import fs from "node:fs";
import path from "node:path";
import { isPipelinePath, resolvePipelineFile } from "../graph/loader.ts";

export interface AdoptionOptions {
  data: NotebookData;
  watchers: Watchers;
  /** Pipelines the notebooks name: settled at start (watched, or run by hand: `watch: false`), never adopted. */
  named: ReadonlySet<string>;
  /** The pipelines served so far; adopted ones are added. */
  served: Set<string>;
  /** Start watchers (false with --no-watch: a new pipeline is listed and served as it is). */
  watch: boolean;
  log(line: string): void;
  cwd?: string;
}

/**
 * `tracebook dev` picks its pipelines when it starts. A pipeline first run after that (a data
 * scientist's new pipeline, run with `tracebook run mine` in another terminal) would be served as
 * it is and never be live until a restart. Instead the server adopts it the first time the index
 * or a page asks for it: it has runs in this workspace, no notebook names it, and its file is
 * found (by name under pipelines/, or where it was last run from: see watchSpec).
 */
export class PipelineAdoption {
  private readonly pending = new Map<string, Promise<boolean>>();

  constructor(private readonly options: AdoptionOptions) {}

  /** Every pipeline to list: those served from the start and those the run log names since, adopted where they can be. */
  async pipelines(): Promise<string[]> {
    for (const p of (await this.options.data.pipelinesRun()).names) await this.adopt(p);
    return [...this.options.served];
  }

  /** Start watching this pipeline if it first ran after the server started. Whether a watcher keeps it current. */
  adopt(pipeline: string): Promise<boolean> {
    const { data, named } = this.options;
    if (data.watched(pipeline)) return Promise.resolve(true);
    if (named.has(pipeline)) return Promise.resolve(false);
    let pending = this.pending.get(pipeline);
    if (!pending) {
      pending = this.tryAdopt(pipeline).finally(() => this.pending.delete(pipeline));
      this.pending.set(pipeline, pending);
    }
    return pending;
  }

  private async tryAdopt(pipeline: string): Promise<boolean> {
    const { data, watchers, served, log } = this.options;
    // Only a name the run log holds: never a file path taken from a URL. A name the last read
    // lacks is read again now: a pipeline run within a second of that read (a fast one, right
    // after the server started) was refused and its page never went live.
    let run = await data.pipelinesRun();
    if (!run.names.includes(pipeline)) run = await data.pipelinesRun({ fresh: true });
    if (!run.names.includes(pipeline)) return false;
    served.add(pipeline);
    if (run.byHand.has(pipeline)) return false; // an evaluation: served as it is, run by hand
    const spec = watchSpec(pipeline, this.options.cwd, run.files.get(pipeline));
    if (!this.options.watch || spec === null) return false;
    if (data.watched(pipeline)) return true;
    data.watch(pipeline);
    watchers.add(spec);
    log(`${pipeline}: first ran after tracebook dev started; watching it now (open pages on it follow its outputs)`);
    return true;
  }
}

/**
 * What a watcher of this pipeline runs: its name when `tracebook run <name>` finds the file
 * (pipelines/<name>.pipeline.ts), else the file it was last run from while that file exists (a
 * pipeline kept in the data scientist's own folder), else null: nothing a watcher could load.
 */
export function watchSpec(pipeline: string, cwd?: string, recorded?: string): string | null {
  // A name, not a path: a run log entry never points a watcher at an arbitrary file by itself.
  if (/^[A-Za-z0-9][\w.-]*$/.test(pipeline) && !isPipelinePath(pipeline)) {
    try {
      resolvePipelineFile(pipeline, cwd);
      return pipeline;
    } catch {
      // not under pipelines/: try where it was last run from
    }
  }
  return recorded && path.isAbsolute(recorded) && fs.existsSync(recorded) ? recorded : null;
}

import fs from "node:fs";
import { openWorkspace, workspaceDbPath, WorkspaceBusyError } from "../store/workspace.ts";
import { loadPipeline, resolvePipelineFile } from "./loader.ts";
import { runPipeline, type GraphEvent, type RunSummary } from "./scheduler.ts";
import { commandStartedBy } from "./runs.ts";

export type WatchEvent =
  | GraphEvent
  | { event: "watch-cycle"; pipeline: string; trigger: string; summary: RunSummary; at: string }
  | { event: "watch-error"; pipeline: string; trigger: string; error: string; at: string };

/** A cycle's trigger as the run log says it. */
const TRIGGERS: Record<string, string> = { start: "the first look", "pipeline-file": "the pipeline file changed", workspace: "the workspace changed" };
export const triggerWords = (trigger: string): string => TRIGGERS[trigger] ?? trigger;

export interface WatchOptions {
  pipeline: string;
  home?: string;
  onEvent: (e: WatchEvent) => void;
  signal: AbortSignal;
  /** How often the files are polled; polling works on every file system, unlike fs.watch. */
  pollMs?: number;
  debounceMs?: number;
}

/**
 * Recompute stale cells whenever the pipeline file or the workspace changes. Between cycles
 * the workspace is closed, so other commands (a curator's `datanet reject`) can write to it;
 * the file times seen right after this process's own cycle are remembered, so its own writes
 * do not trigger the next one.
 */
export async function watchPipeline(options: WatchOptions): Promise<void> {
  const file = resolvePipelineFile(options.pipeline);
  // Named, not opened: another process may hold the file now (the first cycle retries).
  const dbPath = workspaceDbPath(options.home);
  const dbFiles = [dbPath, `${dbPath}.wal`];
  const stampOf = (files: string[]) => files.map((f) => (fs.existsSync(f) ? `${fs.statSync(f).mtimeMs}:${fs.statSync(f).size}` : "-")).join("|");
  const at = () => new Date().toISOString();

  // The pipeline file is stamped before it is read (an edit during the cycle triggers the
  // next one); the workspace after it is closed (this cycle's own writes do not).
  let seenFile = "";
  let seenDb = "";
  // While another process holds the workspace (a run in a terminal, a reader), the cycle could
  // not look at it: its changes are not seen yet, and the next try waits longer (0.5 s → 30 s).
  let busyWait = 0;
  const cycle = async (trigger: string) => {
    seenFile = stampOf([file]);
    let busy = false;
    try {
      const { pipeline } = await loadPipeline(file, { fresh: trigger !== "start" });
      const ws = await openWorkspace({ home: options.home });
      try {
        const startedBy = [commandStartedBy(), `watching: ${triggerWords(trigger)}`].filter(Boolean).join(", ");
        const summary = await runPipeline(ws, pipeline, { signal: options.signal, onEvent: options.onEvent, file, startedBy });
        options.onEvent({ event: "watch-cycle", pipeline: pipeline.name, trigger, summary, at: at() });
      } finally {
        ws.close();
      }
    } catch (err) {
      busy = err instanceof WorkspaceBusyError;
      const message = (err as Error).message;
      options.onEvent({ event: "watch-error", pipeline: options.pipeline, trigger, error: busy ? `${message} (the workspace is busy: trying again)` : message, at: at() });
    } finally {
      seenDb = busy ? "" : stampOf(dbFiles);
      busyWait = busy ? Math.min(30_000, Math.max(500, busyWait * 2)) : 0;
    }
  };

  await cycle("start");
  const pollMs = options.pollMs ?? 300;
  const debounceMs = options.debounceMs ?? 200;
  while (!options.signal.aborted) {
    await sleep(busyWait || pollMs, options.signal);
    const fileChanged = stampOf([file]) !== seenFile;
    if ((!fileChanged && stampOf(dbFiles) === seenDb) || options.signal.aborted) continue;
    await sleep(debounceMs, options.signal); // let a burst of writes settle
    await cycle(fileChanged ? "pipeline-file" : "workspace");
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(t);
      resolve();
    };
    // The listener goes when the timer fires: a watcher sleeps thousands of times.
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

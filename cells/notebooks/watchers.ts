import readline from "node:readline";
import { spawn, type ChildProcess } from "node:child_process";
import type { WatchEvent } from "../graph/watch.ts";

export interface WatchersOptions {
  /** Pipelines (names or files): one `tracebook run <spec> --watch` child each. */
  specs: string[];
  home: string;
  /** Where a pipeline named by name is looked up (pipelines/<name>.pipeline.ts; default the current directory). */
  cwd?: string;
  /** bin/tracebook.js */
  bin: string;
  onEvent(spec: string, e: WatchEvent): void;
  log(line: string): void;
  /** After the last write of a burst, how long to wait before the watchers start again (default 400 ms). */
  resumeMs?: number;
}

/**
 * The dev server's pipeline watchers, and the one way to pause them for a curator's write.
 *
 * DuckDB lets one process at a time open the workspace file, and a watcher holds it for a whole
 * recompute (about a minute on the mail corpus): a decision made meanwhile would wait for work
 * it is about to make obsolete, and a watcher polling for changes could find the file taken by
 * the write and miss it. So a write stops the watchers first (SIGINT: the cycle is cancelled
 * cleanly and recorded as such), runs alone, and the watchers start again once no write has
 * come for `resumeMs`: their first cycle recomputes what the decisions made stale.
 */
export class Watchers {
  private readonly children = new Map<string, ChildProcess>();
  private holds = 0;
  private resumeTimer: ReturnType<typeof setTimeout> | null = null;
  private stopping: Promise<void> | null = null;
  private closed = false;
  private readonly specs: string[];

  constructor(private readonly options: WatchersOptions) {
    this.specs = [...options.specs];
  }

  /** Whether any pipeline is watched (false with --no-watch): decisions are then only recorded. */
  get watching(): boolean {
    return this.specs.length > 0;
  }

  /** Watch one more pipeline: its watcher starts now, or when a curator's write ends. */
  add(spec: string): void {
    if (this.closed || this.specs.includes(spec)) return;
    this.specs.push(spec);
    this.start();
  }

  /** Spawn the watchers that are not running. */
  start(): void {
    if (this.closed || this.holds) return;
    for (const spec of this.specs) {
      if (this.children.has(spec)) continue;
      // A cycle that finds the workspace taken retries by itself (graph/watch.ts).
      const child = spawnWatcher(spec, this.options);
      this.children.set(spec, child);
      // A watcher that died (or was stopped) is spawned again at the next start().
      child.once("exit", () => {
        if (this.children.get(spec) === child) this.children.delete(spec);
      });
    }
  }

  /** Run `fn` with every watcher stopped (`why` goes in the log); they start again after the last of overlapping calls. */
  async pause<T>(fn: () => Promise<T>, why = "a curator's decision"): Promise<T> {
    this.holds++;
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    this.resumeTimer = null;
    try {
      await this.stopAll(why);
      return await fn();
    } finally {
      this.holds--;
      if (!this.holds && !this.closed && this.watching) {
        this.resumeTimer = setTimeout(() => {
          this.resumeTimer = null;
          this.start();
        }, this.options.resumeMs ?? 400);
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    await this.stopAll("");
  }

  private stopAll(why: string): Promise<void> {
    if (!this.stopping) {
      const running = [...this.children.values()];
      this.children.clear();
      if (running.length && !this.closed) this.options.log(`pausing ${running.length} pipeline watcher${running.length === 1 ? "" : "s"} for ${why}`);
      this.stopping = Promise.all(running.map(stopChild)).then(() => {
        this.stopping = null;
      });
    }
    return this.stopping;
  }
}

/** A watcher's cycle found the workspace held by another process (it retries by itself). */
export function isBusy(e: WatchEvent): boolean {
  return e.event === "watch-error" && e.error.includes("the workspace is busy");
}

/**
 * What to say of watchers finding the workspace busy: the watchers and the CLI take turns at it
 * (two watchers starting together meet at once), so a busy try is expected and retried. Said
 * once a pipeline's watcher has found it busy try after try for `afterMs`, then not again until
 * one of its cycles gets through. Returns the line to log, or null.
 */
export function busyNotices(afterMs = 10_000): (pipeline: string, e: WatchEvent) => string | null {
  const since = new Map<string, number>();
  return (pipeline, e) => {
    if (e.event === "watch-cycle") since.delete(pipeline);
    if (!isBusy(e)) return null;
    const at = Date.parse(e.at), first = since.get(pipeline) ?? at;
    since.set(pipeline, first);
    if (at - first < afterMs) return null;
    since.set(pipeline, Infinity); // said: not again in this stretch
    return `${pipeline}: the workspace has been busy for ${Math.round((at - first) / 1000)} s (another process holds it): still trying`;
  };
}

/** `tracebook run <spec> --watch` as a child process: one JSON event per line on stdout. */
function spawnWatcher(spec: string, options: WatchersOptions): ChildProcess {
  const { home, bin, log, cwd } = options;
  const child = spawn(process.execPath, [bin, "--workspace", home, "run", spec, "--watch"], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TRACEBOOK_STARTED_BY: "tracebook dev" }, cwd });
  readline.createInterface({ input: child.stdout! }).on("line", (line) => {
    let e: WatchEvent;
    try {
      e = JSON.parse(line) as WatchEvent;
    } catch {
      return log(`watcher ${spec}: ${line}`);
    }
    options.onEvent(spec, e);
  });
  readline.createInterface({ input: child.stderr! }).on("line", (line) => {
    if (line.trim() && !/Unknown (user|project) config|npm warn/.test(line)) log(`watcher ${spec}: ${line}`);
  });
  child.on("exit", (code, signal) => {
    if (code !== 0 && code !== 130 && signal !== "SIGINT" && signal !== "SIGTERM" && signal !== "SIGKILL") log(`watcher ${spec} exited (${code ?? signal})`);
  });
  return child;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGINT"); // the watcher cancels its cycle cleanly (the run is recorded as cancelled)
  });
}

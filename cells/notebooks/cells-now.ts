import type { CellNow, StatusAnswer } from "./wire.ts";

/** A cell as the watcher reported it during a cycle (`tracebook:cell`, `tracebook:output-changed`), stamped when the page heard it. */
export interface LiveCell {
  state: string;
  reason: string | null;
  rows: number | null;
  dataVersion: string | null;
  /** When the page heard it (ms since the epoch). */
  at: number;
}

/** A cell now on the page: its state as the last status answer told it, or as the watcher reports it since. */
export interface ShownCell extends Omit<CellNow, "state"> {
  state: CellNow["state"] | "running";
  /** The state comes from the watcher's cycle, after the status answer. */
  live: boolean;
}

/**
 * The status answer with what the watcher reported after it laid over it. A watcher holds the
 * workspace through a cycle, so the status answer waits for the cycle's end; until then the
 * cells it runs are told as it reports them (running and why, fresh with its new output, failed),
 * and a report older than the answer is already in it. Pure: tested without a browser.
 */
export function cellsNow(status: StatusAnswer, live: Readonly<Record<string, LiveCell>>): ShownCell[] {
  const asked = Date.parse(status.at);
  return status.cells.map((c) => {
    const e = live[c.cell];
    if (!e || e.at <= asked || !["running", "fresh", "failed", "blocked"].includes(e.state)) return { ...c, live: false };
    const made = e.state === "fresh" && e.dataVersion !== null && e.dataVersion !== c.data_version;
    return {
      ...c, state: e.state as ShownCell["state"], live: true,
      reason: e.state === "fresh" ? null : e.reason,
      ...(made ? { rows: e.rows, data_version: e.dataVersion, finished_at: new Date(e.at).toISOString() } : {}),
    };
  });
}

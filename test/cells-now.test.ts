import { describe, expect, it } from "vitest";
import { cellsNow, type LiveCell } from "../cells/notebooks/cells-now.ts";
import type { StatusAnswer } from "../cells/notebooks/wire.ts";

const AT = "2026-12-03T10:00:00.000Z";
const status: StatusAnswer = {
  pipeline: "t", file: "/p/t.pipeline.ts", unread: null, watched: true, at: AT,
  cells: [
    { cell: "a", kind: "datanet", state: "fresh", reason: null, rows: 30, data_version: "v-a", finished_at: "2026-12-03T09:00:00.000Z" },
    { cell: "train", kind: "sql", state: "stale", reason: "input a is stale", rows: 20, data_version: "v-train", finished_at: "2026-12-03T09:00:01.000Z" },
    { cell: "labels", kind: "sql", state: "stale", reason: "input train is stale", rows: 2, data_version: "v-labels", finished_at: "2026-12-03T09:00:02.000Z" },
  ],
};
const heard = (seconds: number) => Date.parse(AT) + seconds * 1000;
const report = (state: string, seconds: number, o: Partial<LiveCell> = {}): LiveCell => ({ state, reason: null, rows: null, dataVersion: null, at: heard(seconds), ...o });

describe("cellsNow", () => {
  it("tells the status answer as it is while the watcher has reported nothing since", () => {
    expect(cellsNow(status, {})).toEqual(status.cells.map((c) => ({ ...c, live: false })));
    // Reports heard before the answer are in it already.
    expect(cellsNow(status, { train: report("running", -5, { reason: "input a changed" }) })).toEqual(status.cells.map((c) => ({ ...c, live: false })));
  });

  it("lays the watcher's reports since over it: running and why, a new output, a failure", () => {
    const shown = cellsNow(status, {
      a: report("fresh", 1, { rows: 31, dataVersion: "v-a2" }),
      train: report("running", 2, { reason: "input a changed" }),
      labels: report("failed", 3, { reason: "sql cell \"labels\": boom" }),
    });
    expect(shown).toEqual([
      { ...status.cells[0], state: "fresh", reason: null, rows: 31, data_version: "v-a2", finished_at: new Date(heard(1)).toISOString(), live: true },
      { ...status.cells[1], state: "running", reason: "input a changed", live: true },
      { ...status.cells[2], state: "failed", reason: "sql cell \"labels\": boom", live: true },
    ]);
  });

  it("keeps the output it had when a cell is found fresh with the same one, and ignores states it does not tell", () => {
    const shown = cellsNow(status, { train: report("fresh", 1, { rows: 20, dataVersion: "v-train" }), labels: report("never run", 1) });
    expect(shown[1]).toEqual({ ...status.cells[1], state: "fresh", reason: null, live: true });
    expect(shown[2]).toEqual({ ...status.cells[2], live: false });
  });
});

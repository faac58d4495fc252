import { afterEach, describe, expect, it, vi } from "vitest";
import { humanPrinter } from "../bin/commands/run.ts";
import { datanet, pipeline, sql } from "../cells/index.ts";
import { plural } from "../cells/graph/plural.ts";

describe("the run's printed lines", () => {
  afterEach(() => vi.restoreAllMocks());

  it("line up a pipeline's columns to its longest cell name and kind, and count rows in words", () => {
    const p = pipeline("p", {
      notes: datanet("notes"),
      contributor_influence: sql`select * from ${"notes"}`,
    });
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(line));
    const print = humanPrinter(p);
    const base = { pipeline: "p", at: "2026-12-01T00:00:00Z" };
    const finished = { ...base, event: "cell-finished", dataVersion: "d", changed: true, cached: false, seconds: 0.5 } as const;
    print({ ...base, event: "cell-started", cell: "notes", kind: "datanet", reason: "never run" });
    print({ ...finished, cell: "notes", kind: "datanet", rows: 1 });
    print({ ...base, event: "cell-started", cell: "contributor_influence", kind: "sql", reason: "never run" });
    print({ ...finished, cell: "contributor_influence", kind: "sql", rows: 12 });
    expect(lines).toEqual([
      "▶ notes                 datanet        never run",
      "✓ notes                 datanet        0.50 s, 1 row, output changed",
      "▶ contributor_influence sql            never run",
      "✓ contributor_influence sql            0.50 s, 12 rows, output changed",
    ]);
  });

  it("says a count with its noun", () => {
    expect([plural(0, "row"), plural(1, "row"), plural(2n, "penalty", "penalties"), plural(1n, "penalty", "penalties")])
      .toEqual(["0 rows", "1 row", "2 penalties", "1 penalty"]);
  });
});

import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { pipeline, runPipeline, sql, type Cell, type GraphEvent } from "../cells/index.ts";
import { cellHistories } from "../cells/graph/runs.ts";
import { quoteLiteral } from "../cells/store/export.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { tempWorkspace } from "./helpers/workspace.ts";

type Row = [g: string | null, v: number];

/** A cell whose output is the rows given: a change of rows is a change of params, so it reruns. */
const rows = (data: Row[]): Cell => ({
  kind: "test-rows", version: "1", computes: false, params: { data }, inputs: [],
  async run() {
    if (!data.length) return { query: "select null::varchar as g, null::integer as v where false" };
    return { query: `select * from (values ${data.map(() => "(?::varchar, ?::integer)").join(", ")}) t(g, v)`, params: data.flat() };
  },
});

/** A table read whole (no `g`): the factor every row is multiplied by. */
const factor = (k: number): Cell => ({
  kind: "test-factor", version: "1", computes: false, params: { k }, inputs: [],
  run: async () => ({ query: `select ${k}::integer as k` }),
});

const build = (data: Row[], k = 2, over: Record<string, Cell> = {}) => pipeline("t", {
  src: rows(data),
  side: factor(k),
  // Per group: a rank within g, a group total, a join to the whole side table, rows filtered out by a bound parameter.
  per: sql.by("g")`
    select s.g, s.v, s.v * m.k as w, row_number() over (partition by s.g order by s.v desc, s.v) as r, (sum(s.v) over (partition by s.g))::integer as total
    from ${"src"} s cross join ${"side"} m where s.v <> ${13} order by s.g, s.v desc`,
  // Per group over a per-group cell: its changed groups are read from the digests kept beside it.
  // Its sum is a HUGEINT, which Parquet keeps as a DOUBLE: the kept rows are cast back.
  sums: sql.by("g")`select g, sum(w::bigint) as s, count(*) as n from ${"per"} group by g`,
  ...over,
});

/** The cell's output as written: every row in file order, and its data version. */
async function output(ws: Workspace, cell = "per"): Promise<{ version: string; rows: unknown[] }> {
  const done = (await cellHistories(ws, "t")).get(cell)!.lastSucceeded!;
  const rows = await ws.rows(`select * from read_parquet(${quoteLiteral(done.artifact!)})`);
  return { version: done.data_version!, rows: JSON.parse(JSON.stringify(rows, (_k, v) => (typeof v === "bigint" ? `${v}` : v))) };
}

async function run(ws: Workspace, p: ReturnType<typeof build>, force = false): Promise<string[]> {
  const logs: string[] = [];
  const r = await runPipeline(ws, p, { force, onEvent: (e: GraphEvent) => { if (e.event === "cell-log") logs.push(`${e.cell}: ${e.message}`); } });
  if (r.failed.length) throw new Error(`failed: ${r.failed.join(", ")}`);
  return logs;
}

describe("sql.by(column): a query computed group by group", () => {
  let ws: Workspace, scratch: Workspace;
  beforeEach(async () => {
    ws = await tempWorkspace();
    scratch = await tempWorkspace();
  });
  afterEach(() => {
    ws.close();
    scratch.close();
  });

  it("recomputes only the groups whose rows changed, and writes what a run from nothing writes", async () => {
    const start: Row[] = [["a", 1], ["a", 5], ["b", 2], ["c", 3], ["c", 3], ["d", 13], ["d", 4], [null, 7]];
    expect(await run(ws, build(start))).toEqual([]);
    // b changes, c loses a copy of a duplicated row, e arrives, d's filtered row goes: a and null stay.
    const next: Row[] = [["a", 1], ["a", 5], ["b", 9], ["c", 3], ["d", 4], [null, 7], ["e", 6]];
    const logs = await run(ws, build(next));
    // A null key cannot be named among the kept keys: its group is always computed again.
    expect(logs).toEqual([
      "per: 1 group by g kept as the last run wrote them, 5 new or changed in src computed",
      // d's rows in per did not change: its only change was a row per filters out.
      "sums: 2 groups by g kept as the last run wrote them, 4 new or changed in per computed",
    ]);
    await run(scratch, build(next));
    expect(await output(ws)).toEqual(await output(scratch));
    expect(await output(ws, "sums")).toEqual(await output(scratch, "sums"));
    expect((await output(ws)).rows.slice(0, 3)).toEqual([
      { g: "a", v: 5, w: 10, r: "1", total: 6 }, { g: "a", v: 1, w: 2, r: "2", total: 6 }, { g: "b", v: 9, w: 18, r: "1", total: 9 },
    ]);
  });

  it("recomputes every group when an input read whole changes, and when forced", async () => {
    const data: Row[] = [["a", 1], ["b", 2]];
    await run(ws, build(data, 2));
    expect(await run(ws, build(data, 3))).toEqual([]);
    await run(scratch, build(data, 3));
    expect(await output(ws)).toEqual(await output(scratch));
    expect(await run(ws, build([["a", 1], ["b", 4]], 3), true)).toEqual([]);
  });

  it("equals a run from nothing after any sequence of edits (property)", async () => {
    const row = fc.tuple(fc.constantFrom("a", "b", "c", "d", "e", null), fc.integer({ min: 0, max: 15 }));
    const step = fc.record({ data: fc.array(row, { maxLength: 12 }), k: fc.constantFrom(2, 2, 2, 3) });
    await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 4 }), async (steps) => {
      const [inc, whole] = [await tempWorkspace(), await tempWorkspace()];
      try {
        for (const s of steps) await run(inc, build(s.data, s.k));
        const last = steps.at(-1)!;
        await run(whole, build(last.data, last.k));
        expect(await output(inc)).toEqual(await output(whole));
        expect(await output(inc, "sums")).toEqual(await output(whole, "sums"));
      } finally {
        inc.close();
        whole.close();
      }
    }), { numRuns: 10, seed: 20261202 });
  });

  it("refuses a query that writes groups its changed rows do not hold, and one without the column", async () => {
    // Every group's rows end up under one key: a rerun changing b would rewrite "all".
    const across = { per: sql.by("g")`select 'all' as g, count(*) as n from ${"src"}`, sums: sql`select 1 as x` };
    await run(ws, build([["a", 1]], 2, across));
    const p = build([["a", 2]], 2, across);
    const r = await runPipeline(ws, p);
    expect(r.failed).toEqual(["per"]);
    expect((await cellHistories(ws, "t")).get("per")!.last!.error).toBe(
      `sql cell "per": the new rows hold g "all", a group taken over from the last output: the rows of one g must come from that g's input rows alone`);
    const without = await runPipeline(ws, build([["a", 1]], 2, { ...across, per: sql.by("g")`select v from ${"src"}` }));
    expect(without.failed).toEqual(["per"]);
    expect((await cellHistories(ws, "t")).get("per")!.last!.error).toBe(
      `sql cell "per": the query is declared by "g" (sql.by), but its output has no such column (columns: v)`);
    expect(() => sql.by("")).toThrow(/sql\.by\(column\): the column the groups are keyed by/);
  });

  it("keeps the fingerprint of a plain sql cell", () => {
    expect(sql`select 1`.params).toEqual({ segments: ["select 1"], tokens: [] });
    expect(sql.by("g")`select 1 as g`.params).toEqual({ segments: ["select 1 as g"], tokens: [], by: "g" });
  });
});

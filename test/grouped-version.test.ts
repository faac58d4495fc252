// A grouped output (an influence table: rows per query) is versioned per group, and a rerun that
// takes most groups over hashes only the new ones' rows, from the digests kept beside the previous
// artifact. Whatever path computed it, the version is a function of the bag of rows alone.
import fs from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { pipeline, runPipeline, type Cell } from "../cells/index.ts";
import { materialize } from "../cells/graph/artifacts.ts";
import { groupedVersion, groupsPath } from "../cells/graph/groups.ts";
import { collectGarbage, planGc } from "../cells/graph/gc.ts";
import { stageRows } from "../cells/store/stage.ts";
import { openWorkspace, type Workspace } from "../cells/store/workspace.ts";
import { tempDir } from "./helpers/workspace.ts";

type Row = [string | null, number | null, string];
const COLUMNS: [string, string][] = [["query", "VARCHAR"], ["score", "DOUBLE"], ["key", "VARCHAR"]];
const HEAD = '[["query","VARCHAR"],["score","DOUBLE"],["key","VARCHAR"]]\n';

/** A grouped table's version hashed from nothing (no earlier digests). */
async function fromNothing(ws: Workspace, table: string): Promise<string> {
  const v = (await groupedVersion(ws, table, HEAD, { column: "query" }))!;
  await v.drop();
  return v.dataVersion;
}

/** An artifact's rows as a sorted bag, to compare with the rows it should hold. */
async function bag(ws: Workspace, relation: string): Promise<string[]> {
  return (await ws.rows<{ r: string }>(`select to_json(t)::varchar as r from ${relation} t`)).map((x) => x.r).sort();
}

const shuffled = <T>(xs: T[], seed: number): T[] => xs.map((x, i) => [x, (i * 7919 + seed * 104729) % 1000003] as const).sort((a, b) => a[1] - b[1]).map(([x]) => x);

describe("grouped data versions", () => {
  it("agree, taken over or hashed from nothing, and hash only the new groups", async () => {
    const ws = await openWorkspace({ home: tempDir() });
    try {
      const query = fc.option(fc.constantFrom("q1", "q2", "q3", "q4", "q5", "q6", "null", ""), { freq: 8 });
      const row = fc.tuple(query, fc.option(fc.double({ noNaN: true, noDefaultInfinity: true })), fc.string({ maxLength: 6 }));
      await fc.assert(fc.asyncProperty(fc.array(row, { maxLength: 40 }), fc.array(row, { maxLength: 20 }), fc.array(fc.constantFrom("q1", "q2", "q3", "q4", "q5", "q6", "null", "")), fc.nat(),
        async (before: Row[], added: Row[], keepKeys: string[], seed: number) => {
          await stageRows(ws, "__t_before", COLUMNS, before);
          const earlier = await materialize(ws, { query: "select * from __t_before", groups: { column: "query" } });
          expect(fs.existsSync(groupsPath(earlier.artifact))).toBe(true);
          // The rerun keeps some groups verbatim; every other row is new (a group it did not keep
          // may come back with other rows, a null key never counts as kept).
          const kept = new Set(keepKeys.filter((k) => before.some(([q]) => q === k)));
          const fresh = shuffled(added.filter(([q]) => q === null || !kept.has(q)), seed);
          const after = [...before.filter(([q]) => q !== null && kept.has(q)), ...fresh];
          await stageRows(ws, "__t_after", COLUMNS, after);
          await stageRows(ws, "__t_fresh", COLUMNS, fresh);
          await stageRows(ws, "__t_kept", [["id", "VARCHAR"]], [...kept].map((k) => [k]));
          // The rerun's query gives the new rows only; the kept groups are copied from the earlier artifact.
          const rerun = await materialize(ws, { query: "select * from __t_fresh", groups: { column: "query", unchanged: { artifact: earlier.artifact, keys: "__t_kept" } } });
          expect(rerun.dataVersion).toBe(await fromNothing(ws, "__t_after"));
          expect(rerun.rows).toBe(after.length);
          // The kept groups' digests were read from the earlier file, not hashed again: only the new rows were.
          const fromDigests = await groupedVersion(ws, "__t_fresh", HEAD, { column: "query", unchanged: { artifact: earlier.artifact, keys: "__t_kept" } });
          expect(fromDigests?.dataVersion).toBe(rerun.dataVersion);
          await fromDigests?.drop();
          expect(await bag(ws, `read_parquet('${rerun.artifact}')`)).toEqual(await bag(ws, "__t_after"));
          // In key order, each kept group's rows as the earlier artifact held them.
          const keys = (await ws.rows<{ query: string | null }>(`select query from read_parquet('${rerun.artifact}')`)).map((r) => r.query);
          expect(keys).toEqual([...keys].sort((a, b) => (a === null ? 1 : b === null ? -1 : a < b ? -1 : a > b ? 1 : 0)));
          const inEarlier = await ws.rows<{ r: string }>(
            `select to_json(t)::varchar as r from read_parquet('${earlier.artifact}', file_row_number = true) t where query in (select id from __t_kept) order by query, file_row_number`);
          const inRerun = await ws.rows<{ r: string }>(`select to_json(t)::varchar as r from read_parquet('${rerun.artifact}') t where query in (select id from __t_kept)`);
          expect(inRerun.map((x) => x.r)).toEqual(inEarlier.map((x) => x.r.replace(/,"file_row_number":\d+}$/, "}")));
          // The bag of rows, not their order: the earlier table shuffled has the earlier version.
          await stageRows(ws, "__t_before", COLUMNS, shuffled(before, seed + 1));
          expect(await fromNothing(ws, "__t_before")).toBe(earlier.dataVersion);
        }), { numRuns: 40, seed: 11 });
    } finally {
      ws.close();
    }
  }, 120_000);

  it("tell rows apart within and across groups, and hash everything when a kept group does not match its digests", async () => {
    const ws = await openWorkspace({ home: tempDir() });
    try {
      const version = async (rows: Row[]) => {
        await stageRows(ws, "__t", COLUMNS, rows);
        return fromNothing(ws, "__t");
      };
      const base: Row[] = [["q1", 1, "a"], ["q1", 2, "b"], ["q2", 3, "a"]];
      const moved: Row[] = [["q1", 1, "a"], ["q2", 2, "b"], ["q2", 3, "a"]]; // a row in another group
      const nullKey: Row[] = [["q1", 1, "a"], ["q1", 2, "b"], [null, 3, "a"]];
      const textNull: Row[] = [["q1", 1, "a"], ["q1", 2, "b"], ["null", 3, "a"]];
      const versions: string[] = [];
      for (const rows of [base, moved, nullKey, textNull]) versions.push(await version(rows));
      expect(new Set(versions).size).toBe(4);

      await stageRows(ws, "__t_before", COLUMNS, base);
      const earlier = await materialize(ws, { query: "select * from __t_before", groups: { column: "query" } });
      // Digests that do not account for the rows they stand for (another artifact's, where q1 has
      // three rows) are not used: the whole output is hashed, to the same version.
      await stageRows(ws, "__t_other", COLUMNS, [...base, ["q1", 9, "c"]]);
      const other = await materialize(ws, { query: "select * from __t_other", groups: { column: "query" } });
      fs.copyFileSync(groupsPath(other.artifact), groupsPath(earlier.artifact));
      await stageRows(ws, "__t_kept", [["id", "VARCHAR"]], [["q1"]]);
      await stageRows(ws, "__t_fresh", COLUMNS, [["q2", 5, "z"]]);
      const rerun = await materialize(ws, { query: "select * from __t_fresh", groups: { column: "query", unchanged: { artifact: earlier.artifact, keys: "__t_kept" } } });
      await stageRows(ws, "__t_after", COLUMNS, [["q1", 1, "a"], ["q1", 2, "b"], ["q2", 5, "z"]]);
      expect(rerun.dataVersion).toBe(await fromNothing(ws, "__t_after"));
      expect(rerun.rows).toBe(3);
      expect(await groupedVersion(ws, "__t_fresh", HEAD, { column: "query", unchanged: { artifact: earlier.artifact, keys: "__t_kept" } })).toBeNull();
      // Digests written for another schema are not used.
      expect(await groupedVersion(ws, "__t_fresh", HEAD.replace("DOUBLE", "FLOAT"), { column: "query", unchanged: { artifact: other.artifact, keys: "__t_kept" } })).toBeNull();
      // New rows in a group said to be taken over: refused, naming it.
      await stageRows(ws, "__t_fresh", COLUMNS, [["q1", 5, "z"]]);
      await expect(materialize(ws, { query: "select * from __t_fresh", groups: { column: "query", unchanged: { artifact: other.artifact, keys: "__t_kept" } } }))
        .rejects.toThrow(/^the new rows hold query "q1", a group taken over from the last output/);
      await expect(materialize(ws, { query: "select * from __t_after", groups: { column: "inference" } })).rejects.toThrow(/grouped by "inference", which it does not have \(columns: query, score, key\)/);
    } finally {
      ws.close();
    }
  }, 60_000);

  it("keep their digests as long as their artifact: gc removes them with it", async () => {
    const home = tempDir();
    const ws = await openWorkspace({ home });
    try {
      const grouped = (n: number): Cell => ({
        kind: "grouped-test", version: "1", params: { n }, inputs: [],
        run: async () => ({ query: `select 'q' || (i % 3) as query, i::double as score, 'k' as key from range(${n}) t(i)`, groups: { column: "query" } }),
      });
      const runs = async (n: number) => {
        expect((await runPipeline(ws, pipeline("g", { t: grouped(n) }))).failed).toEqual([]);
        const [r] = await ws.rows<{ artifact: string }>("select artifact from runs where cell = 't' and status = 'succeeded' order by finished_at desc limit 1");
        return r!.artifact;
      };
      const first = await runs(5), second = await runs(7);
      expect([first, second].map((a) => fs.existsSync(groupsPath(a)))).toEqual([true, true]);
      const plan = await planGc(ws);
      expect(plan.garbage.map((g) => g.path).sort()).toEqual([first, groupsPath(first)].sort());
      collectGarbage(plan);
      expect([first, groupsPath(first), second, groupsPath(second)].map((f) => fs.existsSync(f))).toEqual([false, false, true, true]);
    } finally {
      ws.close();
    }
  }, 60_000);
});

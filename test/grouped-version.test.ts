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
  const v = await groupedVersion(ws, table, HEAD, { column: "query" });
  await v.drop();
  return v.dataVersion;
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
          const after = shuffled([...before.filter(([q]) => q !== null && kept.has(q)), ...added.filter(([q]) => q === null || !kept.has(q))], seed);
          await stageRows(ws, "__t_after", COLUMNS, after);
          await stageRows(ws, "__t_kept", [["id", "VARCHAR"]], [...kept].map((k) => [k]));
          const incremental = await groupedVersion(ws, "__t_after", HEAD, { column: "query", unchanged: { artifact: earlier.artifact, keys: "__t_kept" } });
          await incremental.drop();
          expect(incremental.reused).toBe(kept.size);
          expect(incremental.dataVersion).toBe(await fromNothing(ws, "__t_after"));
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
      // q1 is said to be unchanged but gained a row: the claim fails, every group is hashed again.
      await stageRows(ws, "__t_after", COLUMNS, [...base, ["q1", 9, "c"]]);
      await stageRows(ws, "__t_kept", [["id", "VARCHAR"]], [["q1"]]);
      const v = await groupedVersion(ws, "__t_after", HEAD, { column: "query", unchanged: { artifact: earlier.artifact, keys: "__t_kept" } });
      await v.drop();
      expect(v.reused).toBe(0);
      expect(v.dataVersion).toBe(await fromNothing(ws, "__t_after"));
      // Digests written for another schema are not used.
      await stageRows(ws, "__t_after", COLUMNS, base);
      const other = await groupedVersion(ws, "__t_after", HEAD.replace("DOUBLE", "FLOAT"), { column: "query", unchanged: { artifact: earlier.artifact, keys: "__t_kept" } });
      await other.drop();
      expect(other.reused).toBe(0);
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

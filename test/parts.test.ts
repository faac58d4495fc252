// A large grouped output is written as a folder of parts in key order; a rerun that takes most
// groups over writes only the parts its new groups fall in and links the rest. Whatever the
// layout, the rows read back are those one file would hold, in the same order, and the version is
// the same; gc frees only what no kept version still links to.
import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { pipeline, runPipeline, type Cell } from "../cells/index.ts";
import { materialize, removeOrphanTemps } from "../cells/graph/artifacts.ts";
import { lastOutput } from "../cells/graph/prior.ts";
import { artifactFiles, isPartitioned } from "../cells/graph/parts.ts";
import { collectGarbage, planGc } from "../cells/graph/gc.ts";
import { stageRows } from "../cells/store/stage.ts";
import { openWorkspace, type Workspace } from "../cells/store/workspace.ts";
import { tempDir } from "./helpers/workspace.ts";

type Row = [string | null, number, string];
const COLUMNS: [string, string][] = [["query", "VARCHAR"], ["score", "DOUBLE"], ["key", "VARCHAR"]];

/** Rows as read back, in the order the artifact gives them. */
async function inOrder(ws: Workspace, artifact: string): Promise<string[]> {
  return (await ws.rows<{ r: string }>(`select to_json(t)::varchar as r from read_parquet('${artifact}') t`)).map((x) => x.r);
}

const inode = (file: string) => fs.statSync(file).ino;
const withPartRows = (rows: number | undefined) => {
  if (rows === undefined) delete process.env.TRACEBOOK_PART_ROWS;
  else process.env.TRACEBOOK_PART_ROWS = String(rows);
};

afterEach(() => withPartRows(undefined));

describe("outputs written as parts", () => {
  it("read back as one file would, and a rerun rewrites only the parts its new groups fall in", async () => {
    // Two workspaces: one writes parts of 3 rows, the other one file (the same versions would find each other's files in one).
    const [parts, whole] = [await openWorkspace({ home: tempDir() }), await openWorkspace({ home: tempDir() })];
    try {
      const key = fc.option(fc.constantFrom(...Array.from({ length: 14 }, (_, i) => `q${String(i).padStart(2, "0")}`)), { freq: 12 });
      const row = fc.tuple(key, fc.integer({ min: -5, max: 5 }), fc.string({ maxLength: 4 }));
      await fc.assert(fc.asyncProperty(fc.array(row, { minLength: 7, maxLength: 40 }), fc.array(row, { maxLength: 12 }), fc.array(fc.integer({ min: 0, max: 13 })),
        async (before: Row[], added: Row[], keepAt: number[]) => {
          const kept = new Set(keepAt.map((i) => `q${String(i).padStart(2, "0")}`).filter((k) => before.some(([q]) => q === k)));
          const fresh = added.filter(([q]) => q === null || !kept.has(q));
          const write = async (ws: Workspace, partRows: number) => {
            withPartRows(partRows);
            await stageRows(ws, "__t_before", COLUMNS, before);
            const earlier = await materialize(ws, { query: "select * from __t_before order by query", groups: { column: "query" } });
            await stageRows(ws, "__t_fresh", COLUMNS, fresh);
            await stageRows(ws, "__t_kept", [["id", "VARCHAR"]], [...kept].map((k) => [k]));
            const rerun = await materialize(ws, { query: "select * from __t_fresh order by query", groups: { column: "query", unchanged: { artifact: earlier.artifact, keys: "__t_kept" } } });
            return { earlier, rerun };
          };
          const [p, w] = [await write(parts, 3), await write(whole, 1_000_000)];
          expect(isPartitioned(w.earlier.artifact) || isPartitioned(w.rerun.artifact)).toBe(false);
          expect(isPartitioned(p.earlier.artifact)).toBe(before.length > 6);
          expect([p.earlier.dataVersion, p.rerun.dataVersion]).toEqual([w.earlier.dataVersion, w.rerun.dataVersion]);
          expect(p.rerun.rows).toBe(w.rerun.rows);
          expect(await inOrder(parts, p.earlier.artifact)).toEqual(await inOrder(whole, w.earlier.artifact));
          expect(await inOrder(parts, p.rerun.artifact)).toEqual(await inOrder(whole, w.rerun.artifact));
          if (!isPartitioned(p.earlier.artifact) || !isPartitioned(p.rerun.artifact)) return;
          // Each part holds whole groups.
          const partOf = new Map<string, string>();
          for (const file of artifactFiles(p.rerun.artifact)) {
            for (const { query } of await parts.rows<{ query: string | null }>(`select distinct query from read_parquet('${file}')`)) {
              expect(partOf.get(String(query)) ?? file).toBe(file);
              partOf.set(String(query), file);
            }
          }
          // A part of the earlier output that lost no group and into whose key range no new group
          // falls is the same file (a link); every other part of the rerun is new.
          const earlierParts = artifactFiles(p.earlier.artifact);
          const starts = await Promise.all(earlierParts.map(async (f) => (await parts.rows<{ lo: string | null }>(`select min(query) as lo from read_parquet('${f}')`))[0]!.lo));
          const placed = (q: string | null) => (q === null ? earlierParts.length - 1 : Math.max(0, starts.findLastIndex((lo) => lo !== null && lo <= q)));
          const untouched = await Promise.all(earlierParts.map(async (f, i) => {
            const keys = (await parts.rows<{ query: string | null }>(`select distinct query from read_parquet('${f}')`)).map((r) => r.query);
            return keys.every((q) => q !== null && kept.has(q)) && !fresh.some(([q]) => placed(q) === i);
          }));
          const linked = new Set(artifactFiles(p.rerun.artifact).map(inode));
          expect(earlierParts.map((f) => linked.has(inode(f)))).toEqual(untouched);
        }), { numRuns: 60, seed: 5 });
    } finally {
      parts.close();
      whole.close();
    }
  }, 180_000);

  it("settle as a pipeline does: a rerun links the parts it does not change, gc frees only the rest, a cut-short write is removed", async () => {
    const home = tempDir();
    const ws = await openWorkspace({ home });
    withPartRows(50);
    try {
      await ws.run("create table src as select 'q' || lpad((i // 10)::varchar, 3, '0') as query, i::double as score, 'k' || i as key from range(1000) t(i)");
      // Like a tracin cell: the groups its last output holds are taken over, the others computed.
      const cell: Cell = {
        kind: "parts-test", version: "1", params: {}, inputs: [], computes: false,
        source: async (w) => ({ version: String((await w.rows<{ n: bigint }>("select count(*) as n from src"))[0]!.n), describe: "src" }),
        async run(ctx) {
          const last = await lastOutput(ctx, { kind: "parts-test", version: "1", paramsJson: "{}" });
          if (!last) return { query: "select * from src order by query, key", groups: { column: "query" } };
          await ctx.ws.run(`create or replace temp table __kept as select distinct query as id from read_parquet('${last.artifact}')`);
          return { query: "select * from src where query not in (select id from __kept) order by query, key", groups: { column: "query", unchanged: { artifact: last.artifact, keys: "__kept" } } };
        },
      };
      const p = pipeline("parts", { t: cell });
      const output = async () => (await ws.rows<{ artifact: string; rows: bigint }>("select artifact, rows from runs where cell = 't' and status = 'succeeded' order by finished_at desc limit 1"))[0]!;
      expect((await runPipeline(ws, p)).failed).toEqual([]);
      const first = await output();
      expect(isPartitioned(first.artifact)).toBe(true);
      expect(artifactFiles(first.artifact)).toHaveLength(20);

      // One more group, between two others: one part is written again.
      await ws.run("insert into src values ('q0505', 1.5, 'new')");
      expect((await runPipeline(ws, p)).ran).toEqual(["t"]);
      const second = await output();
      expect(Number(second.rows)).toBe(1001);
      const before = new Set(artifactFiles(first.artifact).map(inode));
      const after = artifactFiles(second.artifact);
      expect(after.filter((f) => before.has(inode(f)))).toHaveLength(19);
      const [{ n } = { n: 0n }] = await ws.rows<{ n: bigint }>(`select count(*) as n from read_parquet('${second.artifact}') where query = 'q0505'`);
      expect(n).toBe(1n);
      expect((await ws.rows<{ q: string }>(`select query as q from read_parquet('${second.artifact}')`)).map((r) => r.q))
        .toEqual((await ws.rows<{ q: string }>("select query as q from src order by query, key")).map((r) => r.q));
      // Up to date, read through the path the run recorded.
      expect((await runPipeline(ws, p)).fresh).toEqual(["t"]);

      // gc: the superseded folder goes; of its bytes only the part no kept version links to is freed.
      const plan = await planGc(ws);
      const superseded = plan.garbage.find((g) => g.path === first.artifact)!;
      const rewritten = artifactFiles(first.artifact).find((f) => !after.some((a) => inode(a) === inode(f)))!;
      expect(superseded.bytes).toBe(fs.statSync(rewritten).size);
      collectGarbage(plan);
      expect(fs.existsSync(first.artifact)).toBe(false);
      const [{ rows } = { rows: 0n }] = await ws.rows<{ rows: bigint }>(`select count(*) as rows from read_parquet('${second.artifact}')`);
      expect(rows).toBe(1001n);

      // A folder of parts whose write was cut short (before its rename) is a temp: removed on open.
      const cut = path.join(path.dirname(second.artifact), `.${path.basename(second.artifact)}.123.abcd.tmp`);
      fs.mkdirSync(cut);
      fs.copyFileSync(after[0]!, path.join(cut, "000000.parquet"));
      expect(removeOrphanTemps(ws)).toBe(1);
      expect(fs.existsSync(cut)).toBe(false);
    } finally {
      ws.close();
    }
  }, 120_000);
});

// A pipeline's cell outputs as tables for SQL typed at a prompt: `tracebook sql "… from pay.usage"`
// and a curator's selection, over the output `show` prints, with what is stale said.
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { attachCellTables, withCellTables } from "../cells/graph/cell-tables.ts";
import { recordPipelineFile } from "../cells/graph/runs.ts";
import { readOnlyRows } from "../cells/store/readonly.ts";
import { curate } from "../cells/curation/decisions.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import payPipeline from "./fixtures/pay.pipeline.ts";
import { payWorkspace, rejectATrainingRow } from "./helpers/pay.ts";
import { outputOf, tempDir } from "./helpers/workspace.ts";

const FIXTURE = path.resolve("test/fixtures/pay.pipeline.ts");
const BIN = path.resolve("bin/tracebook.js");

describe("cell tables", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await payWorkspace();
    await recordPipelineFile(ws, "pay", FIXTURE); // as `tracebook run` records it: a curator's selection finds the pipeline by it
  }, 180_000);
  afterAll(() => ws?.close());

  const query = <T = Record<string, unknown>>(sql: string) => withCellTables(ws, sql, () => readOnlyRows<T>(ws, sql), { pipelines: [payPipeline] });
  const databases = async () => (await ws.rows<{ name: string }>("select database_name as name from duckdb_databases() order by 1")).map((r) => r.name);

  it("reads a cell's current output as <pipeline>.<cell>, joins cells and workspace tables, and detaches after", async () => {
    const before = await databases();
    const direct = await ws.rows<{ n: bigint }>("select count(*) as n from read_parquet(?)", [await outputOf(ws, "pay", "usage")]);
    expect(await query("select count(*) as n from pay.usage")).toEqual(direct);
    // Quoted names and any case, as DuckDB reads them; a cell joined with the ledger it came from.
    expect(await query(`select count(*) as n from "PAY"."usage" u join inferences i on i.id = u.id`)).toEqual(direct);
    const paid = await query<{ recipient: string; total: string }>(
      "select recipient, sum(amount)::varchar as total from pay.rewards group by all having sum(amount) > 0 order by sum(amount) desc, recipient");
    const lines = await ws.rows<{ recipient: string; total: string }>(
      "select recipient, sum(amount)::varchar as total from rewards where pipeline = 'pay' group by all having sum(amount) > 0 order by sum(amount) desc, recipient");
    expect(paid.length).toBeGreaterThan(2);
    expect(paid).toEqual(lines);
    expect(await databases()).toEqual(before);
  });

  it("finds a pipeline run from code, with no file recorded, by its name in the pipelines folder (as the demo's)", async () => {
    const dir = tempDir("tb-cell-tables-");
    fs.mkdirSync(path.join(dir, "pipelines"));
    fs.writeFileSync(path.join(dir, "package.json"), `{ "type": "module" }\n`);
    fs.writeFileSync(path.join(dir, "pipelines", "pay.pipeline.ts"), `export { default } from ${JSON.stringify(FIXTURE)};\n`);
    const [recorded] = await ws.rows<{ file: string }>("select file from pipeline_files where pipeline = 'pay'");
    await ws.run("delete from pipeline_files where pipeline = 'pay'");
    try {
      const sql = "select count(*) as n from pay.usage";
      const direct = await ws.rows("select count(*) as n from read_parquet(?)", [await outputOf(ws, "pay", "usage")]);
      expect(await withCellTables(ws, sql, () => readOnlyRows(ws, sql), { cwd: dir })).toEqual(direct);
    } finally {
      await recordPipelineFile(ws, "pay", recorded!.file);
    }
  });

  it("attaches nothing for a query that names no pipeline, and a table alias keeps its meaning", async () => {
    const tables = await attachCellTables(ws, "select count(*) from contributions", { pipelines: [payPipeline] });
    expect(tables.pipelines).toEqual([]);
    await tables.detach();
    // Named like the pipeline, the alias wins: its columns, not a cell.
    expect(await query("select pay.n from (select 7 as n) as pay")).toEqual([{ n: 7 }]);
  });

  it("says, in the pipeline's terms, a cell or pipeline that is not there, and detaches after a failed query", async () => {
    const before = await databases();
    await expect(query("select * from pay.influense")).rejects.toThrow(/^pipeline "pay" has no cell "influense" \(did you mean "influence"\? cells: notes, train, .*\)$/);
    await expect(query("select * from pya.usage")).rejects.toThrow(/^no pipeline "pya" has run in this workspace \(did you mean "pay"\? a cell's output is <pipeline>\.<cell>; pipelines: pay\)$/);
    await expect(query("select * from pay.usage where nope")).rejects.toThrow(/nope/);
    expect(await databases()).toEqual(before);
    // A curator's selection reads them too, and is told the same.
    await expect(curate(ws, { datanet: "notes", query: "select id from pay.trian", verdict: "rejected", curator: "ann", reason: "r" }, { dryRun: true }))
      .rejects.toThrow(/^--query is not a valid selection: pipeline "pay" has no cell "trian" \(did you mean "train"\?/);
  });

  it("lets a curator select by a cell's output", async () => {
    const [row] = await ws.rows<{ id: string }>("select id from read_parquet(?) order by id limit 1", [await outputOf(ws, "pay", "train")]);
    const out = await curate(ws, { datanet: "notes", where: "id in (select id from pay.train order by id limit 1)", verdict: "rejected", curator: "ann", reason: "r" }, { dryRun: true });
    expect(out.targets.map((c) => c.id)).toEqual([row!.id]);
    const queried = await curate(ws, { datanet: "notes", query: "select id from pay.train order by id limit 2", verdict: "quarantined", curator: "ann", reason: "r" }, { dryRun: true });
    expect(queried.targets).toHaveLength(2);
    expect(queried.rule).toBe("query: select id from pay.train order by id limit 2");
  });

  it("lets a query mention a pipeline whose file is gone, and says why only when it asks for its cells", async () => {
    await recordPipelineFile(ws, "ghost", path.join(path.dirname(FIXTURE), "gone", "ghost.pipeline.ts"));
    expect(await query("select 'ghost.usage' as said")).toEqual([{ said: "ghost.usage" }]);
    await expect(query("select * from ghost.usage")).rejects.toThrow(/^pipeline "ghost" did not load, so its cells cannot be queried: no pipeline "ghost" \(looked for /);
  });

  it("from the command line: the pipeline's file, what is stale said on standard error, and exit 2 for a mistyped cell", async () => {
    await rejectATrainingRow(ws); // the Datanet changed: every cell below it is stale until a run
    const home = ws.home;
    ws.close();
    try {
      const tb = (...args: string[]) => spawnSync(process.execPath, [BIN, "--workspace", home, ...args], { encoding: "utf8", env: { ...process.env, TRACEBOOK_HOME: "" } });
      const r = tb("sql", "select count(*)::integer as n from pay.influence_topk_missing_is_not_this", "--json");
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^tracebook: pipeline "pay" has no cell "influence_topk_missing_is_not_this" \(cells: notes,/);
      const ok = tb("sql", "select count(*)::integer as n from pay.receipts", "--json");
      expect(ok.status, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout)).toEqual([{ n: expect.any(Number) }]);
      expect(JSON.parse(ok.stdout)[0].n).toBeGreaterThan(0);
      expect(ok.stderr.trim()).toMatch(/^note: pay\.receipts is stale \(input \w+ is stale\): this is its last output; `tracebook run pay` brings it up to date$/);
      // A curator's selection by a stale cell is told so too, its JSON left parseable.
      const picked = tb("curate", "quarantine", "--datanet", "notes", "--query", "select id from pay.train order by id limit 2", "--reason", "r", "--curator", "ann", "--dry-run", "--json");
      expect(picked.status, picked.stderr).toBe(0);
      expect(JSON.parse(picked.stdout)).toMatchObject({ dryRun: true, rule: "query: select id from pay.train order by id limit 2" });
      expect(picked.stderr.trim()).toMatch(/^note: pay\.train is stale \(.+\): the selection read its last output; `tracebook run pay` brings it up to date$/);
    } finally {
      ws = await (await import("./helpers/workspace.ts")).openWorkspaceRetrying(home);
    }
  }, 60_000);
});

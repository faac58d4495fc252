// The Influence explorer's queries over the whole workload, as the server runs them, against sums
// made here: on a usage table that marks inferences of models since retrained (model_cell null),
// and on one written before it kept them (no model_cell: every inference is current).
import fs from "node:fs";
import path from "node:path";
import { tableFromIPC, tableToIPC } from "apache-arrow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DuckDBInstance } from "@duckdb/node-api";
import { ServerSql } from "../cells/notebooks/server-sql.ts";
import { DEFAULT_NOTEBOOKS } from "../cells/notebooks/server.ts";
import { compileNotebook } from "../cells/notebooks/transform.ts";
import { expandSql, sqlParams } from "../cells/notebooks/sql-params.ts";
import { tempDir } from "./helpers/workspace.ts";

const queries = Object.values(compileNotebook(fs.readFileSync(path.join(DEFAULT_NOTEBOOKS, "influence-explorer.md"), "utf8")).serverQueries);
const query = (name: string) => queries.find((q) => q.name === name)!;

// Six inferences, the last two by a model since retrained; three contributors' net influence on each.
const usage = Array.from({ length: 6 }, (_, i) => ({ id: `q${i}`, prediction: i % 2 ? "spam" : "ham", model_cell: i < 4 ? "model" : null }));
const influence = usage.flatMap((u, i) => ["ann", "bob", "(duplicate content)"].map((contributor, k) => ({ query: u.id, level: "contributor", contributor, key: contributor, prediction: u.prediction, score: (i + 1) * (k - 0.7) })));

describe("the Influence explorer's workload queries", () => {
  let dir: string;
  let sql: ServerSql;
  const artifact = (name: string) => path.join(dir, `${name}.parquet`);

  beforeAll(async () => {
    dir = tempDir("tb-explorer-sql-");
    const instance = await DuckDBInstance.create(":memory:");
    const connection = await instance.connect();
    try {
      const values = (rows: Record<string, unknown>[]) => rows.map((r) => `(${Object.values(r).map((v) => (v === null ? "null" : typeof v === "string" ? `'${v.replaceAll("'", "''")}'` : String(v))).join(", ")})`).join(", ");
      await connection.run(`copy (select * from (values ${values(usage)}) t(id, prediction, model_cell)) to '${artifact("usage")}' (format parquet)`);
      await connection.run(`copy (select id, prediction from read_parquet('${artifact("usage")}')) to '${artifact("usage_before")}' (format parquet)`);
      await connection.run(`copy (select * from (values ${values(influence)}) t(query, level, contributor, key, prediction, score)) to '${artifact("influence")}' (format parquet)`);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
    sql = new ServerSql(dir);
  });

  afterAll(() => sql?.close());

  const run = async (name: string, usageFile: string, params: unknown[] = []) => {
    const { text, values } = expandSql(query(name).parts, sqlParams(params));
    const table = await sql.run(text, [{ cell: "usage", artifact: artifact(usageFile) }, { cell: "influence", artifact: artifact("influence") }], values);
    return tableFromIPC(tableToIPC(table)).toArray().map((r) => r.toJSON());
  };
  const current = (standing: boolean) => new Set(usage.filter((u) => !standing || u.model_cell !== null).map((u) => u.id));

  for (const [usageFile, standing] of [["usage", true], ["usage_before", false]] as const) {
    it(`sums each contributor over ${standing ? "the current models' inferences" : "every inference (none marked earlier)"}, duplicate content left out (${usageFile})`, async () => {
      const nets = new Map<string, number>();
      for (const r of influence) if (current(standing).has(r.query) && r.contributor !== "(duplicate content)") nets.set(r.contributor, (nets.get(r.contributor) ?? 0) + r.score);
      const expected = [...nets].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([contributor, net]) => ({ contributor, net }));
      const got = await run("contributorNets", usageFile);
      expect(got.map((r) => r.contributor)).toEqual(expected.map((r) => r.contributor));
      got.forEach((r, i) => expect(r.net).toBeCloseTo(expected[i]!.net, 12));
    });

    it(`estimates per inference what leaving contributors out moves, over the same inferences (${usageFile})`, async () => {
      const left = ["bob", "nobody"];
      const expected = usage.filter((u) => current(standing).has(u.id)).map((u) => ({
        query: u.id, prediction: u.prediction,
        estimate: influence.filter((r) => r.query === u.id && left.includes(r.contributor)).reduce((s, r) => s + r.score, 0),
      })).sort((a, b) => b.estimate - a.estimate || (a.query < b.query ? -1 : 1));
      const got = await run("estimated", usageFile, [left]);
      expect(got.map((r) => [r.query, r.prediction])).toEqual(expected.map((r) => [r.query, r.prediction]));
      got.forEach((r, i) => expect(r.estimate).toBeCloseTo(expected[i]!.estimate, 12));
      expect(await run("estimated", usageFile, [[]])).toEqual([]);
    });
  }
});

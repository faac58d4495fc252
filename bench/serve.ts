// What the notebook server costs to serve a page's tables the first time (each new output of a
// cell: a settled inference changes the tracin tables), on real mail: every table the shipped
// notebooks read, converted from its Parquet artifact to the Arrow IPC stream the page loads,
// as the server does it (DuckDB encodes the repeated strings: cells/store/served-arrow.ts) and as
// it did before (every value through JS, then encoded there). Written to bench/results/serve.json.
//
//   npx tsx bench/serve.ts [--from <workspace dir where the mail pipeline ran>]
import fs from "node:fs";
import { DuckDBInstance } from "@duckdb/node-api";
import { tableFromIPC, tableToIPC } from "apache-arrow";
import { runBench, writeBenchReport, secondsSince } from "./report.ts";
import { mailWorkspace } from "./mail.ts";
import { parquetAsArrow } from "../cells/store/served-arrow.ts";
import { dictionaryEncodeStrings, readerToArrow } from "../cells/store/arrow.ts";
import { cellHistories } from "../cells/graph/runs.ts";

const TABLES = ["influence", "influence_last_layer", "usage", "receipts", "contributor_influence", "train", "label_errors"];

runBench(async () => {
  const { ws, home } = await mailWorkspace("tb-bench-serve-");
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  try {
    const tables: Record<string, unknown>[] = [];
    for (const cell of TABLES) {
      const run = (await cellHistories(ws, "mail")).get(cell)?.lastSucceeded;
      if (!run?.artifact) throw new Error(`mail.${cell} has no output`);
      let t0 = performance.now();
      const served = tableToIPC(await parquetAsArrow(connection, run.artifact), "stream");
      const now = secondsSince(t0);
      t0 = performance.now();
      const before = tableToIPC(dictionaryEncodeStrings(readerToArrow(await connection.runAndReadAll("select * from read_parquet(?)", [run.artifact]))), "stream");
      const then = secondsSince(t0);
      // The same table either way (test/workspace.test.ts checks the values); here, its schema and size.
      const [a, b] = [tableFromIPC(served), tableFromIPC(before)];
      if (String(a.schema.fields) !== String(b.schema.fields) || a.numRows !== b.numRows) throw new Error(`mail.${cell}: served ${a.schema.fields} × ${a.numRows}, before ${b.schema.fields} × ${b.numRows}`);
      tables.push({ cell, rows: a.numRows, seconds: now, seconds_before: then, mb: +(served.byteLength / 1e6).toFixed(1), mb_before: +(before.byteLength / 1e6).toFixed(1) });
    }
    await writeBenchReport("serve", {
      what: "each table the notebooks read on real mail, from its Parquet artifact to the Arrow IPC stream a page loads: DuckDB encoding the repeated strings (now) against every value through JS (before)",
      tables,
      total_seconds: +tables.reduce((s, t) => s + (t.seconds as number), 0).toFixed(2),
      total_seconds_before: +tables.reduce((s, t) => s + (t.seconds_before as number), 0).toFixed(2),
      peak_rss_mib: Math.round(process.resourceUsage().maxRSS / 1024),
    });
  } finally {
    connection.closeSync();
    instance.closeSync();
    ws.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
});

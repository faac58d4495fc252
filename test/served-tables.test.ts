// What the notebook server sends of an output: some of its columns when a page names them, the
// streams it made kept on disk (one per cell and projection), and `tracebook gc` emptying them.
import fs from "node:fs";
import path from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { tableFromIPC, tableToIPC, type Table } from "apache-arrow";
import { describe, expect, it } from "vitest";
import { parquetAsArrow, UnknownColumnsError } from "../cells/store/served-arrow.ts";
import { projectionSuffix, ServedCache, servedCacheDir } from "../cells/notebooks/served-cache.ts";
import { BadRequestError, NotebookData } from "../cells/notebooks/data.ts";
import { collectGarbage, planGc } from "../cells/graph/gc.ts";
import { openWorkspace } from "../cells/store/workspace.ts";
import { datanet, pipeline, runPipeline, sql } from "../cells/index.ts";
import { smallDatanet } from "./helpers/datanets.ts";
import { outputOf, tempDir } from "./helpers/workspace.ts";

const rowsOf = (t: Table) => JSON.stringify(tableFromIPC(tableToIPC(t, "stream")).toArray(), (_k, v) => (typeof v === "bigint" ? v.toString() : v));
const fieldsOf = (t: Table) => t.schema.fields.map((f) => `${f.name}: ${f.type}`);

describe("an output served with some of its columns", () => {
  it("is the whole table's columns, in the file's order, whatever order they are asked in; an unknown one is refused by name", async () => {
    const dir = tempDir();
    const instance = await DuckDBInstance.create(":memory:");
    const connection = await instance.connect();
    try {
      const file = path.join(dir, "receipts.parquet");
      await connection.run(`copy (select 'q' || i as query, 'm' || (i % 3) as model_id, repeat('{"receipt": ' || i || '}', 50) as receipt,
        md5(i::varchar) as receipt_hash, (i * 1000)::decimal(38, 0) as fee from range(300) t(i) order by i) to '${file}' (format parquet)`);
      const whole = await parquetAsArrow(connection, file);
      const some = await parquetAsArrow(connection, file, { columns: ["receipt_hash", "query", "fee"] });
      expect(some.schema.fields.map((f) => f.name)).toEqual(["query", "receipt_hash", "fee"]);
      // The same types and values as those columns of the whole table (repeated strings encoded, amounts as exact text).
      const picked = whole.select(["query", "receipt_hash", "fee"]);
      expect(fieldsOf(some)).toEqual(fieldsOf(picked));
      expect(rowsOf(some)).toBe(rowsOf(picked));
      expect(tableToIPC(some, "stream").byteLength).toBeLessThan(tableToIPC(whole, "stream").byteLength / 10);
      await expect(parquetAsArrow(connection, file, { columns: ["query", "nope", "also nope"] })).rejects.toThrow(
        new UnknownColumnsError('no column "nope", "also nope" (it has query, model_id, receipt, receipt_hash, fee)'));
      await expect(parquetAsArrow(connection, file, { columns: [] })).rejects.toThrow(UnknownColumnsError);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });
});

describe("the served tables kept on disk", () => {
  const dv = (c: string) => c.repeat(64);

  it("keeps one stream per cell and projection, removes a superseded one's, and writes nothing for a read-only workspace", async () => {
    const home = tempDir("tb-served-");
    const cache = new ServedCache(home, true);
    // n bytes, then the end of an Arrow stream (what read() checks a kept file ends with).
    const bytes = (n: number) => {
      const b = new Uint8Array(n + 8).fill(n % 251);
      b.set([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0], n);
      return b;
    };
    expect(await cache.read("mail", "influence", dv("a"))).toBeNull();
    expect(await cache.store("mail", "influence", dv("a"), undefined, bytes(10))).toBe(true);
    expect(await cache.store("mail", "influence", dv("a"), ["query", "score"], bytes(4))).toBe(true);
    expect(await cache.store("mail", "receipts", dv("a"), undefined, bytes(7))).toBe(true);
    expect(await cache.read("mail", "influence", dv("a"))).toEqual(bytes(10));
    // A projection is its set of columns, in any order.
    expect(await cache.read("mail", "influence", dv("a"), ["score", "query", "score"])).toEqual(bytes(4));
    expect(projectionSuffix(["score", "query"])).toBe(projectionSuffix(["query", "score"]));
    expect(projectionSuffix(["query"])).not.toBe(projectionSuffix(["query", "score"]));

    // A new output of the cell: the whole table's stream of the old one goes, its projection stays
    // until that projection is made of the new one; other cells are left alone.
    await cache.store("mail", "influence", dv("b"), undefined, bytes(11));
    expect(await cache.read("mail", "influence", dv("a"))).toBeNull();
    expect(await cache.read("mail", "influence", dv("a"), ["query", "score"])).toEqual(bytes(4));
    await cache.store("mail", "influence", dv("b"), ["query", "score"], bytes(5));
    expect(await cache.read("mail", "influence", dv("a"), ["query", "score"])).toBeNull();
    expect(await cache.read("mail", "receipts", dv("a"))).toEqual(bytes(7));
    const files = fs.readdirSync(servedCacheDir(home), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name).sort();
    expect(files).toEqual([`${dv("a")}.arrow`, `${dv("b")}${projectionSuffix(["query", "score"])}.arrow`, `${dv("b")}.arrow`].sort());

    // Read-only: what is kept is read, nothing is written.
    const readOnly = new ServedCache(home, false);
    expect(await readOnly.read("mail", "influence", dv("b"))).toEqual(bytes(11));
    expect(await readOnly.store("mail", "influence", dv("c"), undefined, bytes(12))).toBe(false);
    expect(await readOnly.read("mail", "influence", dv("c"))).toBeNull();
    expect(await cache.read("mail", "influence", dv("b"))).toEqual(bytes(11));
    // A file cut short on disk is not a stream: not read (the caller makes it again).
    const kept = path.join(servedCacheDir(home), "v1", "mail", "receipts", `${dv("a")}.arrow`);
    fs.truncateSync(kept, 10);
    expect(await cache.read("mail", "receipts", dv("a"))).toBeNull();
    // What is not a data version is never a file name.
    expect(await cache.store("mail", "influence", "../../x", undefined, bytes(1))).toBe(false);
    expect(await cache.read("mail", "influence", "../../x")).toBeNull();
  });

  it("answers a new server from disk, the columns a page names, and tracebook gc empties it", async () => {
    const home = tempDir("tb-served-ws-");
    let ws = await openWorkspace({ home });
    try {
      await smallDatanet(ws, "notes", 12);
      expect((await runPipeline(ws, pipeline("served", { notes: datanet("notes"), labels: sql`select label, count(*) as n from ${"notes"} group by all order by label` }))).failed).toEqual([]);
    } finally {
      ws.close();
    }
    const first = new NotebookData({ home, refreshMs: 0 });
    const whole = await first.arrow("served", "notes");
    const some = await first.arrow("served", "notes", ["label", "id"]);
    expect(tableFromIPC(some.bytes).schema.fields.map((f) => f.name)).toEqual(["id", "label"]);
    expect(tableFromIPC(some.bytes).toArray().map((r) => `${r.id} ${r.label}`)).toEqual(tableFromIPC(whole.bytes).toArray().map((r) => `${r.id} ${r.label}`));
    await expect(first.arrow("served", "notes", ["id", "nope"])).rejects.toThrow(new BadRequestError('served.notes: no column "nope" (it has ' + tableFromIPC(whole.bytes).schema.fields.map((f) => f.name).join(", ") + ")"));
    first.close();

    // Another server: the streams come from disk (the artifact moved away cannot make them).
    ws = await openWorkspace({ home });
    const artifact = await outputOf(ws, "served", "notes");
    ws.close();
    fs.renameSync(artifact, `${artifact}.away`);
    const second = new NotebookData({ home, refreshMs: 0 });
    try {
      expect((await second.arrow("served", "notes")).bytes).toEqual(whole.bytes);
      expect((await second.arrow("served", "notes", ["id", "label"])).bytes).toEqual(some.bytes);
      await expect(second.arrow("served", "notes", ["id", "text"])).rejects.toThrow(/artifact .* is missing/);
    } finally {
      second.close();
      fs.renameSync(`${artifact}.away`, artifact);
    }
    // A kept stream damaged on disk is made again from the artifact, and kept whole.
    const [keptFile] = fs.readdirSync(servedCacheDir(home), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith(`${whole.dataVersion}.arrow`)).map((e) => path.join(e.parentPath, e.name));
    fs.truncateSync(keptFile!, 100);
    const mended = new NotebookData({ home, refreshMs: 0 });
    try {
      expect((await mended.arrow("served", "notes")).bytes).toEqual(whole.bytes);
      expect(new Uint8Array(fs.readFileSync(keptFile!))).toEqual(whole.bytes);
    } finally {
      mended.close();
    }

    // gc: a cache, listed and removed; the next page makes the streams again.
    ws = await openWorkspace({ home });
    try {
      const plan = await planGc(ws);
      const served = plan.garbage.filter((g) => g.path.startsWith(servedCacheDir(home)));
      expect(served.map((g) => [g.kind, g.why])).toEqual([["cache", "a table the notebook server sent (made again on use)"], ["cache", "a table the notebook server sent (made again on use)"]]);
      collectGarbage(plan);
    } finally {
      ws.close();
    }
    expect(fs.readdirSync(servedCacheDir(home), { recursive: true, withFileTypes: true }).filter((e) => e.isFile())).toEqual([]);
    const third = new NotebookData({ home, refreshMs: 0 });
    try {
      expect((await third.arrow("served", "notes")).bytes).toEqual(whole.bytes);
    } finally {
      third.close();
    }
  });
});

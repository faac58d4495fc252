import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tableFromIPC, tableToIPC, Type } from "apache-arrow";
import { DB_FILE, openWorkspace, resolveWorkspaceHome, type Workspace } from "../cells/store/workspace.ts";
import { migrations } from "../cells/store/migrations.ts";
import { exportQuery } from "../cells/store/export.ts";
import { checkReadOnly, readOnlyRows } from "../cells/store/readonly.ts";
import { DuckDBInstance } from "@duckdb/node-api";
import { dictionaryEncodeStrings, readerToArrow } from "../cells/store/arrow.ts";
import { parquetAsArrow } from "../cells/store/served-arrow.ts";
import { jsonLine, stageRows } from "../cells/store/stage.ts";
import { repeatedRows } from "../cells/store/repeated-rows.ts";
import { typedColumns } from "../cells/store/typed-columns.ts";
import { rowsWithVectors } from "../cells/store/vector-rows.ts";
import fc from "fast-check";
import { tempDir } from "./helpers/workspace.ts";

describe("workspace location", () => {
  it("prefers --workspace, then TRACEBOOK_HOME, then ./.tracebook", () => {
    expect(resolveWorkspaceHome("/a", { TRACEBOOK_HOME: "/b" })).toBe("/a");
    expect(resolveWorkspaceHome(undefined, { TRACEBOOK_HOME: "/b" })).toBe("/b");
    expect(resolveWorkspaceHome(undefined, {})).toBe(path.resolve(".tracebook"));
  });
});

describe("workspace", () => {
  let home: string;
  let ws: Workspace;
  beforeAll(async () => {
    home = tempDir();
    ws = await openWorkspace({ home });
  });
  afterAll(() => ws.close());

  it("creates the database file and applies each migration once", async () => {
    expect(fs.existsSync(path.join(home, DB_FILE))).toBe(true);
    const applied = await ws.rows<{ version: number }>("select version from schema_migrations order by version");
    expect(applied.map((r) => r.version)).toEqual(migrations.map((m) => m.version));
    ws.close();
    ws = await openWorkspace({ home }); // reopening must not re-run migrations
    const again = await ws.rows<{ n: bigint }>("select count(*) as n from schema_migrations");
    expect(Number(again[0]!.n)).toBe(migrations.length);
    const tables = (await ws.rows<{ name: string }>("select table_name as name from information_schema.tables order by 1")).map((r) => r.name);
    expect(tables).toEqual(expect.arrayContaining(["datanets", "contributors", "contributions", "validations", "submissions", "imports"]));
  });

  it("rolls a failed transaction back whole", async () => {
    await ws.run("create table t (x integer primary key)");
    await expect(ws.transaction(async () => {
      await ws.run("insert into t values (1)");
      await ws.run("insert into t values (1)");
    })).rejects.toThrow(/constraint/i);
    expect(await ws.rows("select * from t")).toEqual([]);
  });

  it("returns Arrow tables with exact types", async () => {
    const t = await ws.table(`select 'a' as s, 9007199254740993::bigint as big, [0.5, 1.5]::float[] as f,
      timestamp '2002-08-22 12:36:23' as ts, 12345678901234567890123::hugeint as h, null::varchar as n,
      350830392121524465::decimal(38, 0) as amount, 12345678901234567890.123456::decimal(38, 6) as d, null::decimal(38, 0) as dn`);
    const types = Object.fromEntries(t.schema.fields.map((f) => [f.name, f.type.typeId]));
    expect(types).toMatchObject({ s: Type.Utf8, big: Type.Int, f: Type.List, ts: Type.Timestamp, h: Type.Utf8 });
    const row = t.get(0)!.toJSON();
    expect(row.big).toBe(9007199254740993n);
    expect(Array.from(row.f as Float32Array)).toEqual([0.5, 1.5]);
    expect(row.ts).toBe(Date.UTC(2002, 7, 22, 12, 36, 23));
    expect(row.h).toBe("12345678901234567890123");
    expect(row.n).toBeNull();
    // DECIMAL (amounts in base units) as exact text, never through a double.
    expect([row.amount, row.d, row.dn]).toEqual(["350830392121524465", "12345678901234567890.123456", null]);
  });

  it("exports queries to Parquet and Arrow IPC and reads them back", async () => {
    const dir = tempDir();
    const q = "select range as i, [range::float, 2] as f, 'x' || range as s from range(1000)";
    const pq = await exportQuery(ws, q, path.join(dir, "out.parquet"));
    expect(pq.rows).toBe(1000);
    const back = await ws.rows<{ n: bigint; s: bigint }>(`select count(*) as n, sum(i) as s from read_parquet('${pq.file}')`);
    expect(back[0]).toEqual({ n: 1000n, s: 499500n });
    const arrow = await exportQuery(ws, "select * from range(10) where range >= ?", path.join(dir, "out.arrow"), { params: [5] });
    const table = tableFromIPC(fs.readFileSync(arrow.file));
    expect(table.numRows).toBe(5);
    expect(fs.readdirSync(dir).sort()).toEqual(["out.arrow", "out.parquet"]); // no temp files left
  });

  it("leaves no file, not even a temp one, when an export fails", async () => {
    const dir = tempDir();
    await expect(exportQuery(ws, "select * from no_such_table", path.join(dir, "x.parquet"))).rejects.toThrow();
    await expect(exportQuery(ws, "select * from no_such_table", path.join(dir, "x.arrow"))).rejects.toThrow();
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe("staged rows", () => {
  it("load exactly, in order, across the chunks the staging file is written in, and none at all", async () => {
    const ws = await openWorkspace({ home: tempDir() });
    try {
      // Three rows of 5 million characters among small ones: several chunks of the file, rows split by none.
      const big = (c: string) => c.repeat(5_000_000);
      const rows: unknown[][] = [];
      for (let i = 0; i < 30_000; i++) rows.push([i, i % 10_000 === 5 ? big(String.fromCharCode(97 + (i % 26))) : `row ${i} «é» "quoted"\n`, i % 3 ? null : i / 2]);
      await stageRows(ws, "__t_staged", [["n", "INTEGER"], ["s", "VARCHAR"], ["x", "DOUBLE"]], rows);
      const got = await ws.rows<{ n: number; len: bigint; x: number | null; s: string | null }>(
        "select n, length(s) as len, x, case when length(s) < 100 then s end as s from __t_staged order by rowid");
      expect(got.length).toBe(rows.length);
      got.forEach((g, i) => {
        expect(g.n).toBe(i);
        expect(Number(g.len)).toBe((rows[i]![1] as string).length);
        expect(g.x).toBe(rows[i]![2]);
        if (g.s !== null) expect(g.s).toBe(rows[i]![1]);
      });
      await stageRows(ws, "__t_empty", [["n", "INTEGER"]], []);
      expect(await ws.rows("select count(*)::integer as n from __t_empty")).toEqual([{ n: 0 }]);
    } finally {
      ws.close();
    }
  }, 60_000);
});

describe("staged values", () => {
  it("come back as they went in, whatever the text and the numbers", async () => {
    const ws = await openWorkspace({ home: tempDir() });
    try {
      const row = fc.tuple(fc.option(fc.string({ unit: "grapheme", maxLength: 40 })), fc.option(fc.double({ noNaN: true, noDefaultInfinity: true })), fc.option(fc.boolean()));
      await fc.assert(fc.asyncProperty(fc.array(row, { maxLength: 30 }), async (rows) => {
        await stageRows(ws, "__t_values", [["s", "VARCHAR"], ["x", "DOUBLE"], ["b", "BOOLEAN"]], rows);
        const got = await ws.rows<{ s: string | null; x: number | null; b: boolean | null }>("select s, x, b from __t_values order by rowid");
        // -0 is written as 0 by JSON: compare as numbers.
        expect(got.map((g) => [g.s, g.x === null ? null : g.x + 0, g.b])).toEqual(rows.map(([s, x, b]) => [s, x === null ? null : x + 0, b]));
      }), { numRuns: 50, seed: 7 });
    } finally {
      ws.close();
    }
  }, 60_000);
});

describe("a staged line", () => {
  it("is the row's object as JSON.stringify writes it", () => {
    const names = fc.uniqueArray(fc.string({ unit: "grapheme", maxLength: 6 }), { maxLength: 6 });
    fc.assert(fc.property(names, fc.array(fc.array(fc.option(fc.jsonValue(), { nil: undefined }), { maxLength: 7 }), { maxLength: 5 }), (cols, rows) => {
      const line = jsonLine(cols);
      for (const r of rows) expect(line(r)).toBe(`${JSON.stringify(Object.fromEntries(cols.map((c, i) => [c, r[i] ?? null])))}\n`);
    }), { numRuns: 300, seed: 11 });
  });
});

describe("typedColumns", () => {
  it("copies INTEGER and DOUBLE columns exactly, nulls and all, across chunks, and refuses other types", async () => {
    const ws = await openWorkspace({ home: tempDir() });
    try {
      // 5,000 rows: three chunks, the last one short; nulls scattered, none at all in one column.
      await ws.run(`create table t as select i, case when i % 7 = 3 then null else (i * 37) % 1000 - 500 end::integer as n,
        case when i % 11 = 5 then null else i / 3.0 end::double as x, (i * 1e-3)::double as y from range(5000) r(i)`);
      const sql = "select n, x, y from t order by i desc";
      const { names, columns, rows } = await typedColumns(ws.connection, sql);
      const want = (await ws.connection.runAndReadAll(sql)).getColumnsJS() as (number | null)[][];
      expect([names, rows]).toEqual([["n", "x", "y"], 5000]);
      columns.forEach((c, k) => {
        const got = Array.from(c.values, (v, r) => (c.valid && !(c.valid[r >> 3]! & (1 << (r & 7))) ? null : v));
        expect(got).toEqual(want[k]);
        expect(c.nulls).toBe(want[k]!.filter((v) => v === null).length);
        // What lies under a null is zero, so the bytes served never vary.
        expect(Array.from(c.values).filter((_, r) => want[k]![r] === null).every((v) => v === 0)).toBe(true);
      });
      expect(columns[2]!.valid).toBeNull();
      await expect(typedColumns(ws.connection, "select 'a' as s")).rejects.toThrow(/column s is VARCHAR, not INTEGER or DOUBLE/);
    } finally {
      ws.close();
    }
  });
});

describe("rowsWithVectors", () => {
  // What ws.rows gives, with each typed array read back as the plain array it stands for.
  const plain = (rows: Record<string, unknown>[]) => rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v])));

  it("reads FLOAT[] and DOUBLE[] columns as typed arrays holding what ws.rows gives, across chunks", async () => {
    const ws = await openWorkspace({ home: tempDir() });
    try {
      // 5,000 rows (three chunks): lists of 0–9 values, null lists, and one null element in the last chunk only.
      await ws.run(`create table t as select i, 'r' || i as name, (i * 1000)::bigint as big,
        case when i % 13 = 4 then null else list_transform(range(i % 10), (k) -> ((i * 7 + k) % 101 / 7.0)::float) end as f,
        case when i % 17 = 2 then null else list_transform(range(i % 4), (k) -> i / 3.0 + k) end as d,
        case when i = 4501 then [1.5::float, null] else [i::float] end as holey,
        [i, i + 1] as ints
        from range(5000) r(i)`);
      const sql = "select * from t where i % ? <> 0 order by i desc";
      const got = await rowsWithVectors<Record<string, unknown>>(ws, sql, [9]);
      const want = await ws.rows<Record<string, unknown>>(sql, [9]);
      expect(plain(got)).toStrictEqual(want);
      const at = (i: number) => got.find((r) => r.i === BigInt(i))!;
      expect(at(1).f).toBeInstanceOf(Float32Array);
      expect(at(1).d).toBeInstanceOf(Float64Array);
      expect(at(4).f).toBeNull(); // a null list stays null
      expect(at(10).f).toEqual(new Float32Array(0)); // an empty list stays empty
      // A chunk with a null element is read value by value: the null is kept, not made 0.
      expect(at(4501).holey).toEqual([1.5, null]);
      expect(at(1).holey).toBeInstanceOf(Float32Array);
      expect(Array.isArray(at(1).ints)).toBe(true); // other lists as ws.rows reads them
    } finally {
      ws.close();
    }
  });

  it("gives what ws.rows gives for any float lists", async () => {
    const ws = await openWorkspace({ home: tempDir() });
    try {
      const float = fc.float({ noNaN: true, noDefaultInfinity: true }).map(Math.fround);
      const list = fc.option(fc.array(float, { maxLength: 6 }), { nil: null });
      await fc.assert(fc.asyncProperty(fc.array(fc.tuple(list, fc.option(fc.string({ maxLength: 5 }), { nil: null })), { maxLength: 40 }), async (rows) => {
        await stageRows(ws, "__t_vectors", [["f", "FLOAT[]"], ["s", "VARCHAR"]], rows);
        const sql = "select f, s, rowid as n from __t_vectors order by rowid";
        expect(plain(await rowsWithVectors(ws, sql))).toStrictEqual(await ws.rows(sql));
      }), { numRuns: 60, seed: 5 });
    } finally {
      ws.close();
    }
  });
});

describe("repeatedRows", () => {
  it("gives exactly what ws.rows gives, in the query's order, whatever the strings", async () => {
    const ws = await openWorkspace({ home: tempDir() });
    try {
      // Few distinct strings (repeated) beside free ones, numbers, booleans, nulls.
      const pick = fc.option(fc.constantFrom("a", "b", "", "é✓ \"q\"", "a\u0000b", "z".repeat(70)), { nil: null });
      const row = fc.tuple(pick, pick, fc.option(fc.string({ unit: "grapheme", maxLength: 12 }), { nil: null }), fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }), { nil: null }), fc.integer(), fc.boolean());
      await fc.assert(fc.asyncProperty(fc.array(row, { maxLength: 60 }), async (rows) => {
        await stageRows(ws, "__t_repeated", [["k", "VARCHAR"], ["m", "VARCHAR"], ["free", "VARCHAR"], ["x", "DOUBLE"], ["n", "INTEGER"], ["b", "BOOLEAN"]], rows);
        const sql = "select k, n::bigint as big, m, free, x, b, n from __t_repeated where n % 5 <> ? order by b, n desc, rowid";
        expect(await repeatedRows(ws, sql, [3], ["k", "m"])).toStrictEqual(await ws.rows(sql, [3]));
      }), { numRuns: 60, seed: 11 });
      await expect(repeatedRows(ws, "select n from __t_repeated", [], ["n"])).rejects.toThrow(/n is not a VARCHAR column of the query/);
      // Its temp tables go, whatever happened.
      expect(await ws.rows("select table_name from duckdb_tables() where table_name like '__tb_repeated%'")).toEqual([]);
    } finally {
      ws.close();
    }
  }, 60_000);
});

describe("user SQL", () => {
  it("runs one statement that only reads, and refuses every other before anything runs", async () => {
    const home = tempDir();
    const ws = await openWorkspace({ home });
    try {
      const before = await ws.rows("select * from schema_migrations");
      for (const sql of ["select 1 as one", "explain select 1", "show tables", "describe validations", "summarize datanets", "pragma show_tables"]) {
        await expect(checkReadOnly(ws, sql), sql).resolves.toBeUndefined();
      }
      const refused: [string, RegExp][] = [
        ["delete from schema_migrations", /got DELETE/], ["update datanets set kind = 'x'", /got UPDATE/], ["insert into datanets select * from datanets", /got INSERT/],
        ["drop table validations", /got DROP/], ["create table x (a int)", /got CREATE/], ["alter table datanets add column z int", /got ALTER/],
        ["copy datanets to '/tmp/tb-never.csv'", /got COPY/], ["attach ':memory:' as m", /got ATTACH/], ["commit", /got TRANSACTION/],
        ["checkpoint", /got CALL/], ["set threads = 1", /got SET/],
        ["select 1; delete from datanets", /give one SQL statement, not 2/], ["select from where", /./],
      ];
      for (const [sql, message] of refused) await expect(readOnlyRows(ws, sql), sql).rejects.toThrow(message);
      expect(await ws.rows("select * from schema_migrations")).toEqual(before);
      expect(fs.existsSync("/tmp/tb-never.csv")).toBe(false);
      expect(await readOnlyRows(ws, "select ? + 1 as n", [41])).toEqual([{ n: 42 }]);
    } finally {
      ws.close();
    }
  });
});

describe("served Arrow", () => {
  it("dictionary-encodes repeated strings only, and the values come back the same through IPC", async () => {
    const ws = await openWorkspace({ home: tempDir() });
    try {
      const table = await ws.table(`select i, 'q' || (i % 7) as query, case when i % 5 = 0 then null else 'same text' end as text, 'row ' || i as unique_name
                                    from range(200) t(i) order by i`);
      const encoded = dictionaryEncodeStrings(table);
      expect(encoded.schema.fields.map((f) => [f.name, Type[f.type.typeId]])).toEqual([["i", "Int"], ["query", "Dictionary"], ["text", "Dictionary"], ["unique_name", "Utf8"]]);
      const back = tableFromIPC(tableToIPC(encoded, "stream"));
      for (const name of ["i", "query", "text", "unique_name"]) expect(back.getChild(name)!.toArray()).toEqual(table.getChild(name)!.toArray());
      expect(back.getChild("text")!.get(0)).toBeNull();
      expect(tableToIPC(encoded, "stream").byteLength).toBeLessThan(tableToIPC(table, "stream").byteLength);
      const small = await ws.table("select 'x' as a from range(10)");
      expect(dictionaryEncodeStrings(small)).toBe(small); // too few rows to bother
    } finally {
      ws.close();
    }
  });

  it("of a Parquet artifact is the table readerToArrow and dictionaryEncodeStrings give, with the repeated strings encoded by DuckDB", async () => {
    const dir = tempDir();
    const instance = await DuckDBInstance.create(":memory:");
    const connection = await instance.connect();
    try {
      // Every kind of column an artifact holds: repeated and unique strings, an all-null one, exact
      // amounts (DECIMAL(38, 0) beyond a double; a HUGEINT, which Parquet stores as a double), lists of
      // floats, times, flags; quotes in a name.
      // And none at all (a server query's `limit 0`, read for its columns).
      const shapes: [string, number][] = [["empty", 0], ["tiny", 10], ["many", 5000]];
      for (const [name, rows] of shapes) {
        const file = path.join(dir, `${name}.parquet`);
        await connection.run(`copy (select i, 'q' || (i % 7) as query, case when i % 5 = 0 then null else 'same text ' || (i % 3) end as text, 'row ' || i as unique_name,
          null::varchar as nothing, (350830392121524465 + (i % 4))::decimal(38, 0) as fee, (i % 9)::hugeint * 1000000000000000000000 as units,
          case when i % 11 = 0 then null else [i / 10, 0.5]::float[] end as features, timestamp '2026-11-30 10:00:00' + to_seconds(i % 13) as at,
          i % 2 = 0 as even, 'x' || (i % 2) as "odd ""name"""
          from range(${rows}) t(i) order by i) to '${file}' (format parquet)`);
        const served = await parquetAsArrow(connection, file);
        const before = dictionaryEncodeStrings(readerToArrow(await connection.runAndReadAll("select * from read_parquet(?)", [file])));
        expect(served.schema.fields.map((f) => `${f.name}: ${f.type}`)).toEqual(before.schema.fields.map((f) => `${f.name}: ${f.type}`));
        const rows2 = (t: typeof served) => JSON.stringify(tableFromIPC(tableToIPC(t, "stream")).toArray(), (_k, v) => (typeof v === "bigint" ? v.toString() : v));
        expect(rows2(served)).toBe(rows2(before));
        if (rows > 64) expect(served.schema.fields.filter((f) => Type[f.type.typeId] === "Dictionary").map((f) => f.name)).toEqual(["query", "text", "nothing", "fee", 'odd "name"']);
      }
      // Nothing of the conversion stays behind in the reading connection.
      expect((await connection.runAndReadAll("select count(*)::integer from duckdb_tables() where table_name like '__tb_served%'")).getRowsJS()).toEqual([[0]]);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });
});

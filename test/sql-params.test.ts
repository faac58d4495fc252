// The values a notebook's SQL takes, the same on the page and on the server: bound, never spliced.
import { describe, expect, it } from "vitest";
import { cellTable, expandSql, parseProbe, sqlParams, sqlParamsFromJson, sqlScalars, SqlParamError } from "../cells/notebooks/sql-params.ts";

describe("sql params (a query's ${…})", () => {
  it("binds a scalar as one value, a list as a list of values, and names a cell's table", () => {
    const parts = ["select * from ", " where a = ", " and b in (select unnest(", ")) and c = ", ""];
    const params = sqlParams([cellTable('odd "name"'), "x' or '1'='1", [1, "two", null], new Date("2026-11-30T00:00:00Z")]);
    expect(params).toEqual([{ table: 'odd "name"' }, "x' or '1'='1", [1, "two", null], "2026-11-30T00:00:00.000Z"]);
    expect(expandSql(parts, params)).toEqual({
      text: 'select * from "odd ""name""" where a = ? and b in (select unnest([?, ?, ?])) and c = ?',
      probe: 'select * from "odd ""name""" where a = NULL and b in (select unnest([NULL, NULL, NULL])) and c = NULL',
      values: ["x' or '1'='1", 1, "two", null, "2026-11-30T00:00:00.000Z"],
      tables: ['odd "name"'],
    });
    // An empty list is an empty list literal; undefined is null; a bigint a number where it is exact.
    expect(expandSql(["", ""], sqlParams([[]])).text).toBe("[]");
    expect(sqlParams([undefined, 7n, 2n ** 60n, true])).toEqual([null, 7, "1152921504606846976", true]);
  });
  it("refuses a value SQL cannot take, naming which ${…}", () => {
    expect(() => sqlParams(["a", { x: 1 }])).toThrow(/^\$\{…\} number 2: a JavaScript object cannot be bound/);
    expect(() => sqlParams([[["nested"]]])).toThrow(/^\$\{…\} number 1, item 1: a list inside a list cannot be bound/);
    expect(() => sqlParams([NaN])).toThrow(SqlParamError);
    expect(() => cellTable("")).toThrow(/cellTable: expected a cell's name/);
    expect(() => expandSql(["a", "b"], [])).toThrow(/the query takes 1 value, got 0/);
    // A `?` of db.query(text, params) takes one scalar, normalised as a template's are.
    expect(sqlScalars([new Date("2026-11-30T00:00:00Z"), 7n, undefined, "x"])).toEqual(["2026-11-30T00:00:00.000Z", 7, null, "x"]);
    expect(() => sqlScalars(["a", ["b"]])).toThrow(/^value number 2: one \? takes one value/);
    expect(() => sqlScalars([cellTable("t")])).toThrow(SqlParamError);
  });
  it("reads the wire form back: {table} is a cell's table, any other object is refused", () => {
    expect(sqlParamsFromJson(JSON.parse(JSON.stringify(sqlParams([cellTable("influence"), "q", [1]]))))).toEqual([{ table: "influence" }, "q", [1]]);
    expect(() => sqlParamsFromJson({})).toThrow(/params: expected a JSON list/);
    expect(() => sqlParamsFromJson([{ table: "t", sql: "drop" }])).toThrow(/\$\{…\} number 1: an object is only \{"table": "<cell>"\}/);
    expect(() => sqlParamsFromJson([{ table: 3 }])).toThrow(SqlParamError);
  });
  it("probes a query's tables with each ${…} as a name, which parses where a value or a table stands", () => {
    expect(parseProbe(["select * from ", " join t using (k) where x = ", ""])).toBe('select * from "__tb_param" join t using (k) where x = "__tb_param"');
  });
});

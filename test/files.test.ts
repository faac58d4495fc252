import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it, expect } from "vitest";
import { DuckDBInstance } from "@duckdb/node-api";
import { InputError } from "../cells/datanet/errors.ts";
import { MAX_TEXT_BYTES } from "../cells/datanet/limits.ts";
import * as readers from "../datasets/files/index.ts";
import type { RawRecord, RecordSet } from "../datasets/files/index.ts";

/** A reader's records read to the end, as an array: faults found while streaming throw here. */
async function whole(read: Promise<RecordSet>): Promise<RecordSet & { records: RawRecord[] }> {
  const set = await read;
  const records: RawRecord[] = [];
  for await (const r of set.records) records.push(r);
  return { ...set, records };
}
const readCsv = (...a: Parameters<typeof readers.readCsv>) => whole(readers.readCsv(...a));
const readJsonl = (...a: Parameters<typeof readers.readJsonl>) => whole(readers.readJsonl(...a));
const readParquet = (...a: Parameters<typeof readers.readParquet>) => whole(readers.readParquet(...a));
const readRecords = (...a: Parameters<typeof readers.readRecords>) => whole(readers.readRecords(...a));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tb-files-"));

function write(name: string, content: string | Uint8Array): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

async function writeParquet(name: string, select: string): Promise<string> {
  const file = path.join(dir, name);
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  await connection.run(`COPY (${select}) TO '${file}' (FORMAT parquet)`);
  connection.closeSync();
  instance.closeSync();
  return file;
}

/** Run `fn`, expect an InputError, and hand it back for field assertions. */
async function inputError(fn: () => Promise<unknown>): Promise<InputError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error("expected an InputError");
}

const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : Buffer.from(p))));

describe("readRecords dispatch", () => {
  it("rejects an unknown extension, naming the file and the supported ones", async () => {
    const file = write("data.xlsx", "a,b\n1,2\n");
    const err = await inputError(() => readRecords(file));
    expect(err.file).toBe(file);
    expect(err.message).toContain(file);
    for (const ext of [".csv", ".tsv", ".jsonl", ".ndjson", ".parquet"]) expect(err.message).toContain(ext);
  });

  it("reads a .tsv with tabs, a .csv with the delimiter given, and refuses one for another format", async () => {
    const tsv = await readRecords(write("d.tsv", 'text\tlabel\n"a, b"\tham\nc;d\tspam\n'));
    expect(tsv).toMatchObject({ format: "csv", delimiter: "\t", columns: ["text", "label"] });
    expect(tsv.records.map((r) => r.values)).toEqual([{ text: "a, b", label: "ham" }, { text: "c;d", label: "spam" }]);
    const semi = await readRecords(write("semi.csv", 'text;label\n"x; y";ham\n1,5;spam\n'), { delimiter: ";" });
    expect(semi.records.map((r) => r.values)).toEqual([{ text: "x; y", label: "ham" }, { text: "1,5", label: "spam" }]);
    const jsonl = await inputError(() => readRecords(write("d2.jsonl", '{"a":1}\n'), { delimiter: ";" }));
    expect(jsonl.message).toMatch(/a delimiter applies to delimited text \(\.csv, \.tsv\), not to \.jsonl files/);
  });

  it("reports a missing file", async () => {
    const file = path.join(dir, "nope.csv");
    const err = await inputError(() => readRecords(file));
    expect(err.file).toBe(file);
    expect(err.message).toContain("not found");
  });

  it("routes .ndjson to the JSONL reader", async () => {
    const set = await readRecords(write("d.ndjson", '{"a":1}\n'));
    expect(set.format).toBe("jsonl");
  });
});

describe("CSV", () => {
  it("reads quoted commas, quoted newlines and strips the BOM", async () => {
    const file = write("ok.csv", '\uFEFFtext,label\n"hello, world",spam\n"line1\nline2",ham\n\nplain,"say ""hi"""\n');
    const set = await readCsv(file);
    expect(set).toMatchObject({ file, format: "csv", columns: ["text", "label"] });
    expect(set.records).toEqual([
      { row: 1, values: { text: "hello, world", label: "spam" } },
      { row: 2, values: { text: "line1\nline2", label: "ham" } },
      { row: 3, values: { text: "plain", label: 'say "hi"' } },
    ]);
  });

  it("keeps every value a string", async () => {
    const set = await readCsv(write("num.csv", "x,y\n1.5,NaN\r\n"));
    expect(set.records[0]!.values).toEqual({ x: "1.5", y: "NaN" });
    const crlf = await readCsv(write("crlf.csv", "x,y\r\n1,2\r\n3,4\r\n"));
    expect(crlf.records.map((r) => r.values)).toEqual([{ x: "1", y: "2" }, { x: "3", y: "4" }]);
  });

  it("rejects an empty file and a whitespace-only file", async () => {
    for (const content of ["", "  \n\n"]) {
      const err = await inputError(() => readCsv(write("empty.csv", content)));
      expect(err.message).toContain("empty file: no data rows");
    }
  });

  it("rejects a header-only file", async () => {
    const err = await inputError(() => readCsv(write("header.csv", "a,b\n")));
    expect(err.reason).toBe("empty file: no data rows");
  });

  it("locates invalid UTF-8 at data row 3 and its column", async () => {
    const file = write("bad-utf8.csv", bytes("id,text\n1,ok\n2,fine\n3,bad ", [0xff, 0xfe], "\n4,after\n"));
    const err = await inputError(() => readCsv(file));
    expect(err.row).toBe(3);
    expect(err.file).toBe(file);
    expect(err.field).toBe("text");
    expect(err.message).toContain(file);
    expect(err.message).toContain("row 3");
    expect(err.message).toContain("UTF-8");
  });

  it("counts rows by record, not physical line, when locating invalid UTF-8", async () => {
    const file = write("bad-utf8-ml.csv", bytes('id,text\n1,"two\nlines"\n3,', [0xc3, 0x28], "\n"));
    const err = await inputError(() => readCsv(file));
    expect(err.row).toBe(2);
    expect(err.field).toBe("text");
  });

  it("reports an unclosed quote", async () => {
    const err = await inputError(() => readCsv(write("unclosed.csv", 'a,b\n1,2\n3,"oops\n4,5\n')));
    expect(err.row).toBe(2);
    expect(err.message).toMatch(/quote not closed/i);
  });

  it("reports a row with too many columns", async () => {
    const err = await inputError(() => readCsv(write("wide.csv", "a,b\n1,2\n3,4\n\n5,6,7\n")));
    expect(err.row).toBe(3);
    expect(err.message).toContain("row 3");
    expect(err.message).toMatch(/record length/i);
  });

  it("rejects duplicate and empty header names", async () => {
    const dup = await inputError(() => readCsv(write("dup.csv", "a,b,a\n1,2,3\n")));
    expect(dup.field).toBe("a");
    expect(dup.message).toContain("duplicate");
    const empty = await inputError(() => readCsv(write("blank-col.csv", "a,,c\n1,2,3\n")));
    expect(empty.message).toContain("empty column name");
  });

  it("refuses a delimiter that is not one separating character", async () => {
    for (const delimiter of [";;", "", "a", "7", " ", '"', "\n", "é"]) {
      const err = await inputError(() => readCsv(write("any.csv", "a,b\n1,2\n"), { delimiter }));
      expect(err.message).toContain(`delimiter ${JSON.stringify(delimiter)}: give one ASCII character`);
    }
  });

  it("locates invalid UTF-8 in a tab-separated file by its column", async () => {
    const file = write("bad-utf8.tsv", bytes("id\ttext\n1\tok, fine\n2\tbad ", [0xff], "\n"));
    const err = await inputError(() => readRecords(file));
    expect(err).toMatchObject({ row: 2, field: "text" });
  });

  it("streams a file past fs's 64 KiB chunks: a character split across two intact, a fault far on located by its row", async () => {
    const head = "id,text\n";
    const pad = "x".repeat(65_536 - head.length - "1,".length - 1); // é's two bytes straddle the first chunk's end
    const rows = Array.from({ length: 3000 }, (_, i) => `${i + 2},row ${i} ü`).join("\n");
    const goodFile = write("stream.csv", bytes(head, `1,${pad}é\n`, rows, "\n"));
    const good = await readCsv(goodFile);
    expect(good.records.length).toBe(3001);
    expect(good.records[0]!.values.text).toBe(`${pad}é`);
    expect(good.records.at(-1)).toEqual({ row: 3001, values: { id: "3001", text: "row 2999 ü" } });
    const file = write("stream-bad.csv", bytes(head, `1,${pad}é\n`, rows, "\n3002,bad ", [0xc0], "\n"));
    const err = await inputError(() => readCsv(file));
    expect(err).toMatchObject({ row: 3002, field: "text" });
    expect(err.message).toContain(`invalid UTF-8 (byte 0xc0 at offset ${fs.statSync(file).size - 2})`);
    // The header is read at once, the rows as iterated; a reader that stops early lets go of the file.
    const early = await readers.readCsv(goodFile);
    expect(early.columns).toEqual(["id", "text"]);
    early.close?.();
  });

  it("rejects a line over the size cap", async () => {
    const big = "x".repeat(MAX_TEXT_BYTES * 4 + 1);
    const err = await inputError(() => readCsv(write("long.csv", `a,b\n1,2\n3,${big}\n`)));
    expect(err.row).toBe(2);
    expect(err.message).toContain(`row exceeds ${MAX_TEXT_BYTES * 4} bytes`);
  });
});

describe("JSONL", () => {
  it("reads objects with typed values, skipping but counting blank lines", async () => {
    const file = write("ok.jsonl", '{"features":[0.5,1,-2],"label":"cat"}\n\n{"features":[3],"label":null,"extra":true}\n');
    const set = await readJsonl(file);
    expect(set).toMatchObject({ file, format: "jsonl", columns: ["features", "label", "extra"] });
    expect(set.records).toEqual([
      { row: 1, values: { features: [0.5, 1, -2], label: "cat" } },
      { row: 3, values: { features: [3], label: null, extra: true } },
    ]);
  });

  it("streams a file past fs's 64 KiB chunks: its columns gathered from every line, a character split across chunks intact", async () => {
    const first = `{"text":"${"x".repeat(65_536 - '{"text":"'.length - 1)}é"}\n`; // é straddles the first chunk's end
    const rest = Array.from({ length: 2000 }, (_, i) => `{"text":"row ${i} ü"}`).join("\n");
    const set = await readJsonl(write("stream.jsonl", `${first}\n${rest}\n{"text":"last","late":true}`));
    expect(set.columns).toEqual(["text", "late"]);
    expect(set.records.length).toBe(2002);
    expect(set.records[0]!.values.text).toBe(`${"x".repeat(65_536 - '{"text":"'.length - 1)}é`);
    expect(set.records[1]).toEqual({ row: 3, values: { text: "row 0 ü" } });
    expect(set.records.at(-1)).toEqual({ row: 2003, values: { text: "last", late: true } });
  });

  it("rejects an empty and a blank-lines-only file", async () => {
    for (const content of ["", "\n \n\t\n"]) {
      const err = await inputError(() => readJsonl(write("empty.jsonl", content)));
      expect(err.reason).toBe("empty file: no data rows");
    }
  });

  it("locates invalid UTF-8 by line", async () => {
    const file = write("bad.jsonl", bytes('{"a":1}\n\n{"a":"', [0xed, 0xa0, 0x80], '"}\n'));
    const err = await inputError(() => readJsonl(file));
    expect(err.row).toBe(3);
    expect(err.file).toBe(file);
  });

  it("reports a line that is not JSON", async () => {
    const err = await inputError(() => readJsonl(write("notjson.jsonl", '{"a":1}\n{"a":\n')));
    expect(err.row).toBe(2);
    expect(err.message).toContain("invalid JSON");
  });

  it("reports a line that is JSON but not an object", async () => {
    const err = await inputError(() => readJsonl(write("array.jsonl", '{"a":1}\n{"a":2}\n[1,2]\n')));
    expect(err.row).toBe(3);
    expect(err.message).toContain("expected a JSON object, got an array");
    const nul = await inputError(() => readJsonl(write("null.jsonl", "null\n")));
    expect(nul.message).toContain("got null");
  });

  it("rejects a line over the size cap", async () => {
    const big = "x".repeat(MAX_TEXT_BYTES * 4);
    const err = await inputError(() => readJsonl(write("long.jsonl", `{"a":1}\n{"a":"${big}"}\n`)));
    expect(err.row).toBe(2);
  });
});

describe("Parquet", () => {
  it("streams rows past DuckDB's 2,048-row chunks, numbered in file order", async () => {
    const set = await readParquet(await writeParquet("many.parquet", "select i::BIGINT as n, 'r' || i as text from range(5000) t(i) order by i"));
    expect(set.records.length).toBe(5000);
    expect(set.records[2048]).toEqual({ row: 2049, values: { n: 2048, text: "r2048" } });
    expect(set.records.at(-1)).toEqual({ row: 5000, values: { n: 4999, text: "r4999" } });
    const early = await readers.readParquet(path.join(dir, "many.parquet"));
    early.close?.();
    early.close?.();
  });

  it("reads FLOAT[] and VARCHAR columns, keeping NaN and Infinity", async () => {
    const file = await writeParquet(
      "ok.parquet",
      `select * from (values
        ([0.5, -1.25, 2]::FLOAT[], 'héllo', 7::BIGINT),
        (['nan'::FLOAT, 'inf'::FLOAT], 'world', 9007199254740993::BIGINT)
      ) t(features, text, n)`,
    );
    const set = await readParquet(file);
    expect(set).toMatchObject({ file, format: "parquet", columns: ["features", "text", "n"] });
    expect(set.records).toHaveLength(2);
    expect(set.records[0]).toEqual({ row: 1, values: { features: [0.5, -1.25, 2], text: "héllo", n: 7 } });
    const second = set.records[1]!;
    expect(second.row).toBe(2);
    expect(second.values.features).toEqual([NaN, Infinity]);
    expect(second.values.text).toBe("world");
    expect(second.values.n).toBe(9007199254740993n); // unsafe: left as bigint for the caller
  });

  it("rejects a file with zero rows and a zero-byte file", async () => {
    const file = await writeParquet("zero.parquet", "select 1::INTEGER as a where false");
    expect((await inputError(() => readParquet(file))).reason).toBe("empty file: no data rows");
    const err = await inputError(() => readParquet(write("zero-bytes.parquet", "")));
    expect(err.reason).toBe("empty file: no data rows");
  });

  it("rejects a file that is not Parquet, with DuckDB's reason", async () => {
    const file = write("fake.parquet", "a,b\n1,2\n");
    const err = await inputError(() => readRecords(file));
    expect(err.file).toBe(file);
    expect(err.message).toContain(file);
    expect(err.message).toContain("Parquet");
    expect(err.message).not.toContain("LINE 1");
  });

  it("refuses file names DuckDB would expand as a glob", async () => {
    const err = await inputError(() => readParquet(write("a*.parquet", "x")));
    expect(err.message).toContain("glob");
  });
});

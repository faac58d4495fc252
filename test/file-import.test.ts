import fs from "node:fs";
import { createHash } from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DuckDBInstance } from "@duckdb/node-api";
import { importFile } from "../datasets/files/import.ts";
import { InputError } from "../cells/datanet/errors.ts";
import { MAX_TEXT_BYTES } from "../cells/datanet/limits.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { snapshot, tempDir, tempWorkspace } from "./helpers/workspace.ts";

const textCols = { text: "body", label: "label", contributor: "who" };

/** What the import trail names the last imported file by: the sha256 of its bytes, hashed as they were read. */
const lastImportSha = async (ws: Workspace) =>
  (await ws.rows<{ h: string }>("select source_sha256 as h from imports order by finished_at desc limit 1"))[0]!.h;
const sha256Of = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

describe("importing user files", () => {
  let ws: Workspace;
  let dir: string;
  const write = (name: string, content: string | Buffer) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content);
    return file;
  };

  beforeAll(async () => {
    ws = await tempWorkspace();
    dir = tempDir();
    // A Datanet with content already in it: every failure below must leave it exactly as is.
    await importFile(ws, "reviews", write("seed.csv", "body,label,who\ngreat product,pos,ann\nawful,neg,bob\n"), textCols, { create: true });
  });
  afterAll(() => ws.close());

  it("says how far into the file it is as rows are staged, to the whole file by the end (CSV and JSONL)", async () => {
    const rows = Array.from({ length: 3000 }, (_, i) => `review number ${i} ${"words ".repeat(20)},pos,w${i % 7}`);
    const own = await tempWorkspace();
    try {
      for (const [name, content] of [["long.csv", `body,label,who\n${rows.join("\n")}\n`], ["long.jsonl", rows.map((r) => JSON.stringify({ body: r.split(",")[0], label: "pos", who: "w" })).join("\n")]]) {
        const file = write(name!, content!);
        const seen: [number, number][] = [];
        await importFile(own, "progress", file, textCols, { create: name === "long.csv", onProgress: (done, total) => seen.push([done, total]) });
        expect(seen.length).toBeGreaterThan(1);
        expect(seen.every(([, total]) => total === fs.statSync(file).size)).toBe(true);
        expect(seen.every(([done], i) => i === 0 || done >= seen[i - 1]![0])).toBe(true);
        expect(seen.at(-1)![0]).toBe(fs.statSync(file).size);
        expect(await lastImportSha(own)).toBe(sha256Of(file));
      }
    } finally {
      own.close();
    }
  });

  it("imports CSV, JSONL and Parquet, features by pattern, list column or names", async () => {
    const s = await importFile(ws, "reviews", write("more.jsonl", '{"body":"fine","label":"pos","who":"cid"}\n{"body":"great product","label":"pos","who":"dan"}\n'), textCols);
    expect(s).toMatchObject({ rowsRead: 2, contributionsAdded: 1, duplicates: 1 });

    await importFile(ws, "points", write("p.csv", "px0,px1,px2,y,src\n0.5,1,0,a,s1\n1,0.25,0,b,s2\n"), { features: "px*", label: "y", contributor: "src" }, { create: true });
    const pq = path.join(dir, "p.parquet");
    const db = await DuckDBInstance.create(":memory:");
    const c = await db.connect();
    await c.run(`copy (select [0.0, 0.5, 1.0]::float[] as v, 'c' as y, 7 as src) to '${pq}' (format parquet)`);
    c.closeSync();
    db.closeSync();
    await importFile(ws, "points", pq, { features: "v", label: "y", contributor: "src" });
    expect(await lastImportSha(ws)).toBe(sha256Of(pq));
    await importFile(ws, "points", write("p2.csv", "a,b,c,y,src\n1,2,3,d,s1\n"), { features: "a, b ,c", label: "y", contributor: "src" });
    // Tab-separated by extension, and a .csv separated with ";" as the option says.
    await importFile(ws, "points", write("p3.tsv", "a\tb\tc\ty\tsrc\n1.5\t2\t3\te\ts1\n"), { features: "a,b,c", label: "y", contributor: "src" });
    await importFile(ws, "points", write("p4.csv", "a;b;c;y;src\n4;\"5\";6;f;s1\n"), { features: "a,b,c", label: "y", contributor: "src" }, { delimiter: ";" });
    const rows = await ws.rows("select features, label, contributor, status from contributions where datanet = 'points' order by label");
    expect(rows).toEqual([
      { features: [0.5, 1, 0], label: "a", contributor: "s1", status: "pending" },
      { features: [1, 0.25, 0], label: "b", contributor: "s2", status: "pending" },
      { features: [0, 0.5, 1], label: "c", contributor: "7", status: "pending" },
      { features: [1, 2, 3], label: "d", contributor: "s1", status: "pending" },
      { features: [1.5, 2, 3], label: "e", contributor: "s1", status: "pending" },
      { features: [4, 5, 6], label: "f", contributor: "s1", status: "pending" },
    ]);
  });

  const bad: [string, () => [string, string, Record<string, string>, object?], RegExp, { row?: number; field?: string }][] = [
    ["a missing column", () => ["reviews", write("m.csv", "text,label,who\nx,pos,a\n"), textCols], /column "body" \(text\) is not in the file/, { field: "body" }],
    ["a wrong type", () => ["reviews", write("t.jsonl", '{"body":"ok","label":"pos","who":"a"}\n{"body":["x"],"label":"pos","who":"a"}\n'), textCols], /expected text, got a list/, { row: 2, field: "body" }],
    ["a label of the wrong type", () => ["reviews", write("t2.jsonl", '{"body":"ok","label":{"x":1},"who":"a"}\n'), textCols], /expected text or an integer, got an object/, { row: 1, field: "label" }],
    ["an empty file", () => ["reviews", write("e.csv", ""), textCols], /empty file/, {}],
    ["a header-only file", () => ["reviews", write("h.csv", "body,label,who\n"), textCols], /empty file/, {}],
    ["a NaN feature", () => ["points", write("n.csv", "px0,px1,px2,y,src\n1,2,3,a,s\n1,NaN,3,a,s\n"), { features: "px*", label: "y", contributor: "src" }], /feature is NaN/, { row: 2, field: "px1" }],
    ["an infinite feature", () => ["points", write("i.jsonl", '{"v":[1,2,3],"y":"a","s":"x"}\n{"v":[1,2,1e999],"y":"a","s":"x"}\n'), { features: "v", label: "y", contributor: "s" }], /infinite/, { row: 2, field: "v[2]" }],
    ["a non-numeric feature", () => ["points", write("nn.csv", "px0,px1,px2,y,src\n1,two,3,a,s\n"), { features: "px*", label: "y", contributor: "src" }], /"two" is not a number/, { row: 1, field: "px1" }],
    ["a feature count that differs from the Datanet's", () => ["points", write("d.csv", "px0,px1,y,src\n1,2,a,s\n"), { features: "px*", label: "y", contributor: "src" }], /expected 3 features, got 2/, { row: 1 }],
    ["invalid UTF-8", () => ["reviews", write("u.csv", Buffer.concat([Buffer.from("body,label,who\nok,pos,a\nbad \xff here,pos,a\n", "latin1")])), textCols], /invalid UTF-8/, { row: 2, field: "body" }],
    ["a row over the size cap", () => ["reviews", write("big.jsonl", JSON.stringify({ body: "é".repeat(MAX_TEXT_BYTES / 2 + 1), label: "pos", who: "a" }) + "\n"), textCols], /exceed the cap/, { row: 1, field: "body" }],
    ["an empty label", () => ["reviews", write("el.csv", "body,label,who\nx,,a\n"), textCols], /value is empty/, { row: 1, field: "label" }],
    // A message with only a subject line: the file has its words in a column no option named.
    ["an empty text beside a title column not named", () => ["reviews", write("st.csv", "subject,body,label,who\nhello,ok,pos,a\nwin now,,neg,b\n"), textCols],
      /text is empty, and no title was named: the file has a "subject" column \(--title subject\); a row with a title and no text is kept/, { row: 2, field: "body" }],
    ["an unknown Datanet name", () => ["reviewz", write("ok.csv", "body,label,who\nx,pos,a\n"), textCols], /unknown Datanet "reviewz" \(did you mean "reviews"\? known: points, reviews\); pass --create/, {}],
    // A spreadsheet's export where the comma is the decimal mark: read as CSV, one column.
    ["a \";\"-separated .csv read with commas", () => ["reviews", write("semi.csv", "body;label;who\nx;pos;a\n"), textCols],
      /its columns are: body;label;who \(one column: if the file separates fields with ";", pass --delimiter ";"\)/, { field: "body" }],
    ["an unsupported format", () => ["reviews", write("x.xlsx", "PK"), textCols], /unsupported file type/, {}],
    ["a kind that differs from the Datanet's", () => ["points", write("k.csv", "body,label,who\nx,pos,a\n"), textCols], /holds features contributions; this file was mapped as text/, {}],
  ];

  for (const [what, make, message, where] of bad) {
    it(`rejects ${what}, naming where, and changes nothing`, async () => {
      const before = await snapshot(ws);
      const [name, file, mapping] = make();
      const err = await importFile(ws, name, file, mapping as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).toContain(path.basename(file).replace(/\.xlsx$/, ".xlsx"));
      if (where.row !== undefined || where.field !== undefined) {
        expect(err).toBeInstanceOf(InputError);
        expect(err).toMatchObject(where);
      }
      expect(await snapshot(ws)).toBe(before);
      expect(fs.readdirSync(ws.scratchDir())).toEqual([]); // staging files are removed
    });
  }
});

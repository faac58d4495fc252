// A page's ```sql server blocks, as the dev server runs them: over the workspace's artifacts, by
// key (the page never sends SQL), one SELECT, reading nothing but the artifacts.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { tableFromIPC } from "apache-arrow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openWorkspace } from "../cells/store/workspace.ts";
import { startNotebookServer, type NotebookServer } from "../cells/notebooks/server.ts";
import { compileNotebook } from "../cells/notebooks/transform.ts";
import { NotebookData } from "../cells/notebooks/data.ts";
import { servedCacheDir } from "../cells/notebooks/served-cache.ts";
import { datanet, pipeline, runPipeline } from "../cells/index.ts";
import { smallDatanet } from "./helpers/datanets.ts";
import { tempDir } from "./helpers/workspace.ts";

const PAGE = `---
title: Sums
pipeline: sums
---

\`\`\`sql id=byLabel server
select label, count(*)::integer as n, count(distinct contributor)::integer as contributors
from notes group by label order by label
\`\`\`

\`\`\`sql id=whole server
select * from notes
\`\`\`

\`\`\`sql id=notSelect server
copy (select 1) to 'out.csv'
\`\`\`

\`\`\`sql id=outside server
select * from read_text('/etc/hostname')
\`\`\`

\`\`\`sql id=noTable server
select count(*) from nope
\`\`\`

\`\`\`sql id=picked server
select text, label, contributor from \${cellTable(table)} where label = \${label} and contributor in (select unnest(\${who})) order by text
\`\`\`

\`\`\`sql id=types server
select typeof(\${n}) as n, typeof(\${s}) as s, typeof(\${b}) as b
\`\`\`
`;

describe("server queries (```sql server blocks)", () => {
  let home: string;
  let notebooksDir: string;
  let server: NotebookServer;
  let keys: Record<string, string>;
  const query = (pipelineName: string, key: string, params?: unknown) =>
    fetch(`${server.url}@tracebook/query/${pipelineName}/${key}.arrow${params === undefined ? "" : `?params=${encodeURIComponent(JSON.stringify(params))}`}`);
  const rowsOf = async (res: Response) => tableFromIPC(new Uint8Array(await res.arrayBuffer())).toArray().map((r) => r.toJSON());

  beforeAll(async () => {
    home = tempDir("tb-server-sql-");
    const ws = await openWorkspace({ home });
    try {
      await smallDatanet(ws, "notes", 80); // past 64 rows: repeated strings travel dictionary-encoded
      await runPipeline(ws, pipeline("sums", { notes: datanet("notes") }));
    } finally {
      ws.close();
    }
    notebooksDir = tempDir("tb-server-sql-nb-");
    fs.writeFileSync(path.join(notebooksDir, "sums.md"), PAGE);
    keys = Object.fromEntries(Object.entries(compileNotebook(PAGE).serverQueries).map(([key, q]) => [q.name!, key]));
    server = await startNotebookServer({ home, notebooksDir, port: 0, watch: false, cacheDir: path.join(home, "vite-cache"), log: () => undefined });
  }, 120_000);

  afterAll(async () => {
    await server?.close();
  });

  it("answers with the query's result on the current outputs, and names the cells it read", async () => {
    const res = await query("sums", keys.byLabel!);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tracebook-reads")).toBe("notes");
    const result = await rowsOf(res);
    // Against the table itself, as the page would get it, counted here.
    const notes = tableFromIPC(new Uint8Array(await (await fetch(`${server.url}@tracebook/data/sums/notes.arrow`)).arrayBuffer())).toArray().map((r) => r.toJSON() as { label: string; contributor: string });
    const expected = [...new Set(notes.map((r) => r.label))].sort().map((label) => {
      const of = notes.filter((r) => r.label === label);
      return { label, n: of.length, contributors: new Set(of.map((r) => r.contributor)).size };
    });
    expect(result).toEqual(expected);
    expect(expected.reduce((s, r) => s + r.n, 0)).toBe(80);
  });

  it("answers a table as the page gets the table itself: the same types, encodings and values", async () => {
    const served = new Uint8Array(await (await fetch(`${server.url}@tracebook/data/sums/notes.arrow`)).arrayBuffer());
    const answered = new Uint8Array(await (await query("sums", keys.whole!)).arrayBuffer());
    expect(tableFromIPC(answered).schema.fields.map((f) => `${f.name}: ${f.type}`)).toEqual(tableFromIPC(served).schema.fields.map((f) => `${f.name}: ${f.type}`));
    // (Not byte for byte: here the streams differed by 16 bytes of layout, not in a type or a value.)
    expect(tableFromIPC(answered).toArray().map((r) => r.toJSON())).toEqual(tableFromIPC(served).toArray().map((r) => r.toJSON()));
    expect(String(tableFromIPC(answered).schema.fields.find((f) => f.name === "contributor")!.type)).toBe("Dictionary<Int32, Utf8>");
  });

  it("refuses what is not one SELECT, any file but the artifacts, and names a table the pipeline lacks", async () => {
    const answer = async (key: string) => {
      const res = await query("sums", key);
      return [res.status, await res.text()] as const;
    };
    expect(await answer(keys.notSelect!)).toEqual([400, expect.stringMatching(/^sums: server query: not one SELECT: Only SELECT statements/)]);
    expect(await answer(keys.outside!)).toEqual([400, expect.stringMatching(/^sums: server query: Permission Error: Cannot access file "\/etc\/hostname"/)]);
    expect(await answer(keys.noTable!)).toEqual([400, expect.stringMatching(/^sums: server query: .*nope/)]);
    expect(fs.existsSync(path.join(home, "out.csv")) || fs.existsSync("out.csv")).toBe(false);
  });

  it("takes the page's values: bound (a list as a list), a cell's table by name, never SQL text", async () => {
    const notes = (await rowsOf(await fetch(`${server.url}@tracebook/data/sums/notes.arrow`))) as { text: string; label: string; contributor: string }[];
    const expected = (label: string, who: string[]) => notes.filter((r) => r.label === label && who.includes(r.contributor))
      .map((r) => ({ text: r.text, label: r.label, contributor: r.contributor })).sort((a, b) => (a.text < b.text ? -1 : 1));
    const res = await query("sums", keys.picked!, [{ table: "notes" }, "b", ["c0", "c2"]]);
    expect([res.status, res.headers.get("x-tracebook-reads")]).toEqual([200, "notes"]);
    const got = await rowsOf(res);
    expect(got).toEqual(expected("b", ["c0", "c2"]));
    expect(got.length).toBeGreaterThan(5);
    // An empty list matches nothing; a value is a value, however it reads as SQL.
    expect(await rowsOf(await query("sums", keys.picked!, [{ table: "notes" }, "b", []]))).toEqual([]);
    expect(await rowsOf(await query("sums", keys.picked!, [{ table: "notes" }, "b' or '1'='1", ["c0"]]))).toEqual([]);
    // Too many for a URL (Node refuses a request head past 16 KiB): the same values as a POST's body.
    const many = [...Array.from({ length: 3000 }, (_, i) => `someone-else-${i}`), "c0", "c2"];
    const long = await query("sums", keys.picked!, [{ table: "notes" }, "b", many]);
    expect(long.status).toBe(431);
    const posted = await fetch(`${server.url}@tracebook/query/sums/${keys.picked}.arrow`, { method: "POST", body: JSON.stringify([{ table: "notes" }, "b", many]) });
    expect(posted.status).toBe(200);
    expect(await rowsOf(posted)).toEqual(expected("b", ["c0", "c2"]));
    // Typed as DuckDB-wasm binds them on the page: every number a DOUBLE.
    expect(await rowsOf(await query("sums", keys.types!, [2, "x", true]))).toEqual([{ n: "DOUBLE", s: "VARCHAR", b: "BOOLEAN" }]);
  });

  it("keeps a fixed query's result on disk for the next server, and a pick's in memory only", async () => {
    const served = path.join(servedCacheDir(home), "v1", "sums");
    const queryDirs = () => fs.readdirSync(served).filter((d) => d.startsWith(encodeURIComponent("@query:")));
    const { parts } = compileNotebook(PAGE).serverQueries[keys.byLabel!]!;
    const dir = path.join(served, encodeURIComponent(`@query:${createHash("sha256").update(parts[0]!).digest("hex").slice(0, 32)}`));
    const sent = new Uint8Array(await (await query("sums", keys.byLabel!)).arrayBuffer());
    // One result per query text, named by the query and the data versions it read.
    const files = fs.readdirSync(dir);
    expect(files).toEqual([expect.stringMatching(/^[0-9a-f]{64}\.arrow$/)]);
    expect(new Uint8Array(fs.readFileSync(path.join(dir, files[0]!)))).toEqual(sent);
    const fixed = queryDirs().length;
    const pick = new Uint8Array(await (await query("sums", keys.types!, [7, "y", false])).arrayBuffer());
    expect(queryDirs()).toHaveLength(fixed);
    // Another server, its memory empty, sends what is kept (planted here: it did not run the query)…
    const file = path.join(dir, files[0]!);
    const fresh = async () => {
      const data = new NotebookData({ home });
      try {
        return (await data.query("sums", parts)).bytes;
      } finally {
        data.close();
      }
    };
    fs.writeFileSync(file, pick);
    expect(await fresh()).toEqual(pick);
    // …and makes again, and keeps, what is damaged.
    fs.writeFileSync(file, sent.subarray(0, 64));
    expect(await fresh()).toEqual(sent);
    expect(new Uint8Array(fs.readFileSync(file))).toEqual(sent);
  });

  it("refuses values it cannot take, and a table that is not one of the pipeline's cells", async () => {
    const answer = async (params: unknown, raw?: string) => {
      const res = raw === undefined ? await query("sums", keys.picked!, params) : await fetch(`${server.url}@tracebook/query/sums/${keys.picked}.arrow?params=${raw}`);
      return [res.status, await res.text()] as const;
    };
    expect(await answer([{ table: "duckdb_settings" }, "b", []])).toEqual([400, 'sums: server query: cellTable("duckdb_settings"): pipeline sums has no such cell']);
    expect(await answer([{ table: "notes", sql: "x" }, "b", []])).toEqual([400, expect.stringMatching(/^sums: server query: \$\{…\} number 1: an object is only/)]);
    expect(await answer([{ table: "notes" }, "b"])).toEqual([400, "sums: server query: the query takes 3 values, got 2"]);
    expect(await answer(undefined, "%7Bnot")).toEqual([400, "params: not JSON: {not"]);
    expect(await answer(undefined, "")).toEqual([400, "params: not JSON: "]);
    const huge = await fetch(`${server.url}@tracebook/query/sums/${keys.picked}.arrow`, { method: "POST", body: "x".repeat(1024 * 1024 + 1) });
    expect([huge.status, await huge.text()]).toEqual([400, "params: a body larger than 1024 KiB"]);
  });

  it("follows an edited notebook: its new query is served, the one it replaced no longer", async () => {
    const file = path.join(notebooksDir, "sums.md");
    const edited = PAGE.replace("order by label", "order by label desc");
    fs.writeFileSync(file, edited);
    try {
      const key = Object.entries(compileNotebook(edited).serverQueries).find(([, q]) => q.name === "byLabel")![0];
      expect(key).not.toBe(keys.byLabel);
      const res = await query("sums", key);
      expect(res.status).toBe(200);
      expect(tableFromIPC(new Uint8Array(await res.arrayBuffer())).toArray().map((r) => r.toJSON().label)).toEqual(["b", "a"]);
      expect((await query("sums", keys.byLabel!)).status).toBe(404);
    } finally {
      fs.writeFileSync(file, PAGE);
    }
    expect((await query("sums", keys.byLabel!)).status).toBe(200);
  });

  it("runs only the queries of its notebooks, and says what to run for a pipeline that never ran", async () => {
    // A README beside the notebooks is no notebook, however its examples read.
    const readme = "```sql id=example server\nselect count(*) from notes\n```\n";
    fs.writeFileSync(path.join(notebooksDir, "README.md"), readme);
    expect((await query("sums", Object.keys(compileNotebook(readme).serverQueries)[0]!)).status).toBe(404);
    const unknown = await query("sums", "0123456789abcdef");
    expect([unknown.status, await unknown.text()]).toEqual([404, expect.stringMatching(/^no notebook in .* has a server query 0123456789abcdef/)]);
    expect((await query("sums", "not-a-key")).status).toBe(404);
    const never = await query("never-run", keys.byLabel!);
    expect([never.status, await never.text()]).toEqual([404, expect.stringMatching(/^pipeline "never-run" has no runs in workspace .*: run `tracebook run never-run` first$/)]);
  });
});

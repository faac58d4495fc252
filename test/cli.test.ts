import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import type { Command } from "commander";
import { tempDir } from "./helpers/workspace.ts";
import { buildProgram, COMMAND_MODULES } from "../bin/cli.ts";

const BIN = path.resolve("bin/tracebook.js");

/** Run the real command in a child process, as a user would. */
function tracebook(args: string[], home: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: "utf8", env: { ...process.env, TRACEBOOK_HOME: home }, timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("tracebook CLI", () => {
  let home: string;
  let dir: string;
  beforeAll(() => {
    home = tempDir("tb-cli-");
    dir = tempDir();
    fs.writeFileSync(path.join(dir, "notes.csv"), "body,label,author\nhello world,greeting,ann\n\"bye, now\",farewell,bob\nhello world,greeting,cat\n");
    fs.writeFileSync(path.join(dir, "bad.csv"), "body,label,author\nfine,greeting,ann\nalso fine,,bob\n");
  });

  it("has --help on every command", async () => {
    // Every command the program declares, found by walking it (a new command cannot be missed),
    // its help rendered in process; the real binary's exit code for --help is checked on a few.
    const all: Command[] = [];
    const walk = (c: Command): void => {
      all.push(c);
      c.commands.forEach(walk);
    };
    const program = await buildProgram();
    walk(program);
    expect(all.map((c) => c.name())).toEqual(expect.arrayContaining(["datanet", "import", "curate", "what-if", "explain", "gc", "verify"]));
    // Each module defines the commands the launcher loads it for, and a command's words load only its own.
    expect(program.commands.map((c) => c.name())).toEqual(COMMAND_MODULES.flatMap(([names]) => names));
    for (const [names] of COMMAND_MODULES) {
      for (const name of names) {
        expect((await buildProgram(["--workspace", "w", name, "--json"])).commands.map((c) => c.name())).toEqual(names);
        expect((await buildProgram(["--wait", "5", "--read-only", name])).commands.map((c) => c.name())).toEqual(names); // a global option's value is no command
      }
    }
    expect((await buildProgram(["--help"])).commands).toHaveLength(program.commands.length);
    expect((await buildProgram(["explian"])).commands).toHaveLength(program.commands.length); // help and suggestions know every command
    for (const c of all) {
      expect(c.helpInformation(), c.name()).toMatch(/^Usage: tracebook/);
      expect(c.description() || c.name() === "tracebook", `${c.name()} has a description`).toBeTruthy();
    }
    for (const args of [[], ["explain"], ["datanet", "import"]]) {
      const r = tracebook([...args, "--help"], home);
      expect(r.code, args.join(" ")).toBe(0);
      expect(r.out).toMatch(/Usage: tracebook/);
    }
    expect(tracebook(["datanet", "import", "--help"], home).out).toMatch(/--contributor <column>[\s\S]*--features <columns>/);
  });

  it("imports a file, lists, shows, queries and exports it", () => {
    const imp = tracebook(["datanet", "import", "notes", path.join(dir, "notes.csv"), "--create", "--text", "body", "--label", "label", "--contributor", "author", "--json"], home);
    expect(imp.code, imp.err).toBe(0);
    expect(JSON.parse(imp.out)).toMatchObject({ datanet: "notes", rowsRead: 3, contributionsAdded: 2, duplicates: 1 });

    const list = JSON.parse(tracebook(["datanet", "list", "--json"], home).out);
    expect(list).toEqual([expect.objectContaining({ name: "notes", kind: "text", contributions: 2, contributors: 2, pending: 2, duplicates: 1 })]);

    const show = tracebook(["datanet", "show", "notes"], home);
    expect(show.out).toMatch(/notes \(text\)/);
    expect(show.out).toMatch(/farewell/);

    const sql = tracebook(["sql", "select label, count(*) as n from contributions group by label order by label"], home);
    expect(sql.out).toMatch(/farewell.*1[\s\S]*greeting.*1/);
    expect(sql.out).toMatch(/\(2 rows\)/);
    // Nothing matched: the columns and "(0 rows)", not a table without columns.
    const none = tracebook(["sql", "select label, contributor from contributions where false;"], home);
    expect(none.out).toMatch(/│ label │ contributor │[\s\S]*\(0 rows\)/);
    const json = JSON.parse(tracebook(["sql", "select count(*) as n from submissions", "--json"], home).out);
    expect(json).toEqual([{ n: 3 }]);

    // Piped into a reader that stops after one line: the rest goes nowhere, no stack dump, exit 0.
    const piped = spawnSync("bash", ["-o", "pipefail", "-c", `"${process.execPath}" "${BIN}" sql "select * from range(100000)" --json | head -n 1`],
      { encoding: "utf8", env: { ...process.env, TRACEBOOK_HOME: home }, timeout: 60_000 });
    expect([piped.status, piped.stdout, piped.stderr]).toEqual([0, "[\n", ""]);

    const out = path.join(dir, "notes.parquet");
    expect(tracebook(["datanet", "export", "notes", out], home).out).toMatch(/Wrote 2 contributions/);
    const back = JSON.parse(tracebook(["sql", `select count(*) as n from read_parquet('${out}')`, "--json"], home).out);
    expect(back).toEqual([{ n: 2 }]);
    // The same rows as CSV (a comma in a text quoted) and JSON Lines, read back as they were written.
    const rowsOf = (reader: string) => JSON.parse(tracebook(["sql", `select id, text, label, contributor from ${reader} order by id`, "--json"], home).out);
    const written = rowsOf(`read_parquet('${out}')`);
    expect(written.map((r: { text: string }) => r.text)).toContain("bye, now");
    for (const [ext, reader] of [["csv", "read_csv"], ["jsonl", "read_json"]] as const) {
      const file = path.join(dir, `notes.${ext}`);
      expect(tracebook(["datanet", "export", "notes", file], home).out).toBe(`Wrote 2 contributions to ${file} (${ext})\n`);
      expect(rowsOf(`${reader}('${file}')`), ext).toEqual(written);
    }
    expect(fs.readFileSync(path.join(dir, "notes.csv"), "utf8").split("\n")[0]).toMatch(/^datanet,id,contributor,/); // a header row
  });

  it("reports bad input in one line naming file, row and field, with exit code 2", () => {
    const r = tracebook(["datanet", "import", "notes", path.join(dir, "bad.csv"), "--text", "body", "--label", "label", "--contributor", "author"], home);
    expect(r.code).toBe(2);
    expect(r.err.trim()).toBe(`tracebook: ${path.join(dir, "bad.csv")}, row 2, field "label": value is empty`);
    const unknown = tracebook(["datanet", "import", "nope"], home);
    expect(unknown.code).toBe(2);
    expect(tracebook(["datanet", "import", "notes", path.join(dir, "bad.csv"), "--text", "body"], home))
      .toMatchObject({ code: 2, err: "tracebook: importing a file needs --label <column> and --contributor <column>\n" });
    // A tab separator named as a spreadsheet user types it: the file is read, and fails on its own row.
    const tab = tracebook(["datanet", "import", "notes", path.join(dir, "bad.csv"), "--delimiter", "\\t", "--text", "body", "--label", "label", "--contributor", "author"], home);
    // Numbers on the command line are checked where they are read, naming the flag.
    const numbers: [string[], string][] = [
      [["sql", "select 1", "--max-rows", "x"], '--max-rows: a count of at least 0 (got "x")'],
      [["datanet", "import", "n2", path.join(dir, "notes.csv"), "--create", "--label", "label", "--contributor", "author", "--text", "body", "--seed", "-1"], '--seed: a seed is a non-negative integer (got "-1")'],
      [["datanet", "import", "n2", path.join(dir, "notes.csv"), "--create", "--label", "label", "--contributor", "author", "--text", "body", "--test-fraction", "1"], '--test-fraction: a fraction, 0 or more and below 1 (got "1")'],
      [["curate", "queue", "notes", "--limit", "2.5"], '--limit: a count of at least 0 (got "2.5")'],
    ];
    for (const [args, said] of numbers) expect(tracebook(args, home), args.join(" ")).toMatchObject({ code: 2, err: `tracebook: ${said}\n` });
    expect(tracebook(["datanet", "list", "--json"], home).out).not.toContain("n2"); // refused before anything was written
    expect(tab).toMatchObject({ code: 2, err: expect.stringMatching(/column "body" \(text\) is not in the file; its columns are: body,label,author \(one column: if the file separates fields with ",", pass --delimiter ","\)/) });
    // A usage error (commander's: an unknown option) is the caller's too.
    expect(tracebook(["datanet", "list", "--no-such-flag"], home)).toMatchObject({ code: 2, err: expect.stringMatching(/unknown option '--no-such-flag'/) });
    expect(tracebook(["datanet", "--help"], home).code).toBe(0);
    expect(unknown.err).toMatch(/"nope" is not a built-in corpus \(mail-spam, digits\)/);
    expect(tracebook(["sql", "select * from no_such_table"], home).err).toMatch(/^tracebook: .*no_such_table/);
    // DuckDB's hint is kept on the one line: the table or column meant.
    expect(tracebook(["sql", "select count(*) from contribution"], home)).toMatchObject({ code: 2, err: 'tracebook: Catalog Error: Table with name contribution does not exist! Did you mean "contributions"?\n' });
    expect(tracebook(["sql", "select labl from contributions"], home).err).toMatch(/^tracebook: Binder Error: Referenced column "labl" not found in FROM clause! Candidate bindings: "label"/);
    // Read only: the trail is append-only, and changes go through imports, decisions and runs.
    const write = tracebook(["sql", "delete from contributions"], home);
    expect([write.code, write.err.trim()]).toEqual([2, "tracebook: only queries that read are run here (SELECT, EXPLAIN; got DELETE): the workspace changes through imports, curators' decisions (tracebook curate) and pipeline runs"]);
    expect(tracebook(["sql", "select 1; drop table contributions", "--out", path.join(dir, "never.parquet")], home)).toMatchObject({ code: 2, err: expect.stringMatching(/give one SQL statement, not 2/) });
    expect(fs.existsSync(path.join(dir, "never.parquet"))).toBe(false);
    expect(JSON.parse(tracebook(["sql", "select count(*)::integer as n from contributions", "--json"], home).out)).toEqual([{ n: 2 }]);
  });

  it("moves the workspace with --workspace, and makes one only where something is put into it", () => {
    const other = tempDir("tb-cli-other-");
    // A mistyped workspace is not an empty one: reading commands refuse it and make nothing.
    for (const args of [["datanet", "list"], ["sql", "select 1"], ["curate", "queue", "notes"], ["model", "list"], ["status", "mail"], ["dev", "--no-watch"], ["build-notebooks"]]) {
      const read = tracebook(["--workspace", path.join(other, "typo"), ...args], home);
      expect([read.code, read.err.trim()], args.join(" ")).toEqual([2, `tracebook: no workspace at ${path.join(other, "typo")} (check --workspace or TRACEBOOK_HOME; \`tracebook datanet import\`, \`tracebook demo\` or \`tracebook model import\` makes one)`]);
    }
    expect(fs.existsSync(path.join(other, "typo"))).toBe(false);
    const csv = path.join(other, "rows.csv");
    fs.writeFileSync(csv, "text,label,contributor\nhello there,a,ann\ngood bye,b,bob\n");
    expect(tracebook(["--workspace", other, "datanet", "import", "mine", csv, "--create", "--text", "text", "--label", "label", "--contributor", "contributor"], home).code).toBe(0);
    expect(fs.existsSync(path.join(other, "workspace.duckdb"))).toBe(true);
    expect(tracebook(["--workspace", other, "datanet", "list"], home).out).toMatch(/mine/);
  });
});

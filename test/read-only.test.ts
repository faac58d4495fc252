// A workspace a reviewer may read but not change: opened with --read-only, or found in a folder
// its user cannot write. Every read answers as it would read-write, every write is refused with
// the workspace named, and not one byte of the folder changes, even when it was moved.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import crypto from "node:crypto";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openWorkspace, ReadOnlyWorkspaceError } from "../cells/store/workspace.ts";
import { payWorkspace } from "./helpers/pay.ts";
import { recordPipelineFile } from "../cells/graph/runs.ts";
import { tempDir } from "./helpers/workspace.ts";

const bin = path.resolve("bin/tracebook.js");

/** Every file under a folder with the sha256 of its bytes. */
function fingerprintOf(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const file = path.join(e.parentPath, e.name);
    out[path.relative(dir, file)] = crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
  }
  return out;
}

describe("a read-only workspace", () => {
  let original: string, copy: string, inference: string, contribution: string;
  beforeAll(async () => {
    const ws = await payWorkspace();
    original = ws.home;
    [{ id: inference }] = (await ws.rows<{ id: string }>("select id from inferences order by id limit 1")) as [{ id: string }];
    [{ id: contribution }] = (await ws.rows<{ id: string }>("select id from contributions order by id limit 1")) as [{ id: string }];
    await recordPipelineFile(ws, "pay", path.resolve("test/fixtures/pay.pipeline.ts")); // as `tracebook run` records it: `sql` finds pay's cells by it
    ws.close();
    // Handed to a reviewer: a copy in another folder, the original moved away.
    copy = path.join(tempDir("tb-ro-"), "workspace");
    fs.cpSync(original, copy, { recursive: true });
    fs.renameSync(original, `${original}-gone`);
  }, 180_000);
  afterAll(() => {
    if (copy) fs.chmodSync(path.dirname(copy), 0o700);
  });

  const tb = (args: string[], options: { uid?: number; env?: Record<string, string> } = {}) =>
    spawnSync(process.execPath, [bin, "--workspace", copy, ...args], { encoding: "utf8", cwd: path.dirname(copy), uid: options.uid, env: { ...process.env, TRACEBOOK_HOME: "", ...options.env } });

  it("answers every read, refuses every write naming the workspace, and changes nothing", async () => {
    const before = fingerprintOf(copy);
    const ro = (...args: string[]) => tb(["--read-only", ...args]);
    for (const args of [
      ["sql", "select count(*) as n from runs", "--json"],
      ["show", path.resolve("test/fixtures/pay.pipeline.ts"), "receipts", "--limit", "2", "--json"],
      ["receipt", inference, "--recompute"],
      ["gc", "--dry-run", "--json"],
    ]) {
      const r = ro(...args);
      expect(r.status, `${args.join(" ")}: ${r.stderr}`).toBe(0);
    }
    // The outputs are this folder's, though the run log names the original's: pointed home in memory only.
    // A cell's output as a table: its tables are attached in memory, which a read-only workspace takes too.
    const cell = ro("sql", "select count(*)::integer as n from pay.receipts", "--json");
    expect(cell.status, cell.stderr).toBe(0);
    expect(JSON.parse(cell.stdout)[0].n).toBeGreaterThan(0);
    const paths = JSON.parse(ro("sql", "select artifact from runs where artifact is not null", "--json").stdout) as { artifact: string }[];
    expect(paths.length).toBeGreaterThan(0);
    for (const p of paths) expect(p.artifact.startsWith(path.join(copy, "artifacts") + path.sep)).toBe(true);

    for (const args of [
      ["datanet", "reject", contribution, "--reason", "a reviewer's mistake"],
      ["infer", path.resolve("test/fixtures/pay.pipeline.ts"), "--model", "model", "hello"],
      ["gc"],
      // A question no run has answered: the cell would run, and is refused before it starts.
      ["what-if", path.resolve("test/fixtures/pay.pipeline.ts"), "--contributor", "c0"],
    ]) {
      const r = ro(...args);
      expect(r.status, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`workspace ${copy.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/workspace\\.duckdb is open read-only \\(opened with --read-only\\)`));
    }
    expect(fingerprintOf(copy)).toEqual(before);
  }, 180_000);

  it("opens read-only in code too, several at once, and will not migrate one behind this tracebook", async () => {
    const [a, b] = [await openWorkspace({ home: copy, readOnly: true }), await openWorkspace({ home: copy, readOnly: true })];
    try {
      expect(a.readOnly).toBe("opened with --read-only");
      expect(await a.rows("select count(*)::integer as n from runs")).toEqual(await b.rows("select count(*)::integer as n from runs"));
      await expect(a.run("delete from validations")).rejects.toThrow(ReadOnlyWorkspaceError);
      // Staging and temp tables still work: they live outside the database file and the folder.
      expect(a.scratchDir().startsWith(copy)).toBe(false);
    } finally {
      a.close();
      b.close();
    }
    // A workspace one schema version behind: read-write it would be migrated; read-only it cannot be.
    const behind = path.join(tempDir("tb-ro-behind-"), "ws");
    fs.cpSync(copy, behind, { recursive: true });
    const rw = await openWorkspace({ home: behind });
    await rw.run("delete from schema_migrations where version = (select max(version) from schema_migrations)");
    rw.close();
    await expect(openWorkspace({ home: behind, readOnly: true })).rejects.toThrow(/is at schema version \d+ and this tracebook reads \d+; it is open read-only .* open it once where it can be written/);
  }, 60_000);

  // Root writes anywhere: a folder it cannot write is a user's, so the check runs as nobody.
  it.runIf(process.getuid?.() === 0)("opens read-only by itself where the user cannot write the folder", () => {
    const before = fingerprintOf(copy);
    // Nobody may pass through this test run's temp folder to the copy, and keeps its own temp files in /tmp.
    fs.chmodSync(os.tmpdir(), 0o711);
    for (const dir of [path.dirname(copy), copy]) fs.chmodSync(dir, 0o755);
    const asNobody = { uid: 65534, env: { TMPDIR: "/tmp" } };
    const read = tb(["sql", "select count(*) as n from validations", "--json"], asNobody);
    expect(read.status, read.stderr).toBe(0);
    const write = tb(["gc"], asNobody);
    expect(write.status).toBe(2);
    expect(write.stderr).toMatch(/is open read-only \(.*workspace\.duckdb cannot be written by this user\): gc would remove its files/);
    expect(fingerprintOf(copy)).toEqual(before);
  }, 60_000);
});

// A command typed while another process holds the workspace (a pipeline run in another terminal,
// the notebook server's watcher recomputing) waits its turn, saying so once, instead of failing.
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { openWorkspace } from "../cells/store/workspace.ts";
import { smallDatanet } from "./helpers/datanets.ts";
import { holdWorkspace, tempDir } from "./helpers/workspace.ts";

const bin = path.resolve("bin/tracebook.js");
const WAITING = /^tracebook: the workspace is busy \(another process holds it: a pipeline run, the notebook server's watcher\); waiting up to (\d+) s for it$/m;

describe("a command while another process holds the workspace", () => {
  let home: string;
  beforeAll(async () => {
    home = tempDir("tb-wait-");
    const ws = await openWorkspace({ home });
    await smallDatanet(ws, "notes", 6);
    ws.close();
  }, 60_000);
  const tb = (...args: string[]) => spawnSync(process.execPath, [bin, "--workspace", home, ...args], { encoding: "utf8" });

  it("waits, then runs once the other process lets go", async () => {
    const release = await holdWorkspace(home);
    const child = spawn(process.execPath, [bin, "--workspace", home, "--wait", "60", "sql", "select count(*)::integer as n from contributions", "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    // Released once the command says it waits: it must then get through.
    await new Promise<void>((resolve) => child.stderr.on("data", (d) => {
      stderr += d;
      if (WAITING.test(stderr)) resolve();
    }));
    await release();
    expect(await exited, stderr).toBe(0);
    expect(stderr.match(new RegExp(WAITING.source, "gm"))).toHaveLength(1);
    expect(JSON.parse(stdout)).toEqual([{ n: 6 }]);
  }, 60_000);

  it("gives up after --wait seconds saying how long it waited, fails at once with --wait 0, and refuses a wait that is no number", async () => {
    const release = await holdWorkspace(home);
    try {
      const waited = tb("--wait", "1", "sql", "select 1");
      expect(waited.status).toBe(1);
      expect(waited.stderr).toMatch(WAITING);
      expect(waited.stderr).toMatch(/workspace .*workspace\.duckdb is open in another process \(DuckDB allows one writer\): .* \(waited 1 s; --wait <seconds> waits longer\)$/m);
      const atOnce = tb("--wait", "0", "datanet", "list");
      expect(atOnce.status).toBe(1);
      expect(atOnce.stderr).not.toMatch(WAITING);
      expect(atOnce.stderr).toMatch(/is open in another process/);
    } finally {
      await release();
    }
    const bad = tb("--wait", "soon", "datanet", "list");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^tracebook: --wait soon: give a number of seconds ≥ 0$/m);
  }, 60_000);
});

import fs from "node:fs";
import path from "node:path";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { openWorkspace, type Workspace } from "../cells/store/workspace.ts";
import { decide } from "../cells/datanet/decisions.ts";
import { loadPipeline } from "../cells/graph/loader.ts";
import { pipelineStatus } from "../cells/graph/status.ts";
import { runPipeline } from "../cells/graph/scheduler.ts";
import { runLog } from "../cells/graph/history.ts";
import { openWorkspaceRetrying, tempDir } from "./helpers/workspace.ts";
import { smallDatanet } from "./helpers/datanets.ts";

const BIN = path.resolve("bin/tracebook.js");
const resolvable = (pkg: string) => { try { return Boolean(createRequire(import.meta.url).resolve(pkg)); } catch { return false; } };
const CELLS = path.resolve("cells/index.ts");

/** A pipeline file in a temp folder, importing the engine by absolute path. */
function writePipeline(dir: string, body: string): string {
  const file = path.join(dir, "t.pipeline.ts");
  fs.writeFileSync(path.join(dir, "package.json"), '{"type":"module"}\n');
  fs.writeFileSync(file, `import { datanet, pipeline, sql } from ${JSON.stringify(CELLS)};\nexport default pipeline("t", {\n${body}\n});\n`);
  return file;
}

async function seededHome(): Promise<string> {
  const home = tempDir("tb-proc-");
  const ws = await openWorkspace({ home });
  await smallDatanet(ws, "notes-a");
  ws.close();
  return home;
}

/** JSON lines from a child's stdout, with a way to wait for one that matches. */
function events(child: ChildProcess) {
  const seen: Record<string, unknown>[] = [];
  let buffer = "";
  child.stdout!.on("data", (d: Buffer) => {
    buffer += d.toString();
    const lines = buffer.split("\n");
    buffer = lines.pop()!;
    for (const line of lines) if (line.trim().startsWith("{")) seen.push(JSON.parse(line));
  });
  return {
    seen,
    waitFor(pred: (e: Record<string, unknown>) => boolean, ms = 30_000): Promise<Record<string, unknown>> {
      return new Promise((resolve, reject) => {
        const t0 = Date.now();
        const tick = () => {
          const hit = seen.find(pred);
          if (hit) return resolve(hit);
          if (Date.now() - t0 > ms) return reject(new Error(`timed out; events so far: ${JSON.stringify(seen.map((e) => [e.event, e.cell, e.trigger]))}`));
          setTimeout(tick, 50);
        };
        tick();
      });
    },
  };
}

const TRAIN_BODY = `
  a: datanet("notes-a"),
  train: sql\`select * from \${"a"} where split = 'train'\`,`;

/** `tracebook run <pipeline> --watch` over the a → train pipeline, once its first cycle is done. */
async function watchTrain(home: string, dir: string) {
  const file = writePipeline(dir, TRAIN_BODY);
  const child = spawn(process.execPath, [BIN, "run", file, "--watch"], { env: { ...process.env, TRACEBOOK_HOME: home } });
  const ev = events(child);
  const stop = async () => {
    child.kill("SIGINT");
    await new Promise((r) => child.once("exit", r));
  };
  try {
    await ev.waitFor((e) => e.event === "watch-cycle" && e.trigger === "start");
  } catch (err) {
    await stop();
    throw err;
  }
  return { ev, stop };
}

/** A curator's decision in this process: the first training row of notes-a rejected. */
async function rejectFirstTrainRow(home: string, reason: string): Promise<void> {
  const ws = await openWorkspaceRetrying(home);
  const [{ id }] = (await ws.rows<{ id: string }>("select id from contributions where split = 'train' order by id limit 1")) as [{ id: string }];
  await decide(ws, { ids: [id], verdict: "rejected", validator: "t", reason });
  ws.close();
}

describe("cell graph across processes", () => {
  it("resumes after a process killed in the middle of a cell, with no half artifact left", async () => {
    const home = await seededHome();
    const dir = tempDir();
    const file = writePipeline(dir, `
  a: datanet("notes-a"),
  slow: sql\`select (select count(*) from \${"a"}) as n, sum(x) as s from range(3000000000) t(x)\`,`);
    const child = spawn(process.execPath, [BIN, "run", file, "--json"], { env: { ...process.env, TRACEBOOK_HOME: home } });
    const ev = events(child);
    await ev.waitFor((e) => e.event === "cell-started" && e.cell === "slow");
    await new Promise((r) => setTimeout(r, 400));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));

    const ws = await openWorkspace({ home });
    try {
      const { pipeline } = await loadPipeline(file);
      const before = await pipelineStatus(ws, pipeline);
      expect(before.map((s) => s.state)).toEqual(["fresh", "stale"]);
      const summary = await runPipeline(ws, pipeline);
      expect(summary).toMatchObject({ ran: ["slow"], fresh: ["a"], failed: [] });
      const runs = await ws.rows("select cell, status from runs order by started_at");
      expect(runs).toEqual([
        { cell: "a", status: "succeeded" }, { cell: "slow", status: "interrupted" }, { cell: "slow", status: "succeeded" },
      ]);
      const files = fs.readdirSync(path.join(home, "artifacts"), { recursive: true }).map(String).filter((f) => f.endsWith(".parquet") || f.endsWith(".tmp"));
      expect(files.filter((f) => f.endsWith(".tmp"))).toEqual([]);
      for (const f of files) {
        const [row] = await ws.rows<{ n: bigint }>("select count(*) as n from read_parquet(?)", [path.join(home, "artifacts", f)]);
        expect(Number(row!.n)).toBeGreaterThan(0);
      }
    } finally {
      ws.close();
    }
  });

  it("finds a pipeline by name where it was last run from, for status and show", async () => {
    const home = await seededHome();
    const dir = tempDir();
    const file = writePipeline(dir, `
  a: datanet("notes-a"),
  n: sql\`select count(*) as n from \${"a"}\`,`);
    const env = { ...process.env, TRACEBOOK_HOME: home };
    const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { env, encoding: "utf8", cwd: tempDir() });
    // never run: nothing recorded; an unknown name is the caller's mistake (exit 2)
    expect(cli("status", "t")).toMatchObject({ status: 2, stderr: expect.stringMatching(/no pipeline "t"/) });
    expect(cli("run", file).status).toBe(0);
    const status = cli("status", "t");
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/│ n +│ sql +│ fresh/);
    expect(cli("show", "t", "n", "--json").stdout).toMatch(/"n": 30/);
    // No row to print: still the table's columns, not "(no columns)".
    expect(cli("show", "t", "n", "--limit", "0").stdout).toMatch(/│ n │\n└───┘\n\(0 rows\)\n$/);
    expect(cli("show", "t", "m")).toMatchObject({ status: 2, stderr: expect.stringMatching(/pipeline "t" has no cell "m" \(cells: a, n\)/) });
    expect(cli("show", "t", "n", "--columns", "x")).toMatchObject({ status: 2, stderr: expect.stringMatching(/t\.n has no column "x" \(columns: n\)/) });
    expect(cli("run", file, "--cell", "m")).toMatchObject({ status: 2, stderr: expect.stringMatching(/pipeline "t" has no cell "m"/) });
    fs.rmSync(file);
    expect(cli("status", "t").stderr).toMatch(/no pipeline "t"/); // the recorded file is gone
  });

  // The forced backend's package is an optional dependency whose installer downloads libtensorflow:
  // absent on these machines, so forcing it is forcing a backend that cannot start.
  it.skipIf(resolvable("@tensorflow/tfjs-node-gpu"))("fails only the cells that compute when the forced backend cannot start", async () => {
    const home = await seededHome();
    const dir = tempDir();
    const file = path.join(dir, "t.pipeline.ts");
    fs.writeFileSync(path.join(dir, "package.json"), '{"type":"module"}\n');
    fs.writeFileSync(file, `import { baseModel, datanet, hashedNgrams, pipeline, sql } from ${JSON.stringify(CELLS)};
export default pipeline("t", {
  a: datanet("notes-a"),
  base: baseModel({ data: "a", featurizer: hashedNgrams({ dims: 16 }), hidden: [4], schedule: { kind: "constant", lr: 0.01 }, epochs: 1, seed: 1 }),
  n: sql\`select count(*) as n from \${"a"}\`,
});
`);
    const env = { ...process.env, TRACEBOOK_HOME: home, TRACEBOOK_BACKEND: "tensorflow-gpu" };
    const run = spawnSync(process.execPath, [BIN, "run", file, "--json"], { env, encoding: "utf8" });
    expect(run.status, run.stderr).toBe(1);
    const finished = run.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { event: string; cell: string; error?: string });
    expect(finished.filter((e) => e.event === "cell-finished").map((e) => e.cell).sort()).toEqual(["a", "n"]);
    expect(finished.find((e) => e.event === "cell-failed")).toMatchObject({ cell: "base", error: expect.stringMatching(/TRACEBOOK_BACKEND=tensorflow-gpu cannot be used: @tensorflow\/tfjs-node-gpu is not installed/) });
  });

  it("cancels cleanly on Ctrl-C", async () => {
    const home = await seededHome();
    const file = writePipeline(tempDir(), `
  a: datanet("notes-a"),
  slow: sql\`select sum(x) as s from range(3000000000) t(x), \${"a"} limit 1\`,`);
    const child = spawn(process.execPath, [BIN, "run", file], { env: { ...process.env, TRACEBOOK_HOME: home } });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    while (!out.includes("▶ slow")) await new Promise((r) => setTimeout(r, 50));
    child.kill("SIGINT");
    const code = await new Promise((r) => child.once("exit", r));
    expect(code).toBe(130);
    expect(out).toMatch(/■ slow\s+sql\s+cancelled/);
    const status = spawnSync(process.execPath, [BIN, "status", file], { env: { ...process.env, TRACEBOOK_HOME: home }, encoding: "utf8" });
    expect(status.stdout).toMatch(/slow.*stale.*never finished \(last run cancelled\)/);
  });

  it("watches the workspace and the pipeline file, one JSON line per event", async () => {
    const home = await seededHome();
    const dir = tempDir();
    const { ev, stop } = await watchTrain(home, dir);
    try {
      expect(ev.seen.filter((e) => e.event === "output-changed").map((e) => e.cell)).toEqual(["a", "train"]);

      // A curator's decision in another process: the watcher recomputes the snapshot and its readers.
      await rejectFirstTrainRow(home, "watch test");
      const cycle = await ev.waitFor((e) => e.event === "watch-cycle" && e.trigger === "workspace" && (e.summary as { ran: string[] }).ran.length > 0);
      expect((cycle.summary as { ran: string[] }).ran).toEqual(["a", "train"]);
      expect(ev.seen.some((e) => e.event === "cell-started" && e.cell === "a" && /snapshot changed/.test(String(e.reason)))).toBe(true);

      // An edit of the pipeline file: the new cell runs, the others stay fresh.
      writePipeline(dir, `${TRAIN_BODY}
  labels: sql\`select label, count(*) as n from \${"train"} group by label\`,`);
      const edit = await ev.waitFor((e) => e.event === "watch-cycle" && e.trigger === "pipeline-file");
      expect(edit.summary).toMatchObject({ ran: ["labels"], fresh: ["a", "train"] });
    } finally {
      await stop();
    }
    // The run log says which cycle ran what, and why.
    const ws = await openWorkspaceRetrying(home);
    try {
      const log = (await runLog(ws, "t")).map((r) => [r.started_by, r.cells.map((c) => `${c.cell}: ${c.output}, ${c.why}`)]);
      expect(log).toEqual([
        ["tracebook run --watch, watching: the pipeline file changed", ["labels: new, first run"]],
        ["tracebook run --watch, watching: the workspace changed", [expect.stringMatching(/^a: changed, Datanet notes-a snapshot changed \(/), "train: changed, input a changed"]],
        ["tracebook run --watch, watching: the first look", ["a: new, first run", "train: new, first run"]],
      ]);
    } finally {
      ws.close();
    }
  });

  it("starts watching while another process holds the workspace, and runs once it is free", async () => {
    const home = await seededHome();
    const holder = await openWorkspace({ home });
    let held = true;
    const child = spawn(process.execPath, [BIN, "run", writePipeline(tempDir(), TRAIN_BODY), "--watch"], { env: { ...process.env, TRACEBOOK_HOME: home } });
    const ev = events(child);
    try {
      const refused = await ev.waitFor((e) => e.event === "watch-error" && e.trigger === "start");
      expect(refused.error).toMatch(/the workspace is busy: trying again/);
      holder.close();
      held = false;
      const cycle = await ev.waitFor((e) => e.event === "watch-cycle");
      expect((cycle.summary as { ran: string[] }).ran.length).toBeGreaterThan(0);
    } finally {
      if (held) holder.close();
      child.kill("SIGINT");
      await new Promise((r) => child.once("exit", r));
    }
  });

  it("keeps watching through a workspace another process holds, and recomputes what changed meanwhile", async () => {
    const home = await seededHome();
    const { ev, stop } = await watchTrain(home, tempDir());
    try {
      // A decision, then at once a reader that holds the workspace (as a notebook server reading
      // the run log does) while the watcher wants it; the reader writes nothing.
      await rejectFirstTrainRow(home, "busy test");
      const reader = await openWorkspace({ home });
      const refused = await ev.waitFor((e) => e.event === "watch-error");
      reader.close();
      const cycle = await ev.waitFor((e) => e.event === "watch-cycle" && e.trigger === "workspace" && (e.summary as { ran: string[] }).ran.length > 0);
      expect((cycle.summary as { ran: string[] }).ran).toEqual(["a", "train"]);
      expect(refused.error).toMatch(/the workspace is busy: trying again/);
    } finally {
      await stop();
    }
  });
});

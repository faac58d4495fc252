import fs from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { listValue } from "@duckdb/node-api";
import { main } from "../bin/cli.ts";
import { newestRuns, runLog } from "../cells/graph/history.ts";
import { loadPipeline } from "../cells/graph/loader.ts";
import { whatMoved } from "../cells/graph/plan.ts";
import { readRuns } from "../cells/notebooks/runs.ts";
import { readStatus } from "../cells/notebooks/status.ts";
import { statesInWords } from "../cells/graph/status.ts";
import { oneCellRuns } from "../cells/notebooks/one-cell-runs.ts";
import { openWorkspace, type Workspace } from "../cells/store/workspace.ts";
import { pipelineFile, tempDir } from "./helpers/workspace.ts";
import { smallDatanet } from "./helpers/datanets.ts";

const CELLS = path.resolve("cells/index.ts");

/** The `t` pipeline: a Datanet, its training rows, a count per label (`labels` is its query). */
const source = (labels: string, extra = "") => `import { datanet, pipeline, sql } from ${JSON.stringify(CELLS)};
export default pipeline("t", {
  a: datanet("notes-a"),
  train: sql\`select * from \${"a"} where split = 'train'\`,
  labels: sql\`${labels}\`,${extra}
});
`;
const LABELS = 'select label, count(*) as n from ${"train"} group by label';
const EDITED = 'select label, count(*) as rows from ${"train"} group by label';

/** The real CLI in this process (as the launcher runs it); what it printed, and its exit code. */
async function tracebook(home: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [], err: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void out.push(a.join(" ")));
  const write = vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => (err.push(String(s)), true));
  const before = process.exitCode;
  try {
    const code = await main(["node", "tracebook", "--workspace", home, ...args]);
    return { code, out: out.join("\n"), err: err.join("") };
  } finally {
    log.mockRestore();
    write.mockRestore();
    process.exitCode = before;
  }
}

describe("tracebook log", () => {
  let home: string;
  beforeAll(async () => {
    home = tempDir("tb-log-");
    const ws = await openWorkspace({ home });
    await smallDatanet(ws, "notes-a");
    ws.close();
    const file = pipelineFile("t", source(LABELS));
    expect((await tracebook(home, "run", file)).code).toBe(0);
    expect((await tracebook(home, "run", file, "--cell", "labels", "--force")).code).toBe(0);
    // An edited pipeline, as a file of its own: this process keeps the module it imported first.
    expect((await tracebook(home, "run", pipelineFile("t", source(EDITED)))).code).toBe(0);
    // A cell that fails: its error is in the log, beside why it ran.
    expect((await tracebook(home, "run", pipelineFile("t", source(EDITED, `\n  broken: sql\`select nope from \${"labels"}\`,`)))).code).toBe(1);
  }, 120_000);

  it("tells each pipeline run, newest first: what started it, each cell's outcome against its output before, and why it ran", async () => {
    const { code, out } = await tracebook(home, "log", "t");
    expect(code).toBe(0);
    const blocks = out.split("\n\n");
    expect(blocks[0]).toBe("t: 4 pipeline runs, 6 cell runs");
    expect(blocks.slice(1).map((b) => b.split("\n")[0]!.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/, "…").replace(/ · [\d.]+ s$/, ""))).toEqual([
      "… · tracebook run · 1 failed",
      "… · tracebook run · 1 cell ran, 1 output changed",
      "… · tracebook run --cell labels --force · 1 cell ran, no output changed",
      "… · tracebook run · 3 cells ran, 3 new outputs",
    ]);
    const row = (block: number, cell: string) => blocks[block]!.split("\n").find((l) => l.startsWith(`│ ${cell} `))!.split("│").map((s) => s.trim()).filter(Boolean);
    expect(row(1, "broken")).toEqual(["broken", "failed", expect.stringMatching(/ s$/), expect.stringMatching(/^sql cell "broken": .*nope/), "first run"]);
    expect(row(2, "labels")).toEqual(["labels", "ran", expect.stringMatching(/ s$/), "2", expect.stringMatching(/^changed [0-9a-f]{12}$/), "params changed (the query)"]);
    expect(row(3, "labels")).toEqual(["labels", "ran", expect.stringMatching(/ s$/), "2", "unchanged", "forced"]);
    expect(row(4, "a")).toEqual(["a", "ran", expect.stringMatching(/ s$/), "30", expect.stringMatching(/^new [0-9a-f]{12}$/), "first run"]);
    expect(out).not.toMatch(/\*/); // every reason here was recorded as it ran

    const limited = await tracebook(home, "log", "t", "--limit", "1");
    expect(limited.out.split("\n")[0]).toBe("t: 4 pipeline runs, 6 cell runs; the newest 1 (--limit 0 prints all)");
    expect(limited.out.split("\n\n")).toHaveLength(2);
  });

  it("gives one cell's runs with --cell, as JSON too, each output's data version against the one before", async () => {
    const { code, out } = await tracebook(home, "log", "t", "--cell", "labels", "--json");
    expect(code).toBe(0);
    const { runs } = JSON.parse(out) as { runs: { why: string; output: string; data_version: string; started_by: string; why_recorded: boolean }[] };
    expect(runs.map((r) => [r.why, r.output, r.started_by, r.why_recorded])).toEqual([
      ["params changed (the query)", "changed", "tracebook run", true],
      ["forced", "unchanged", "tracebook run --cell labels --force", true],
      ["first run", "new", "tracebook run", true],
    ]);
    expect(runs[1]!.data_version).toBe(runs[2]!.data_version);
    expect(runs[0]!.data_version).not.toBe(runs[1]!.data_version);
    const text = await tracebook(home, "log", "t", "--cell", "labels");
    expect(text.out.split("\n")[0]).toBe("t.labels: 3 runs");
    expect(text.out).toMatch(/│ tracebook run --cell labels --force │/);
  });

  it("without a pipeline, logs every pipeline of the workspace, each run naming its own", async () => {
    const { code, out } = await tracebook(home, "log", "--limit", "2");
    expect(code).toBe(0);
    expect(out.split("\n")[0]).toBe("this workspace (t): 4 pipeline runs, 6 cell runs; the newest 2 (--limit 0 prints all)");
    expect(out.split("\n").filter((l) => l.includes(" UTC · ")).map((l) => l.split(" · ").slice(1, 3))).toEqual([["t", "tracebook run"], ["t", "tracebook run"]]);
    const empty = tempDir("tb-log-empty-");
    (await openWorkspace({ home: empty })).close();
    expect(await tracebook(empty, "log")).toMatchObject({ code: 0, out: "this workspace: no pipeline has run yet" });
    expect(await tracebook(home, "log", "--cell", "labels")).toMatchObject({ code: 2, err: "tracebook: --cell goes with a pipeline: tracebook log <pipeline> --cell <name>\n" });
  });

  it("answers the Pipeline runs page as the CLI logs it; a static build's page picks one cell's runs out of the whole log as the server does", async () => {
    const ws = await openWorkspace({ home, readOnly: true });
    try {
      const all = await readRuns(ws, { pipeline: "t" });
      expect(all).toMatchObject({ pipeline: "t", cell: null, total: 4, cells: ["a", "broken", "labels", "train"] });
      const cli = JSON.parse((await tracebook(home, "log", "t", "--json", "--limit", "0")).out) as { pipeline_runs: { id: string; started_at: string; cells: { cell: string; why: string; output: string | null }[] }[] };
      expect(all.runs.map((r) => [r.id, r.started_at, r.cells.map((c) => [c.cell, c.why, c.output])]))
        .toEqual(cli.pipeline_runs.map((r) => [r.id, r.started_at, r.cells.map((c) => [c.cell, c.why, c.output])]));
      // The outcome in the words `tracebook log` heads each run with; the times as JSON carries them.
      expect(all.runs.map((r) => r.outcome)).toEqual(["1 failed", "1 cell ran, 1 output changed", "1 cell ran, no output changed", "3 cells ran, 3 new outputs"]);
      expect(all.runs[3]!.seconds).toBe((Date.parse(all.runs[3]!.finished_at!) - Date.parse(all.runs[3]!.started_at)) / 1000);
      expect(all.runs[0]!.cells[0]).toMatchObject({ cell: "broken", status: "failed", output: null, error: expect.stringMatching(/nope/) });
      expect((await readRuns(ws, { pipeline: "t", limit: 2 })).runs.map((r) => r.id)).toEqual(all.runs.slice(0, 2).map((r) => r.id));
      for (const cell of all.cells) {
        const served = await readRuns(ws, { pipeline: "t", cell });
        expect(oneCellRuns(all, cell)).toEqual(served);
        expect(oneCellRuns(all, cell, 1)).toEqual({ ...served, runs: served.runs.slice(0, 1) });
      }
      expect((await readRuns(ws, { pipeline: "t", cell: "labels" })).runs.map((r) => [r.outcome, r.cells[0]!.why])).toEqual([
        ["1 cell ran, 1 output changed", "params changed (the query)"], ["1 cell ran, no output changed", "forced"], ["1 cell ran, 1 new output", "first run"]]);
      expect(oneCellRuns(all, "label")).toBeNull();
      await expect(readRuns(ws, { pipeline: "t", cell: "label" })).rejects.toMatchObject({ status: 400, field: "cell", message: expect.stringMatching(/^cell: pipeline "t" has never run a cell "label" \(did you mean "labels"\?/) });
      // A pipeline a page names that never ran here: an empty log, for the page to say what to run.
      expect(await readRuns(ws, { pipeline: "mail" })).toEqual({ pipeline: "mail", cell: null, total: 0, cells: [], runs: [] });
    } finally {
      ws.close();
    }
  });

  it("reads the newest pipeline runs alone as the whole log tells them, each output against the one before it outside the page too", async () => {
    const ws = await openWorkspace({ home, readOnly: true });
    try {
      await samePages(ws, "t", ["a", "broken", "labels", "train"]);
      await samePages(ws, undefined, []);
      await expect(newestRuns(ws, "t", { cell: "label", limit: 1 })).rejects.toThrow(/^pipeline "t" has never run a cell "label" \(did you mean "labels"\?/);
      await expect(newestRuns(ws, "tt", { limit: 1 })).rejects.toThrow(/^no pipeline "tt" has run in this workspace/);
    } finally {
      ws.close();
    }
  });

  it("tells the Pipeline runs page every cell's state as tracebook status does, from the file named, read again each time", async () => {
    const broken = pipelineFile("t", source(EDITED, `\n  broken: sql\`select nope from \${"labels"}\`,`));
    const cli = JSON.parse((await tracebook(home, "status", broken, "--json")).out) as { cell: string; kind: string; state: string; reason: string | null; rows: number | null; dataVersion: string | null; finishedAt: string | null }[];
    const ws = await openWorkspace({ home, readOnly: true });
    try {
      const now = await readStatus(ws, "t", { spec: broken, watched: true });
      expect(now).toMatchObject({ pipeline: "t", file: broken, unread: null, watched: true });
      expect(now.cells.map((c) => [c.cell, c.kind, c.state, c.reason, c.rows, c.data_version, c.finished_at]))
        .toEqual(cli.map((c) => [c.cell, c.kind, c.state, c.reason, c.rows, c.dataVersion, c.finishedAt]));
      expect(now.cells.map((c) => [c.cell, c.state])).toEqual([["a", "fresh"], ["train", "fresh"], ["labels", "fresh"], ["broken", "failed"]]);
      expect(now.cells.at(-1)!.reason).toMatch(/nope/);
      expect(statesInWords(now)).toBe("3 fresh, 1 failed");
      // Imported again only once edited: one module per edit, not one per ask.
      const load = async () => (await loadPipeline(broken, { fresh: true })).pipeline;
      expect(await load()).toBe(await load());
      const before = await load();
      // The file edited back to the first query: labels is stale, and why; read again, not the module imported before.
      fs.writeFileSync(broken, source(LABELS));
      expect(await load()).not.toBe(before);
      const edited = await readStatus(ws, "t", { spec: broken, watched: false });
      expect(edited.cells.map((c) => [c.cell, c.state, c.reason])).toEqual([["a", "fresh", null], ["train", "fresh", null], ["labels", "stale", "params changed (the query)"]]);
      // A file that does not load, or defines another pipeline: said, with no states.
      fs.writeFileSync(broken, "export default {");
      expect(await readStatus(ws, "t", { spec: broken, watched: false })).toMatchObject({ file: null, unread: expect.stringContaining(broken), cells: [] });
      fs.writeFileSync(broken, source(LABELS).replace('pipeline("t"', 'pipeline("u"'));
      const other = await readStatus(ws, "t", { spec: broken, watched: false });
      expect([other.unread, statesInWords(other)]).toEqual([`${broken} defines pipeline "u", not "t"`, `cell states unknown (${broken} defines pipeline "u", not "t")`]);
    } finally {
      ws.close();
    }
  });

  it("says which script ran a pipeline through the API, where no command said what it was", async () => {
    const own = tempDir("tb-log-script-");
    const ws = await openWorkspace({ home: own });
    await smallDatanet(ws, "notes-a");
    ws.close();
    const dir = path.dirname(pipelineFile("t", source(LABELS)));
    const script = path.join(dir, "nightly.mts");
    fs.writeFileSync(script, `import { loadPipeline, openWorkspace, runPipeline } from ${JSON.stringify(CELLS)};
const ws = await openWorkspace({ home: ${JSON.stringify(own)} });
try {
  const { pipeline } = await loadPipeline(${JSON.stringify(path.join(dir, "t.pipeline.ts"))});
  const run = await runPipeline(ws, pipeline);
  if (run.failed.length) throw new Error("failed: " + run.failed.join(", "));
} finally {
  ws.close();
}
`);
    const r = spawnSync(process.execPath, ["--import", pathToFileURL(path.resolve("node_modules/tsx/dist/loader.mjs")).href, "nightly.mts"], { cwd: dir, encoding: "utf8", timeout: 120_000 });
    expect([r.status, r.stderr]).toEqual([0, ""]);
    const { out } = await tracebook(own, "log", "t");
    expect(out.split("\n\n")[1]!.split("\n")[0]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC · script nightly\.mts · 3 cells ran, 3 new outputs · [\d.]+ s$/);
  });

  it("tracebook status with no pipeline: every pipeline run here in a few words, and its cells that are not fresh", async () => {
    const { code, out } = await tracebook(home, "status");
    expect(code).toBe(0);
    expect(out.split("\n")[0]).toMatch(/^t: 3 fresh, 1 failed \(\/\S+\/t\.pipeline\.ts\)$/);
    expect(out).toMatch(/│ broken │ sql +│ failed │ sql cell "broken": .*nope/);
    expect(out).not.toMatch(/│ labels /); // fresh cells are left to `status t`
    // As JSON, each pipeline's cells as `status <pipeline> --json` gives them.
    const every = JSON.parse((await tracebook(home, "status", "--json")).out) as { pipelines: { pipeline: string; file: string; unread: string | null; cells: unknown[] }[] };
    expect(every.pipelines.map((p) => [p.pipeline, p.unread])).toEqual([["t", null]]);
    expect(every.pipelines[0]!.cells).toEqual(JSON.parse((await tracebook(home, "status", every.pipelines[0]!.file, "--json")).out));
    // A pipeline whose file is gone is said, and the others are still told.
    const copy = tempDir("tb-status-gone-");
    fs.cpSync(home, copy, { recursive: true });
    const ws = await openWorkspace({ home: copy });
    await ws.run("insert into runs select * replace ('gone' as pipeline, id || '-gone' as id) from runs where pipeline = 't'");
    await ws.run("insert into pipeline_files select 'gone' as pipeline, '/nowhere/gone.pipeline.ts' as file, * exclude (pipeline, file) from pipeline_files where pipeline = 't'");
    ws.close();
    const gone = await tracebook(copy, "status");
    expect(gone.code).toBe(0);
    expect(gone.out.split("\n")[0]).toMatch(/^gone: cell states unknown \(no pipeline "gone" \(/);
    expect(gone.out).toMatch(/\nt: 3 fresh, 1 failed /);
    const empty = tempDir("tb-status-empty-");
    (await openWorkspace({ home: empty })).close();
    expect(await tracebook(empty, "status")).toMatchObject({ code: 0, out: "this workspace: no pipeline has run yet" });
  });

  it("names the nearest pipeline or cell for a mistyped one (exit 2)", async () => {
    const pipe = await tracebook(home, "log", "tt");
    expect([pipe.code, pipe.err]).toEqual([2, 'tracebook: no pipeline "tt" has run in this workspace (pipelines: t)\n']);
    const cell = await tracebook(home, "log", "t", "--cell", "label");
    expect([cell.code, cell.err]).toEqual([2, 'tracebook: pipeline "t" has never run a cell "label" (did you mean "labels"? cells: a, broken, labels, train)\n']);
  });

  describe("runs from before the reason was recorded", () => {
    let ws: Workspace;
    let copy: string;
    beforeAll(async () => {
      copy = tempDir("tb-log-old-");
      fs.cpSync(home, copy, { recursive: true });
      ws = await openWorkspace({ home: copy });
      // As schema 8 left them: no call id, no reason, no command. Each call was its own process
      // here, a minute after the one before (its number k in `calls`).
      await ws.run(`create table calls as select id, dense_rank() over (order by first) as k
                    from (select id, min(started_at) over (partition by pipeline_run) as first from runs)`);
      await ws.run(`update runs set pid = 1000 + calls.k, started_at = started_at + calls.k * interval 60 second,
                    finished_at = finished_at + calls.k * interval 60 second from calls where runs.id = calls.id`);
      await ws.run("update runs set pipeline_run = null, started_by = null, reason = null");
    });
    afterAll(() => ws.close());

    it("works out why each ran from the run before it, and groups them by process", async () => {
      const log = await runLog(ws, "t");
      expect(log.map((r) => [r.started_by, r.cells.map((c) => [c.cell, c.why, c.why_recorded])])).toEqual([
        [null, [["broken", "first run", false]]],
        [null, [["labels", "params changed (the query)", false]]],
        [null, [["labels", "forced, or its output was missing", false]]],
        [null, [["a", "first run", false], ["train", "first run", false], ["labels", "first run", false]]],
      ]);
      // The command marks each reason it worked out, and says what the mark means.
      ws.close();
      try {
        const { out } = await tracebook(copy, "log", "t");
        expect(out).toMatch(/│ forced, or its output was missing \* +│/);
        expect(out).toMatch(/· started by: not recorded · /);
        expect(out.split("\n").at(-1)).toBe("* ran before this tracebook recorded why: worked out from the conditions of the cell's output before it");
      } finally {
        ws = await openWorkspace({ home: copy });
      }
    });

    it("splits one process's runs where it paused between them", async () => {
      await ws.run("update runs set pid = 7");
      expect((await runLog(ws, "t")).map((r) => r.cells.length)).toEqual([1, 1, 1, 3]);
      // The forced run a second after the first one ended: the same call, as far as can be told.
      await ws.run(`update runs set started_at = (select max(finished_at) from runs join calls using (id) where k = 1) + interval 1 second,
                    finished_at = (select max(finished_at) from runs join calls using (id) where k = 1) + interval 2 second
                    where id in (select id from calls where k = 2)`);
      expect((await runLog(ws, "t")).map((r) => r.cells.map((c) => c.cell))).toEqual([["broken"], ["labels"], ["a", "train", "labels", "labels"]]);
      // Another pipeline's run in the same process at the same moment is a call of its own.
      await ws.run("insert into runs select * replace (id || '-u' as id, 'u' as pipeline) from runs where id in (select id from calls where k = 4)");
      expect((await runLog(ws)).map((r) => [r.pipeline, r.cells.length])).toEqual([["u", 1], ["t", 1], ["t", 1], ["t", 4]]);
      // Its cell of the same name has an output history of its own: its first output is new.
      await ws.run(`insert into runs select * replace (id || '-u' as id, 'u' as pipeline, started_at + interval 1 hour as started_at, finished_at + interval 1 hour as finished_at)
                    from runs where cell = 'a' and pipeline = 't'`);
      expect((await runLog(ws)).filter((r) => r.pipeline === "u").flatMap((r) => r.cells.map((c) => [c.cell, c.output]))).toEqual([["a", "new"], ["broken", null]]);
    });

    it("reads a page of the log whole while it holds such runs, and alone once each has its call's id", async () => {
      const cells = ["a", "broken", "labels", "train"];
      await samePages(ws, "t", cells);
      await samePages(ws, "u", ["a", "broken"]);
      await samePages(ws, undefined, []);
      // Each call given an id, as the grouping found them: the page is then read alone, its reasons still worked out.
      const grouped = await runLog(ws);
      for (const [k, r] of grouped.entries()) await ws.run(`update runs set pipeline_run = 'call-${k}' where id in (select unnest(?::varchar[]))`, [listValue(r.cells.map((c) => c.id))]);
      expect((await newestRuns(ws, undefined, { limit: 1 })).runs.map((r) => r.id)).toEqual(["call-0"]);
      await samePages(ws, "t", cells);
      await samePages(ws, "u", ["a", "broken"]);
      await samePages(ws, undefined, []);
    });
  });
});

/** `newestRuns` for every limit (and every cell's), against the whole log cut to the same length; ids aside, where a call had none. */
async function samePages(ws: Workspace, pipeline: string | undefined, cells: string[]): Promise<void> {
  for (const cell of [undefined, ...cells]) {
    const all = await runLog(ws, pipeline, { cell });
    expect(all.length).toBeGreaterThan(0);
    for (let limit = 1; limit <= all.length + 1; limit++) {
      const page = await newestRuns(ws, pipeline, { cell, limit });
      expect([page.total, page.cellRuns]).toEqual([all.length, all.reduce((n, r) => n + r.cells.length, 0)]);
      expect(page.runs).toEqual(all.slice(0, limit));
    }
  }
}

describe("whatMoved", () => {
  const done = { kind: "finetune", kind_version: "3", params_json: JSON.stringify({ adapter: { alpha: 16, rank: 8 }, epochs: 4, seed: 7 }), inputs_json: '{"train":"v1"}', source_version: "s1" };
  it("names the params that moved, with short values, and the inputs and outside state", () => {
    const now = { ...done, params_json: JSON.stringify({ adapter: { alpha: 16, rank: 16 }, epochs: 5, lr: 0.01, seed: 7 }), inputs_json: '{"train":"v2","base":"b"}', source_version: "s2" };
    expect(whatMoved(done, now, "compute backend")).toEqual([
      "params changed (adapter.rank 8 → 16; epochs 4 → 5; lr unset → 0.01)",
      "input train changed", "input base added", "compute backend changed (s1 → s2)",
    ]);
    expect(whatMoved(done, { ...now, params_json: done.params_json, inputs_json: "{}", source_version: "s1" })).toEqual(["input train removed"]);
    expect(whatMoved(done, { ...done, kind_version: "4" })).toEqual(["code changed (finetune v3 → finetune v4)"]);
  });

  it("names a long value's param without it, and counts past four", () => {
    const long = { ...done, params_json: JSON.stringify({ adapter: { alpha: 16, rank: 8 }, epochs: 4, seed: 7, note: "x".repeat(40) }) };
    expect(whatMoved(done, long)).toEqual(["params changed (note)"]);
    const many = { ...done, params_json: JSON.stringify({ a: 1, b: 2, c: 3, d: 4, e: 5, adapter: { alpha: 16, rank: 8 }, epochs: 4, seed: 7 }) };
    expect(whatMoved(done, many)).toEqual(["params changed (a unset → 1; b unset → 2; c unset → 3; d unset → 4; 1 more)"]);
  });
});

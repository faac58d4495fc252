import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { datanet, param, pipeline, PipelineError, runPipeline, pipelineStatus, sql, type Cell, type GraphEvent } from "../cells/index.ts";
import { decide } from "../cells/datanet/decisions.ts";
import { merkleRoot, sha256 } from "../cells/graph/fingerprint.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { tempDir, tempWorkspace } from "./helpers/workspace.ts";
import { openWorkspace } from "../cells/store/workspace.ts";
import { smallDatanet } from "./helpers/datanets.ts";

const states = async (ws: Workspace, p: ReturnType<typeof pipeline>) =>
  Object.fromEntries((await pipelineStatus(ws, p)).map((s) => [s.cell, s.reason ? `${s.state}: ${s.reason}` : s.state]));

async function firstId(ws: Workspace, datanetName: string, split: "train" | "test"): Promise<string> {
  const [row] = await ws.rows<{ id: string }>("select id from contributions where datanet = ? and split = ? order by id limit 1", [datanetName, split]);
  return row!.id;
}

describe("pipeline()", () => {
  const a = datanet("a");
  it("rejects a duplicate name, an unknown input, a cycle and a non-cell, naming them", () => {
    expect(() => pipeline("p", { x: a }, { x: a })).toThrow(/cell "x" is declared twice/);
    expect(() => pipeline("p", [["x", a], ["x", a]])).toThrow(/cell "x" is declared twice/);
    expect(() => pipeline("p", { y: sql`select * from ${"nope"}` })).toThrow(/cell "y" reads "nope", which is not a cell of this pipeline \(cells: y\)/);
    expect(() => pipeline("p", { x: sql`select * from ${"z"}`, y: sql`select * from ${"x"}`, z: sql`select * from ${"y"}` }))
      .toThrow(/cycle "x" → "z" → "y" → "x"/);
    expect(() => pipeline("p", { x: {} as Cell })).toThrow(PipelineError);
  });

  it("orders cells inputs-first and knows the SQL cells' inputs from their templates", () => {
    const p = pipeline("p", { late: sql`select * from ${"early"} join ${"mid"} using (id)`, mid: sql`select * from ${"early"}`, early: a });
    expect(p.order).toEqual(["early", "mid", "late"]);
    expect(p.cells.get("late")!.inputs).toEqual(["early", "mid"]);
  });
});

describe("merkleRoot", () => {
  it("names a set: order-free, and any leaf change moves it", () => {
    const leaves = ["x", "y", "z"].map((s) => sha256(s));
    const h = (l: string, r: string) => sha256(Buffer.concat([Buffer.from(l, "hex"), Buffer.from(r, "hex")]));
    const sorted = [...leaves].sort();
    expect(merkleRoot(leaves)).toBe(h(h(sorted[0]!, sorted[1]!), sorted[2]!)); // odd node carried up
    expect(merkleRoot([...leaves].reverse())).toBe(merkleRoot(leaves));
    expect(merkleRoot([leaves[0]!, leaves[1]!, sha256("w")])).not.toBe(merkleRoot(leaves));
  });

  it("is the tree a Hash object per node builds, for any number of leaves", () => {
    // Brute force: each level from the last, pairs hashed left‖right, an odd node carried up.
    const brute = (leaves: string[]): string => {
      let level = [...leaves].sort().map((h) => Buffer.from(h, "hex"));
      while (level.length > 1) level = level.flatMap((b, i) => (i % 2 ? [] : [level[i + 1] ? createHash("sha256").update(b).update(level[i + 1]!).digest() : b]));
      return level[0]!.toString("hex");
    };
    for (const n of [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 100, 1000]) {
      const leaves = Array.from({ length: n }, (_, i) => createHash("sha256").update(`leaf ${i}`).digest("hex"));
      expect(merkleRoot(leaves)).toBe(brute(leaves));
    }
    // Upper-case hex names the same digests.
    const upper = ["a", "b", "c"].map((s) => sha256(s).toUpperCase());
    expect(merkleRoot(upper)).toBe(brute(upper));
  });

  it("refuses a leaf that is not a SHA-256 digest, naming it", () => {
    expect(() => merkleRoot([sha256("a"), "abc"])).toThrow(/^merkle leaves are SHA-256 digests \(64 hex characters\), not "abc"$/);
    expect(() => merkleRoot([sha256("a"), `${sha256("b").slice(0, 63)}g`])).toThrow(/not "[0-9a-f]{63}g"$/);
  });
});

describe("running pipelines", () => {
  let ws: Workspace;
  beforeEach(async () => {
    ws = await tempWorkspace();
    await smallDatanet(ws, "notes-a");
    await smallDatanet(ws, "notes-b");
  });
  afterEach(() => ws.close());

  const build = (over: Record<string, Cell> = {}) => pipeline("t", {
    a: datanet("notes-a"),
    b: datanet("notes-b"),
    trainA: sql`select * from ${"a"} where split = 'train'`,
    labelsA: sql`select label, count(*) as n from ${"trainA"} group by label order by label`,
    trainB: sql`select * from ${"b"} where split = 'train'`,
    both: sql`select count(*) as n from ${"trainA"} union all select count(*) from ${"trainB"}`,
    ...over,
  });

  it("walks the staleness matrix: never run, fresh, code, params, input, failed, blocked", async () => {
    let p = build();
    expect(await states(ws, p)).toMatchObject({ a: "stale: never run", trainA: "stale: input a is stale", both: "stale: input trainA is stale" });
    const first = await runPipeline(ws, p);
    expect(first.ran).toEqual(p.order);
    expect(Object.values(await states(ws, p))).toEqual(Array(6).fill("fresh"));

    // code changed: same params, newer kind version
    const bumped = { ...p.cells.get("trainB")!, version: "2" };
    p = build({ trainB: bumped });
    expect((await states(ws, p)).trainB).toBe("stale: code changed (sql v1 → sql v2)");
    // params changed
    p = build({ labelsA: sql`select label, count(*) as n from ${"trainA"} group by label order by label desc` });
    expect((await states(ws, p)).labelsA).toBe("stale: params changed (the query)");
    // input changed: reject a training row of notes-a
    p = build();
    await decide(ws, { ids: [await firstId(ws, "notes-a", "train")], verdict: "rejected", validator: "t", reason: "test" });
    const s = await states(ws, p);
    expect(s.a).toMatch(/^stale: Datanet notes-a snapshot changed \([0-9a-f]{10} → [0-9a-f]{10}\)$/);
    expect(s).toMatchObject({ trainA: "stale: input a is stale", labelsA: "stale: input trainA is stale", b: "fresh", trainB: "fresh" });
    await runPipeline(ws, p);
    // failed, with the cause; descendants blocked; independent cells still run
    p = build({ trainB: sql`select no_such_column from ${"b"}` });
    const failing = await runPipeline(ws, p);
    expect(failing).toMatchObject({ failed: ["trainB"], blocked: ["both"] });
    const f = await states(ws, p);
    expect(f.trainB).toMatch(/^failed: sql cell "trainB": .*no_such_column/);
    expect(f.both).toBe("blocked: input trainB is failed");
    expect(f.labelsA).toBe("fresh");
  });

  it("after one rejection recomputes exactly the cells downstream of that snapshot", async () => {
    const p = build();
    await runPipeline(ws, p);
    await decide(ws, { ids: [await firstId(ws, "notes-a", "train")], verdict: "rejected", validator: "t", reason: "test" });
    const stale = (await pipelineStatus(ws, p)).filter((s) => s.state !== "fresh").map((s) => s.cell);
    expect(stale).toEqual(["a", "trainA", "labelsA", "both"]);
    const events: GraphEvent[] = [];
    const again = await runPipeline(ws, p, { onEvent: (e) => events.push(e) });
    expect(again.ran).toEqual(["a", "trainA", "labelsA", "both"]);
    expect(again.fresh).toEqual(["b", "trainB"]);
    expect(events.filter((e) => e.event === "output-changed").map((e) => e.cell)).toEqual(["a", "trainA", "labelsA", "both"]);
  });

  it("stops at an identical output: readers of an unchanged cell stay fresh", async () => {
    const p = build();
    await runPipeline(ws, p);
    // A test-split row changes the snapshot but not the training rows.
    await decide(ws, { ids: [await firstId(ws, "notes-a", "test")], verdict: "rejected", validator: "t", reason: "test" });
    const events: GraphEvent[] = [];
    const again = await runPipeline(ws, p, { onEvent: (e) => events.push(e) });
    expect(again.ran).toEqual(["a", "trainA"]);
    expect(again.changed).toEqual(["a"]);
    expect(again.fresh).toEqual(["b", "labelsA", "trainB", "both"]);
    expect(events.find((e) => e.event === "cell-finished" && e.cell === "trainA")).toMatchObject({ changed: false });
  });

  it("reuses the artifact of an earlier identical fingerprint, and --force recomputes", async () => {
    await runPipeline(ws, build());
    const other = build({ labelsA: sql`select label from ${"trainA"}` });
    await runPipeline(ws, other);
    const events: GraphEvent[] = [];
    await runPipeline(ws, build(), { onEvent: (e) => events.push(e) }); // back to the first definition
    expect(events.find((e) => e.event === "cell-finished" && e.cell === "labelsA")).toMatchObject({ cached: true });
    const forced = await runPipeline(ws, build(), { cell: "trainB", force: true });
    expect(forced.ran).toEqual(["trainB"]);
    expect(forced.fresh).toEqual(["b"]);
  });

  it("keeps hostile cell names and values inert", async () => {
    const evil = 'x"; drop table contributions; --';
    const value = "'; drop table contributions; --";
    const p = pipeline("evil", {
      [evil]: datanet("notes-a"),
      pick: sql`select count(*) as n, ${param(value)} as echoed from ${evil} where text <> ${param(value)} and label = ${param("a")}`,
    });
    await runPipeline(ws, p);
    const out = (await pipelineStatus(ws, p)).find((s) => s.cell === "pick")!;
    expect(out.state).toBe("fresh");
    const [{ artifact }] = await ws.rows<{ artifact: string }>("select artifact from runs where cell = 'pick' and status = 'succeeded'") as [{ artifact: string }];
    const [row] = await ws.rows<{ n: bigint; echoed: string }>("select * from read_parquet(?)", [artifact]);
    expect(row).toEqual({ n: 15n, echoed: value });
    expect(await ws.rows("select count(*)::int as n from contributions")).toEqual([{ n: 60 }]);
  });

  it("writes content-addressed artifacts and a run log", async () => {
    await runPipeline(ws, build());
    const runs = await ws.rows<{ cell: string; status: string; artifact: string; data_version: string }>(
      "select cell, status, artifact, data_version from runs order by started_at");
    expect(runs).toHaveLength(6);
    for (const r of runs) {
      expect(r.status).toBe("succeeded");
      expect(path.basename(r.artifact)).toBe(`${r.data_version}.parquet`);
      expect(fs.existsSync(r.artifact)).toBe(true);
    }
    // The datanet cell's data version is the snapshot root, recomputable from the workspace.
    const leaves = await ws.rows<{ leaf: string }>(
      "select sha256(id || chr(0) || status || chr(0) || contributor || chr(0) || split) as leaf from contributions where datanet = 'notes-a' and status = 'approved'");
    // A datanet cell's data version names its rows (the snapshot root) and its columns (the kind version).
    expect(runs.find((r) => r.cell === "a")!.data_version).toBe(sha256(`datanet/3\n${merkleRoot(leaves.map((l) => l.leaf))}`));
  });

  it("keeps its outputs when the workspace folder is moved, and a copy reads its own", async () => {
    const p = build();
    await runPipeline(ws, p);
    const outputs = async (w: Workspace) => (await w.rows<{ artifact: string }>("select artifact from runs where artifact is not null order by cell")).map((r) => r.artifact);
    const home = ws.home, before = await outputs(ws);
    ws.close();
    // Copied (to a reviewer, from a backup) under a path that itself has an `artifacts` folder,
    // then the original moved away: the copy is all there is at first.
    const copy = path.join(tempDir("tb-moved-"), "artifacts", "ws");
    fs.cpSync(home, copy, { recursive: true });
    const away = `${home}-away`;
    fs.renameSync(home, away);
    ws = await openWorkspace({ home: copy });
    const after = await outputs(ws);
    expect(after).toEqual(before.map((a) => path.join(copy, path.relative(home, a))));
    expect(after.every((a) => fs.existsSync(a))).toBe(true);
    expect(Object.values(await states(ws, p))).toEqual(Array(6).fill("fresh"));
    expect((await runPipeline(ws, p)).ran).toEqual([]);
    const [{ n }] = (await ws.rows<{ n: bigint }>("select count(*) as n from read_parquet(?)", [after[0]!])) as [{ n: bigint }];
    expect(n).toBeGreaterThan(0n);
    // The same folder by another path (a symlink) has not moved: nothing is rewritten.
    ws.close();
    const link = `${copy}-link`;
    fs.symlinkSync(copy, link);
    ws = await openWorkspace({ home: link });
    expect(await outputs(ws)).toEqual(after);
    expect(Object.values(await states(ws, p))).toEqual(Array(6).fill("fresh"));
    // The original, opened where it now is, reads its own files, not the copy's.
    const original = await openWorkspace({ home: away });
    try {
      expect(await outputs(original)).toEqual(before.map((a) => path.join(away, path.relative(home, a))));
    } finally {
      original.close();
    }
  });

  it("records a cell cancelled between the announcement of its start and the record of its run", async () => {
    // The window a Ctrl-C fell into on CI: "▶ cell" printed, then the cache lookup (a query,
    // interrupted like any other) threw before the run was recorded, and the cell read "never run".
    // A cached artifact's verify() runs inside that window, so it can cancel there on purpose.
    const controller = new AbortController();
    let armed = false;
    const labels = (order: "asc" | "desc") => ({
      ...(order === "asc"
        ? sql`select label, count(*) as n from ${"trainA"} group by label order by label`
        : sql`select label, count(*) as n from ${"trainA"} group by label order by label desc`),
      verify: async () => {
        if (armed) {
          controller.abort();
          await ws.rows("select sum(x) from range(3000000000) t(x)"); // interrupted by the scheduler
        }
        return null;
      },
    });
    await runPipeline(ws, build({ labelsA: labels("asc") }));
    await runPipeline(ws, build({ labelsA: labels("desc") }));
    armed = true; // back to "asc": its artifact is in the cache, so verify() runs after "cell-started"
    const events: string[] = [];
    const summary = await runPipeline(ws, build({ labelsA: labels("asc") }), {
      signal: controller.signal,
      onEvent: (e) => { if ("cell" in e && e.cell === "labelsA") events.push(e.event); },
    });
    expect(summary.cancelled).toBe(true);
    expect(events).toEqual(["cell-started", "cell-cancelled"]);
    const runs = await ws.rows("select status, error from runs where cell = 'labelsA' order by started_at");
    expect(runs).toEqual([
      { status: "succeeded", error: null }, { status: "succeeded", error: null }, { status: "cancelled", error: "cancelled by the user" },
    ]);
  });

  it("records where a pipeline was run from, and writes nothing when that has not moved", async () => {
    const p = build();
    await runPipeline(ws, p, { file: "pipelines/t.pipeline.ts" });
    const first = await ws.rows<{ pipeline: string; file: string; recorded_at: Date }>("select * from pipeline_files");
    expect(first).toEqual([{ pipeline: "t", file: path.resolve("pipelines/t.pipeline.ts"), recorded_at: expect.any(Date) }]);
    // A watcher's all-fresh cycle: the same file, so no write (two watchers would otherwise wake each other).
    await new Promise((r) => setTimeout(r, 5));
    expect((await runPipeline(ws, p, { file: path.resolve("pipelines/t.pipeline.ts") })).ran).toEqual([]);
    expect(await ws.rows("select * from pipeline_files")).toEqual(first);
    await runPipeline(ws, p, { file: "/elsewhere/t.pipeline.ts" });
    expect(await ws.rows("select file from pipeline_files")).toEqual([{ file: "/elsewhere/t.pipeline.ts" }]);
  });

  it("fails a cell whose Datanet does not exist and still runs the rest", async () => {
    const p = build({ ghost: datanet("ghost"), fromGhost: sql`select * from ${"ghost"}` });
    const r = await runPipeline(ws, p);
    expect(r.failed).toEqual(["ghost"]);
    expect(r.blocked).toEqual(["fromGhost"]);
    expect(r.ran).toHaveLength(6);
    expect((await states(ws, p)).ghost).toMatch(/failed: unknown Datanet "ghost"/);
  });
});

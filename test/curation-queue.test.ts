import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baseModel, datanet, finetune, hashedNgrams, pipeline, pipelineStatus, runPipeline, sql, type Pipeline } from "../cells/index.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { validate } from "../cells/curation/validate.ts";
import { labelErrors } from "../cells/curation/label-errors.ts";
import { rankQueue, describeScore, type LabelScore } from "../cells/curation/queue.ts";
import { reviewQueue } from "../cells/curation/review.ts";
import { plantErrors, type Planted } from "../cells/curation/plant.ts";
import { curate } from "../cells/curation/decisions.ts";
import { labelErrorScore, zScores } from "../cells/curation/signals.ts";
import { RULES_FORMAT } from "../cells/curation/ruleset.ts";
import type { Flag } from "../cells/curation/flags.ts";
import { splitOf } from "../cells/datanet/split.ts";
import { tempWorkspace } from "./helpers/workspace.ts";
import { ingest } from "../cells/datanet/ingest.ts";
import { PREVIOUS_STATUS } from "../cells/datanet/types.ts";
import { separableDatanet } from "./helpers/datanets.ts";

const score = (contribution: string, s: number, over: Partial<LabelScore> = {}): LabelScore => ({
  contribution, label: "a", trained: true, predicted: "a", p_label: 0.9, rival: "b", p_rival: 0.1, self_influence: 1, loss: 0.1, other_label: -0.8, score: s, ...over,
});
const flag = (contribution: string, severity: Flag["severity"], rule = "r"): Flag =>
  ({ contribution, contributor: "c", rule, kind: "near-duplicate", severity, reason: `${rule} says so`, related: null, value: null });

describe("the review queue's order", () => {
  it("puts rule flags first, most severe first, then likely label errors by score, then the rest", () => {
    const rows = ["a", "b", "c", "d", "e", "f"].map((id) => ({ id, contributor: "c", label: "a", status: "approved" as const }));
    const scores = new Map([["a", score("a", 0.5)], ["b", score("b", 3)], ["c", score("c", -1)], ["d", score("d", 2)], ["e", score("e", 9)]]);
    const flags = [flag("c", "duplicate"), flag("d", "conflict"), flag("a", "duplicate"), flag("c", "error", "schema"), { ...flag("x", "notice"), contribution: null }];
    const q = rankQueue(rows, flags, scores);
    expect(q.map((i) => [i.rank, i.contribution, i.severity])).toEqual([
      [1, "c", "error"], [2, "d", "conflict"], [3, "a", "duplicate"], [4, "e", "label"], [5, "b", "label"], [6, "f", null],
    ]);
    expect(q[0]!.why).toMatch(/^\[schema\] schema says so · \[r\] r says so · the model gives the label "a" 0\.900 \(next "b" 0\.100\) \(loss 0\.10; self-influence in the top 100%/);
    expect(q[5]!.why).toBe("");
  });

  it("says what the model thinks of a label in words a curator can act on", () => {
    expect(describeScore(score("a", 2.5, { p_label: 0.04, p_rival: 0.96, loss: 3.2 }), 0.02))
      .toBe('label error? the model gives "b" 0.960 and the label "a" 0.040 (loss 3.20; self-influence in the top 0.02%, score 2.50): check the label; reject it if wrong');
    // Ranks from the top, ties sharing the lower rank: 5 rows, self-influence 9, 7, 7, 1, 0.
    const rows = ["p", "q", "r", "s", "t"].map((id) => ({ id, contributor: "c", label: "a", status: "approved" as const }));
    const si = [9, 7, 7, 1, 0];
    const q = rankQueue(rows, [], new Map(rows.map((r, i) => [r.id, score(r.id, -i, { self_influence: si[i]! })])));
    expect(q.map((i) => i.selfInfluenceTop)).toEqual([20, 60, 60, 80, 100]);
  });

  it("combines signals as documented: weighted z-scores, self-influence on a log scale", () => {
    const s = { selfInfluence: Float64Array.from([1, 10, 100]), loss: Float64Array.from([0, 1, 2]), otherLabel: Float64Array.from([0, 0, 0]) };
    const z = zScores(Float64Array.from([0, 1, 2]));
    expect(Array.from(labelErrorScore(s, { selfInfluence: 1, loss: 1, otherLabel: 5 }))).toEqual(Array.from(z, (v) => 2 * v));
    expect(Array.from(labelErrorScore(s, { selfInfluence: 0, loss: 0, otherLabel: 1 }))).toEqual([0, 0, 0]);
  });
});

function curationPipeline(): Pipeline {
  return pipeline("cur", {
    notes: datanet("notes-planted"),
    train: sql`select * from ${"notes"} where split = 'train'`,
    half: sql`select * from ${"train"} where id < '8'`,
    base: baseModel({
      data: "half", featurizer: hashedNgrams({ dims: 256 }), hidden: [8], epochs: 4, batchSize: 16, optimizer: { name: "adam" },
      schedule: { kind: "constant", lr: 0.01 }, seed: 5,
    }),
    // An adapter with several checkpoints, as the real pipelines trace.
    model: finetune({
      data: "train", base: "base", adapter: { rank: 2, alpha: 4, targets: ["dense_1"] }, epochs: 4, batchSize: 16, optimizer: { name: "adam" },
      schedule: { kind: "constant", lr: 0.01 }, checkpoints: 3, seed: 5,
    }),
    flags: validate("notes-planted", { rules: { format: RULES_FORMAT, name: "notes", version: 2, rules: [{ kind: "exact-duplicate", acrossDatanets: false }, { kind: "near-duplicate", threshold: 0.5 }] } }),
    label_errors: labelErrors({ model: "model", data: "notes" }),
  });
}

describe("curation cells in a pipeline", () => {
  let ws: Workspace;
  let planted: Planted[];
  beforeAll(async () => {
    ws = await tempWorkspace();
    await separableDatanet(ws, "notes", 300);
    ({ planted } = await plantErrors(ws, "notes", { seed: 3, flipFraction: 0.1, duplicateFraction: 0.02, nearDuplicateFraction: 0 }));
    const s = await runPipeline(ws, curationPipeline());
    expect(s.failed).toEqual([]);
  }, 120_000);
  afterAll(() => ws?.close());

  it("plants errors as asked: flips stay in training, copies come from other contributors", async () => {
    const flips = planted.filter((p) => p.kind === "flip");
    const train = Number((await ws.rows<{ n: bigint }>("select count(*) as n from contributions where datanet = 'notes' and split = 'train'"))[0]!.n);
    expect(flips).toHaveLength(Math.round(train * 0.1));
    const copy = new Map((await ws.rows<{ id: string; label: string; split: string; contributor: string }>(
      "select id, label, split, contributor from contributions where datanet = 'notes-planted'")).map((r) => [r.id, r]));
    for (const f of flips) {
      expect(copy.get(f.id)).toMatchObject({ label: f.label, split: "train" });
      expect(f.label).not.toBe(f.originalLabel);
      expect(splitOf(f.id, 0, 0.25)).toBe("train");
      expect(copy.has(f.of)).toBe(false); // the original row became the flipped one
    }
    const dups = planted.filter((p) => p.kind === "duplicate");
    expect(dups).toHaveLength(6);
    for (const d of dups) expect(copy.get(d.id)?.contributor).not.toBe(copy.get(d.of)?.contributor);
    // The source is untouched.
    expect(Number((await ws.rows<{ n: bigint }>("select count(*) as n from contributions where datanet = 'notes'"))[0]!.n)).toBe(300);
  });

  it("validate: a flags table under the pipeline's rule set, naming it", async () => {
    const flags = await output<{ contribution: string; rule: string; rule_ref: string; severity: string; reason: string; status: string; ruleset: string }>(ws, "flags");
    const dupIds = new Set(planted.filter((p) => p.kind === "duplicate").map((p) => p.id));
    expect(flags.filter((f) => dupIds.has(f.contribution)).length).toBe(dupIds.size);
    expect(flags.every((f) => f.ruleset === "notes@2" && f.rule_ref === `notes@2/${f.rule}` && f.status === "approved")).toBe(true);
  });

  it("labelErrors: every row scored, planted flips near the top", async () => {
    const rows = await output<LabelScore & { datanet: string; model_id: string }>(ws, "label_errors");
    expect(rows.length).toBe(Number((await ws.rows<{ n: bigint }>("select count(*) as n from contributions where datanet = 'notes-planted'"))[0]!.n));
    expect(rows.some((r) => !r.trained)).toBe(true); // held-out rows are scored too
    const flips = new Set(planted.filter((p) => p.kind === "flip").map((p) => p.id));
    const top = rows.slice().sort((a, b) => b.score - a.score).slice(0, Math.ceil(rows.length / 10));
    expect(top.filter((r) => flips.has(r.contribution)).length / flips.size).toBeGreaterThanOrEqual(0.5); // 15 of 22 measured; at random, 10%
    const q = await reviewQueue(ws, "notes-planted");
    expect(q.scoresFrom).toMatchObject({ pipeline: "cur", cell: "label_errors", rows: rows.length });
    expect(q.rulesFrom).toBe("cur.flags");
    // The validate cell ran over the Datanet as it is: its flags are the queue's, as the rules would give them now.
    expect(q.flagsFrom).toBe("cur.flags output");
    const live = await reviewQueue(ws, "notes-planted", { rules: q.ruleset });
    expect(live.flagsFrom).toBe("the rules run now");
    expect(q.items.map((i) => [i.contribution, i.flags])).toEqual(live.items.map((i) => [i.contribution, i.flags]));
    expect(q.items.filter((i) => i.flags.length).length).toBeGreaterThan(0);
  });

  it("a decision makes the validate cell and everything downstream of the Datanet stale", async () => {
    const fresh = await pipelineStatus(ws, curationPipeline());
    expect(fresh.every((s) => s.state === "fresh")).toBe(true);
    const q = await reviewQueue(ws, "notes-planted");
    await curate(ws, { ids: [q.items[0]!.contribution], datanet: "notes-planted", verdict: "rejected", curator: "ann", reason: "duplicate" });
    const after = new Map((await pipelineStatus(ws, curationPipeline())).map((s) => [s.cell, s]));
    expect(after.get("flags")).toMatchObject({ state: "stale", reason: expect.stringMatching(/^Datanet notes-planted snapshot \(and its content in other Datanets\) changed/) });
    for (const c of ["notes", "train", "half", "base", "model", "label_errors"]) expect(after.get(c)!.state, c).toBe("stale");
    // Its recorded flags no longer describe the Datanet: the queue runs the rules itself.
    expect((await reviewQueue(ws, "notes-planted")).flagsFrom).toBe("the rules run now");
  });
});

describe("an admission and the model that scores it afterwards", () => {
  let ws: Workspace;
  afterAll(() => ws?.close());

  it("keeps rows approved while pending in the queue once a model has scored them, until a curator reviews them", async () => {
    ws = await tempWorkspace();
    await separableDatanet(ws, "notes", 120);
    await plantErrors(ws, "notes", { seed: 3, flipFraction: 0.1, duplicateFraction: 0, nearDuplicateFraction: 0 });
    // New rows arrive pending, as an import of one's own data does, and are admitted in bulk.
    await ingest(ws, { name: "notes-planted", kind: "text", description: "notes", source: "test", contributorRule: "test", splitSeed: 0, testFraction: 0.25 },
      Array.from({ length: 12 }, (_, i) => ({ text: `late arrival ${i} ${i % 2 ? "meeting notes" : "casino winner offer"}`, label: i % 2 ? "ham" : "spam", contributor: "newcomer", submittedAt: new Date("2024-02-01T00:00:00Z"), source: `late#${i}` })),
      { mode: "append", status: "pending", validator: "test", importer: "test@1" });
    const late = (await ws.rows<{ id: string }>("select id from contributions where contributor = 'newcomer' order by id")).map((r) => r.id);
    expect((await reviewQueue(ws, "notes-planted")).items.filter((i) => late.includes(i.contribution)).map((i) => i.status)).toEqual(late.map(() => "pending"));
    await curate(ws, { datanet: "notes-planted", where: "status = 'pending'", verdict: "approved", curator: "ann", reason: "looked fine at intake" });
    // Before any model: an admission is a decision like another, and the rows leave the queue.
    const before = await reviewQueue(ws, "notes-planted");
    expect(before).toMatchObject({ scoresFrom: null, reopened: 0, decided: 12 });
    expect(before.items.some((i) => late.includes(i.contribution))).toBe(false);

    expect((await runPipeline(ws, curationPipeline())).failed).toEqual([]);
    // The model trained on them has scored them: what it says is news to the curator who admitted them.
    const after = await reviewQueue(ws, "notes-planted");
    expect(after).toMatchObject({ reopened: 12, decided: 0 });
    const back = after.items.filter((i) => late.includes(i.contribution));
    expect(back.map((i) => i.contribution).sort()).toEqual(late);
    for (const i of back) {
      expect(i.score).not.toBeNull();
      expect(i.decision).toMatchObject({ validator: "ann", verdict: "approved", admission: true, reopened: true });
      expect(i.why).toMatch(/admitted by ann on \d{4}-\d\d-\d\d before the model scored it: keep it once reviewed$/);
    }
    // A review takes a row out for good: a keep, a rejection, a quarantine.
    await curate(ws, { ids: [late[0]!], verdict: "keep", curator: "bob", reason: "read it: fine" });
    await curate(ws, { ids: [late[1]!], verdict: "rejected", curator: "bob", reason: "junk" });
    await curate(ws, { ids: [late[2]!], verdict: "quarantined", curator: "bob", reason: "ask the contributor" });
    const reviewed = await reviewQueue(ws, "notes-planted");
    expect(reviewed).toMatchObject({ reopened: 9, decided: 2 }); // the kept and the quarantined row; the rejected one is under review no more
    expect(reviewed.items.filter((i) => late.includes(i.contribution)).map((i) => i.contribution).sort()).toEqual(late.slice(3));
    // A quarantined row approved again is a review, not an admission.
    await curate(ws, { ids: [late[2]!], verdict: "approved", curator: "bob", reason: "the contributor explained" });
    expect(await reviewQueue(ws, "notes-planted")).toMatchObject({ reopened: 9, decided: 2 });
    // The trail cell says which records were admissions.
    const trail = await ws.rows<{ previous: string; verdict: string; n: bigint }>(
      `select previous, verdict, count(*) as n from (select v.*, ${PREVIOUS_STATUS} as previous from validations v where datanet = 'notes-planted') v
       where validator in ('ann', 'bob') group by all order by all`);
    expect(trail.map((r) => [r.previous, r.verdict, Number(r.n)])).toEqual([["approved", "approved", 1], ["approved", "quarantined", 1], ["approved", "rejected", 1], ["pending", "approved", 12], ["quarantined", "approved", 1]]);
  }, 120_000);
});

/** A cell's current output, in the order the cell wrote it. */
async function output<T>(ws: Workspace, cell: string): Promise<T[]> {
  const [run] = await ws.rows<{ artifact: string }>("select artifact from runs where pipeline = 'cur' and cell = ? and status = 'succeeded' order by finished_at desc limit 1", [cell]);
  return ws.rows<T>("select * from read_parquet(?)", [run!.artifact]);
}

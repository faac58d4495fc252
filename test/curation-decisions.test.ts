import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Workspace } from "../cells/store/workspace.ts";
import { curate, checkText } from "../cells/curation/decisions.ts";
import { contributorReputation } from "../cells/curation/reputation.ts";
import { reviewQueue } from "../cells/curation/review.ts";
import { InputError } from "../cells/datanet/errors.ts";
import { ingest } from "../cells/datanet/ingest.ts";
import { tempWorkspace, snapshot } from "./helpers/workspace.ts";
import { smallDatanet } from "./helpers/datanets.ts";

type Trail = { seq: bigint; datanet: string; contribution: string; validator: string; verdict: string; rule: string | null; reason: string | null; decided_at: Date };
const trail = (ws: Workspace) => ws.rows<Trail>("select * from validations order by seq");
const ids = async (ws: Workspace, name: string) => (await ws.rows<{ id: string }>("select id from contributions where datanet = ? order by id", [name])).map((r) => r.id);
const status = async (ws: Workspace, id: string) => (await ws.rows<{ status: string }>("select status from contributions where id = ?", [id]))[0]!.status;

describe("curators' decisions", () => {
  let ws: Workspace;
  beforeEach(async () => {
    ws = await tempWorkspace();
    await smallDatanet(ws, "notes", 12);
    await smallDatanet(ws, "other", 6);
  });
  afterEach(() => ws.close());

  it("decide in bulk from a SQL condition, recording the curator and the selection as the rule", async () => {
    const out = await curate(ws, { datanet: "notes", where: "contributor = 'c1' and label = 'b'", verdict: "rejected", curator: "ann", reason: "c1 mislabels b" });
    const expected = (await ws.rows<{ id: string }>("select id from contributions where datanet = 'notes' and contributor = 'c1' and label = 'b' order by id")).map((r) => r.id);
    expect(out.results.map((r) => r.id).sort()).toEqual(expected);
    expect(expected.length).toBeGreaterThan(0);
    const records = (await trail(ws)).filter((t) => t.validator === "ann");
    expect(records.map((r) => [r.contribution, r.verdict, r.rule, r.reason])).toEqual(
      expected.map((id) => [id, "rejected", "where: contributor = 'c1' and label = 'b'", "c1 mislabels b"]));
  });

  it("decide in bulk from a query, and from a rule's flags in the queue", async () => {
    const [a, b] = await ids(ws, "notes");
    const byQuery = await curate(ws, { datanet: "notes", query: `select '${a}' as id union all select '${b}'`, verdict: "quarantined", curator: "ann", reason: "check" });
    expect(byQuery.results.map((r) => r.id).sort()).toEqual([a, b].sort());
    // A pending row over the default size limit: only the "oversize" rule flags it.
    await ingest(ws, { name: "notes", kind: "text", description: "", source: "t", contributorRule: "t", splitSeed: 0, testFraction: 0.3 },
      [{ text: "x".repeat(300_000), label: "a", contributor: "c9", submittedAt: new Date("2024-01-02T00:00:00Z"), source: "t" }],
      { mode: "append", status: "pending", validator: "t", importer: "t@1" });
    const byRule = await curate(ws, { datanet: "notes", flagged: "oversize", verdict: "rejected", curator: "bob", reason: "a pasted file" });
    expect(byRule.rule).toBe("notes@1/oversize");
    expect(byRule.results).toHaveLength(1);
    expect(byRule.results[0]).toMatchObject({ from: "pending", to: "rejected" });
    await expect(curate(ws, { datanet: "notes", flagged: "nope", verdict: "rejected", curator: "bob", reason: "x" })).rejects.toThrow(/rule "nope" is not in rule set notes@1/);
    await expect(curate(ws, { datanet: "notes", flagged: "over-size", verdict: "rejected", curator: "bob", reason: "x" })).rejects.toThrow(/rule "over-size" is not in rule set notes@1 \(did you mean "oversize"\? rules: /);
  });

  it("keeps a bulk selection inside its Datanet, and lets no selection change anything", async () => {
    const before = await snapshot(ws);
    // A condition cannot reach past the Datanet: other's rows are not in the relation it filters.
    const escaped = await curate(ws, { datanet: "notes", where: "true) or (true", verdict: "rejected", curator: "x", reason: "r" }, { dryRun: true });
    expect(escaped.targets).toHaveLength(12);
    expect(escaped.targets.every((t) => t.datanet === "notes")).toBe(true);
    // A query naming another Datanet's rows is refused by the lookup, all or nothing.
    const foreign = await ids(ws, "other");
    await expect(curate(ws, { datanet: "notes", query: `select '${foreign[0]}' as id`, verdict: "rejected", curator: "x", reason: "r" })).rejects.toThrow(/no contribution matches id .* in Datanet "notes"/);
    // Statements that write are not selections: refused, and nothing is changed.
    await expect(curate(ws, { datanet: "notes", query: "delete from validations returning contribution as id", verdict: "rejected", curator: "x", reason: "r" })).rejects.toThrow(/--query is not a valid selection/);
    await expect(curate(ws, { datanet: "notes", query: "select id from contributions); drop table validations; select (1", verdict: "rejected", curator: "x", reason: "r" })).rejects.toThrow(/give one SQL statement, not 3/);
    await expect(curate(ws, { datanet: "notes", where: "true); commit; drop table validations; select * from (select 1", verdict: "rejected", curator: "x", reason: "r" })).rejects.toThrow(/--where is not a valid selection/);
    await expect(curate(ws, { datanet: "notes", where: "false", verdict: "rejected", curator: "x", reason: "r" })).rejects.toThrow(/matches no contributions/);
    await expect(curate(ws, { where: "true", verdict: "rejected", curator: "x", reason: "r" })).rejects.toThrow(/--where needs --datanet/);
    await expect(curate(ws, { datanet: "notes", ids: ["abcdef01"], where: "true", verdict: "rejected", curator: "x", reason: "r" })).rejects.toThrow(/exactly one of/);
    expect(await snapshot(ws)).toBe(before);
  });

  it("validates status transitions: a rejected row is approved again only by a new decision on record", async () => {
    const [a] = await ids(ws, "notes");
    await curate(ws, { ids: [a!], verdict: "rejected", curator: "ann", reason: "spam in ham" });
    await expect(curate(ws, { ids: [a!], verdict: "rejected", curator: "ann", reason: "again" })).rejects.toThrow(/already rejected/);
    const before = (await trail(ws)).length;
    const back = await curate(ws, { ids: [a!], verdict: "approved", curator: "bob", reason: "appeal: it is ham", rule: "appeal" });
    expect(back.results[0]).toMatchObject({ from: "rejected", to: "approved" });
    const records = (await trail(ws)).filter((t) => t.contribution === a && t.datanet === "notes");
    expect(records.map((r) => [r.verdict, r.validator, r.rule])).toEqual([["approved", "test", "import"], ["rejected", "ann", "manual"], ["approved", "bob", "appeal"]]);
    expect((await trail(ws)).length).toBe(before + 1);
    expect(await status(ws, a!)).toBe("approved");
  });

  it("never updates the audit trail in place: every decision only appends", async () => {
    const all = await ids(ws, "notes");
    const steps: (() => Promise<unknown>)[] = [
      () => curate(ws, { ids: all.slice(0, 3), verdict: "quarantined", curator: "ann", reason: "look" }),
      () => curate(ws, { ids: all.slice(0, 2), verdict: "approved", curator: "bob", reason: "fine" }),
      () => curate(ws, { datanet: "notes", where: "label = 'a'", verdict: "rejected", curator: "cat", reason: "bad batch" }),
      () => curate(ws, { ids: [all[5]!, "ffffffffff"], verdict: "rejected", curator: "dan", reason: "fails: unknown id" }).catch(() => undefined),
    ];
    let previous = await trail(ws);
    for (const step of steps) {
      await step();
      const now = await trail(ws);
      // The earlier records are an exact prefix of the new trail: same seq, same content.
      expect(now.slice(0, previous.length)).toEqual(previous);
      expect(now.length).toBeGreaterThanOrEqual(previous.length);
      previous = now;
    }
    // Every status is the verdict of the latest record about the row.
    const latest = await ws.rows<{ id: string; status: string; verdict: string }>(
      `select c.id, c.status, v.verdict from contributions c join validations v on v.datanet = c.datanet and v.contribution = c.id
       qualify row_number() over (partition by c.datanet, c.id order by v.seq desc) = 1`);
    expect(latest.every((r) => r.status === r.verdict)).toBe(true);
  });

  it("stores hostile text in reasons exactly as given, bound as a parameter, and refuses what cannot be stored", async () => {
    const [a, b] = await ids(ws, "notes");
    const hostile = [
      "'); drop table validations; --",
      "<script>alert(1)</script> & \"quotes\"",
      "\u001b[2J\u001b[31mred\u001b[0m \u202eevil\u202c line\nbreak",
      "emoji 🧪 and ｆｕｌｌwidth",
    ].join(" | ");
    await curate(ws, { ids: [a!], verdict: "rejected", curator: "ann\u001b[0m", reason: hostile, rule: "rule'; --" });
    const [rec] = (await trail(ws)).filter((t) => t.contribution === a && t.verdict === "rejected");
    expect(rec).toMatchObject({ reason: hostile, validator: "ann\u001b[0m", rule: "rule'; --" });
    expect((await ws.rows("select count(*) as n from validations"))[0]).toBeTruthy(); // the table is still there
    const before = await snapshot(ws);
    for (const bad of ["lone \ud800 surrogate", "nul \u0000 byte", "   ", "x".repeat(2001)]) {
      await expect(curate(ws, { ids: [b!], verdict: "rejected", curator: "ann", reason: bad })).rejects.toThrow(InputError);
    }
    await expect(curate(ws, { ids: [b!], verdict: "rejected", curator: "\ud800", reason: "r" })).rejects.toThrow(/curator is not valid Unicode/);
    expect(await snapshot(ws)).toBe(before);
    expect(checkText("  padded  ", "reason", 10)).toBe("padded");
  });

  it("updates reputation from decisions by the documented formula", async () => {
    const rows = await ws.rows<{ id: string; contributor: string }>("select id, contributor from contributions where datanet = 'notes' order by id");
    const c0 = rows.filter((r) => r.contributor === "c0").map((r) => r.id);
    const rep = async () => new Map((await contributorReputation(ws, "notes")).map((r) => [r.contributor, r]));
    expect((await rep()).get("c0")).toMatchObject({ approved: 4, rejected: 0, reputation: 5 / 6 });
    await curate(ws, { ids: c0.slice(0, 2), verdict: "rejected", curator: "ann", reason: "r" });
    await curate(ws, { ids: c0.slice(2, 3), verdict: "quarantined", curator: "ann", reason: "q" });
    const after = (await rep()).get("c0")!;
    expect(after).toMatchObject({ approved: 1, rejected: 2, quarantined: 1, decisions: 3 });
    expect(after.reputation).toBeCloseTo((1 + 1) / (2 + 1 + 2 + 0.5), 12);
    expect((await rep()).get("c1")!.reputation).toBe(5 / 6); // untouched
  });

  it("takes decided rows out of the queue at once", async () => {
    const q0 = await reviewQueue(ws, "notes");
    expect(q0.items).toHaveLength(12);
    await curate(ws, { ids: [q0.items[0]!.contribution], verdict: "rejected", curator: "ann", reason: "r" });
    await curate(ws, { ids: [q0.items[1]!.contribution], verdict: "quarantined", curator: "ann", reason: "q" });
    const q1 = await reviewQueue(ws, "notes");
    expect(q1.items).toHaveLength(10);
    expect(q1.decided).toBe(1); // the quarantined row: still under review, but decided
    expect((await reviewQueue(ws, "notes", { includeDecided: true })).items).toHaveLength(11);
    // Reviewed and kept: out of the queue, still approved, so still in the snapshot.
    const kept = await curate(ws, { ids: [q1.items[0]!.contribution], verdict: "keep", curator: "bob", reason: "fine" });
    expect(kept.results).toEqual([expect.objectContaining({ from: "approved", to: "approved" })]);
    expect(await status(ws, q1.items[0]!.contribution)).toBe("approved");
    expect((await reviewQueue(ws, "notes")).items).toHaveLength(9);
    // With --all, a decided row says who decided last, what and why; the others carry nothing.
    const all = (await reviewQueue(ws, "notes", { includeDecided: true })).items;
    expect(all.find((i) => i.contribution === q1.items[0]!.contribution)!.decision)
      .toEqual({ validator: "bob", verdict: "approved", reason: "fine", decided_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), admission: false, reopened: false });
    expect(all.find((i) => i.contribution === q0.items[1]!.contribution)!.decision).toMatchObject({ validator: "ann", verdict: "quarantined", reason: "q" });
    expect(all.filter((i) => i.decision === null)).toHaveLength(9);
  });
});

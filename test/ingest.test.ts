import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ingest } from "../cells/datanet/ingest.ts";
import { contributionId } from "../cells/datanet/hash.ts";
import { InputError } from "../cells/datanet/errors.ts";
import { MAX_TEXT_BYTES } from "../cells/datanet/limits.ts";
import type { ContributionInput, DatanetSpec } from "../cells/datanet/types.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { snapshot, tempWorkspace } from "./helpers/workspace.ts";

const spec = (over: Partial<DatanetSpec> = {}): DatanetSpec => ({
  name: "notes", kind: "text", description: "test", source: "test", labels: ["a", "b"], featureDim: null,
  contributorRule: "test rule", splitSeed: 0, testFraction: 0.2, ...over,
});
const at = new Date("2024-01-01T00:00:00Z");
const row = (text: string, contributor = "alice", label = "a", n = 0): ContributionInput => ({
  text, label, contributor, submittedAt: at, source: `mem#${n}`, where: { file: "mem", row: n },
});
const opts = { mode: "create" as const, status: "pending" as const, validator: "test", importer: "test@1" };

describe("ingest", () => {
  let ws: Workspace;
  beforeEach(async () => { ws = await tempWorkspace(); });
  afterEach(() => ws.close());

  it("stores one contribution per content, every copy as a submission", async () => {
    const s = await ingest(ws, spec(), [row("x", "alice", "a", 1), row("y", "bob", "b", 2), row("x", "carol", "a", 3)], opts);
    expect(s).toMatchObject({ rowsRead: 3, contributionsAdded: 2, duplicates: 1, contributorsAdded: 3 });
    const contributions = await ws.rows<{ id: string; contributor: string }>("select id, contributor from contributions order by text");
    expect(contributions).toEqual([
      { id: contributionId({ text: "x", label: "a" }), contributor: "alice" }, // first copy wins
      { id: contributionId({ text: "y", label: "b" }), contributor: "bob" },
    ]);
    const subs = await ws.rows("select contributor, duplicate from submissions order by ord");
    expect(subs).toEqual([
      { contributor: "alice", duplicate: false }, { contributor: "bob", duplicate: false }, { contributor: "carol", duplicate: true },
    ]);
    // Appending the same content again is all duplicates; nothing new is added.
    const again = await ingest(ws, spec(), [row("y", "dave", "b", 1)], { ...opts, mode: "append" });
    expect(again).toMatchObject({ contributionsAdded: 0, duplicates: 1 });
  });

  it("records a validation for every non-pending initial status", async () => {
    await ingest(ws, spec(), [row("x"), row("y")], { ...opts, status: "approved", statusReason: "curated" });
    const v = await ws.rows("select verdict, validator, rule, reason from validations");
    expect(v).toEqual([
      { verdict: "approved", validator: "test", rule: "import", reason: "curated" },
      { verdict: "approved", validator: "test", rule: "import", reason: "curated" },
    ]);
    expect(await ws.rows("select distinct status from contributions")).toEqual([{ status: "approved" }]);
  });

  it("fails on a bad row with its location and changes nothing", async () => {
    await ingest(ws, spec(), [row("kept")], opts);
    const before = await snapshot(ws);
    const bad = [row("ok", "a", "a", 1), row("ok2", "a", "a", 2), { ...row("", "a", "a", 3), text: "   " }];
    const err = await ingest(ws, spec(), bad, { ...opts, mode: "append" }).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err).toMatchObject({ file: "mem", row: 3, field: "text" });
    expect(err.message).toBe('mem, row 3, field "text": text is empty');
    const huge = row("x".repeat(MAX_TEXT_BYTES + 1), "a", "a", 7);
    await expect(ingest(ws, spec(), [huge], { ...opts, mode: "append" })).rejects.toThrow(/row 7.*exceed the cap/);
    expect(await snapshot(ws)).toBe(before);
  });

  it("rolls back when the database rejects the batch mid-way", async () => {
    await ingest(ws, spec(), [row("kept")], opts);
    const before = await snapshot(ws);
    // An extra NOT NULL column on submissions makes its insert fail after contributors and
    // contributions were already written in the same transaction.
    await ws.run("alter table submissions add column must_not_be_null integer default 1");
    await ws.run("alter table submissions alter column must_not_be_null set not null");
    await ws.run("alter table submissions alter column must_not_be_null drop default");
    await expect(ingest(ws, spec(), [row("new", "newcomer")], { ...opts, mode: "append", status: "approved" })).rejects.toThrow(/submissions/);
    await ws.run("alter table submissions drop column must_not_be_null");
    expect(await snapshot(ws)).toBe(before);
  });

  it("checks features: dimension, NaN, infinity", async () => {
    const fspec = spec({ name: "vec", kind: "features", labels: null });
    const f = (features: number[], n: number): ContributionInput => ({ ...row("", "a", "1", n), text: null, features });
    await ingest(ws, fspec, [f([1, 2, 3], 1)], opts);
    const stored = await ws.rows<{ features: number[]; feature_dim: number }>(
      "select features, (select feature_dim from datanets where name = 'vec') as feature_dim from contributions");
    expect(stored).toEqual([{ features: [1, 2, 3], feature_dim: 3 }]);
    await expect(ingest(ws, fspec, [f([1, 2], 4)], { ...opts, mode: "append" })).rejects.toThrow(/row 4.*expected 3 features, got 2/);
    await expect(ingest(ws, fspec, [f([1, NaN, 3], 5)], { ...opts, mode: "append" })).rejects.toThrow(/row 5.*feature 1 is NaN/);
    await expect(ingest(ws, fspec, [f([1, 2, Infinity], 6)], { ...opts, mode: "append" })).rejects.toThrow(/feature 2 is Infinity/);
    await expect(ingest(ws, fspec, [f([1, 2, 1e39], 6)], { ...opts, mode: "append" })).rejects.toThrow(/float32/);
  });

  it("refuses to create twice, appends to unknown names, bad names and lone surrogates", async () => {
    await ingest(ws, spec(), [row("x")], opts);
    await expect(ingest(ws, spec(), [row("y")], opts)).rejects.toThrow(/already exists/);
    await expect(ingest(ws, spec({ name: "ghost" }), [row("y")], { ...opts, mode: "append" })).rejects.toThrow(/unknown Datanet "ghost"/);
    await expect(ingest(ws, spec({ name: "Bad Name" }), [row("y")], opts)).rejects.toThrow(/invalid Datanet name/);
    await expect(ingest(ws, spec(), [row("bad \ud800 text", "a", "a", 9)], { ...opts, mode: "append" })).rejects.toThrow(/row 9.*lone surrogate/);
  });

  it("replace drops rows and trail, then imports", async () => {
    await ingest(ws, spec(), [row("x"), row("y")], { ...opts, status: "approved" });
    const s = await ingest(ws, spec(), [row("z")], { ...opts, mode: "replace" });
    expect(s.contributionsAdded).toBe(1);
    expect(await ws.rows("select text from contributions")).toEqual([{ text: "z" }]);
    expect(await ws.rows("select * from validations")).toEqual([]);
  });
});

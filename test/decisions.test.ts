import { describe, expect, it } from "vitest";
import { decide, resolveContributionIds } from "../cells/datanet/decisions.ts";
import { artifactPath, pipeline, pipelineStatus, runPipeline, validations } from "../cells/index.ts";
import { tempWorkspace, snapshot } from "./helpers/workspace.ts";
import { ingest } from "../cells/datanet/ingest.ts";
import { smallDatanet } from "./helpers/datanets.ts";
import type { Workspace } from "../cells/store/workspace.ts";

async function ids(ws: Workspace, name: string): Promise<string[]> {
  return (await ws.rows<{ id: string }>("select id from contributions where datanet = ? order by id", [name])).map((r) => r.id);
}

describe("curators' decisions", () => {
  it("changes the status and appends exactly one validation record per changed contribution", async () => {
    const ws = await tempWorkspace();
    try {
      await smallDatanet(ws, "notes");
      const [a, b] = await ids(ws, "notes");
      const before = Number((await ws.rows<{ n: bigint }>("select count(*) as n from validations"))[0]!.n);
      const out = await decide(ws, { ids: [a!.slice(0, 10), b!], verdict: "rejected", validator: "ann", reason: "off topic" });
      expect(out.map((r) => [r.id, r.from, r.to])).toEqual([[a, "approved", "rejected"], [b, "approved", "rejected"]]);
      const trail = await ws.rows("select contribution, validator, verdict, rule, reason from validations where validator = 'ann' order by contribution");
      expect(trail).toEqual([
        { contribution: a, validator: "ann", verdict: "rejected", rule: "manual", reason: "off topic" },
        { contribution: b, validator: "ann", verdict: "rejected", rule: "manual", reason: "off topic" },
      ].sort((x, y) => x.contribution!.localeCompare(y.contribution!)));
      const after = Number((await ws.rows<{ n: bigint }>("select count(*) as n from validations"))[0]!.n);
      expect(after - before).toBe(2);
      // Bulk re-run: already rejected contributions are skipped, nothing appended.
      expect(await decide(ws, { ids: [a!, b!], verdict: "rejected", validator: "ann", reason: "again" })).toEqual([]);
      // A single one already in that state is refused: the curator probably meant another.
      await expect(decide(ws, { ids: [a!], verdict: "rejected", validator: "ann", reason: "x" })).rejects.toThrow(/already rejected/);
      // Reversible, with its own record.
      const back = await decide(ws, { ids: [a!], verdict: "approved", validator: "bob", reason: "appeal upheld" });
      expect(back[0]).toMatchObject({ from: "rejected", to: "approved" });
    } finally {
      ws.close();
    }
  });

  it("keeps: records the current status as the verdict, changes no status, refuses pending rows", async () => {
    const ws = await tempWorkspace();
    try {
      await smallDatanet(ws, "notes");
      const [a, b, c] = await ids(ws, "notes");
      await decide(ws, { ids: [b!], verdict: "quarantined", validator: "ann", reason: "unsure" });
      const statuses = async () => (await ws.rows<{ status: string }>("select status from contributions where datanet = 'notes' order by id")).map((r) => r.status);
      const before = await statuses();
      const out = await decide(ws, { ids: [a!, b!], verdict: "keep", validator: "bob", reason: "looked: fine as it is" });
      expect(out.map((r) => [r.id, r.from, r.to])).toEqual([[a, "approved", "approved"], [b, "quarantined", "quarantined"]]);
      expect(await statuses()).toEqual(before);
      expect(await ws.rows("select contribution, validator, verdict, rule, reason from validations where validator = 'bob' order by seq")).toEqual([
        { contribution: a, validator: "bob", verdict: "approved", rule: "manual", reason: "looked: fine as it is" },
        { contribution: b, validator: "bob", verdict: "quarantined", rule: "manual", reason: "looked: fine as it is" },
      ]);
      // A single approve of an approved row is still refused, and says how to record that it stands.
      await expect(decide(ws, { ids: [a!], verdict: "approved", validator: "bob", reason: "x" })).rejects.toThrow(/already approved \(to record that it stays so, keep it\)/);
      // A pending row has no status to keep: all or nothing, nothing recorded for the others either.
      await ws.run("update contributions set status = 'pending' where id = ?", [c!]);
      const trail = await snapshot(ws);
      await expect(decide(ws, { ids: [a!, c!], verdict: "keep", validator: "bob", reason: "r" })).rejects.toThrow(/is pending: there is no status to keep yet/);
      expect(await snapshot(ws)).toBe(trail);
    } finally {
      ws.close();
    }
  });

  it("serves the trail as a cell: curators' records only, stale after every decision, a keep included", async () => {
    const ws = await tempWorkspace();
    try {
      await smallDatanet(ws, "notes");
      await smallDatanet(ws, "other", 4);
      const p = pipeline("trail", { decisions: validations("notes"), all: validations(["notes", "other"], { imports: true }) });
      const rows = async (cell: string) => {
        const [run] = await ws.rows<{ data_version: string }>(
          "select data_version from runs where pipeline = 'trail' and cell = ? and status = 'succeeded' order by finished_at desc limit 1", [cell]);
        return ws.rows<{ contribution: string; contributor: string; validator: string; previous: string; verdict: string; reason: string }>(
          `select contribution, contributor, validator, previous, verdict, reason from read_parquet('${artifactPath(ws, run!.data_version)}') order by seq`);
      };
      expect((await runPipeline(ws, p)).failed).toEqual([]);
      expect(await rows("decisions")).toEqual([]);
      expect((await rows("all")).length).toBe(34); // every import record of both Datanets
      const [a] = await ids(ws, "notes");
      const [owner] = await ws.rows<{ contributor: string }>("select contributor from contributions where id = ?", [a!]);
      await decide(ws, { ids: [a!], verdict: "keep", validator: "ann", reason: "fine" });
      const status = await pipelineStatus(ws, p);
      expect(status.map((c) => [c.cell, c.state, c.reason])).toEqual([
        ["decisions", "stale", expect.stringMatching(/^the validation trail of notes changed/)],
        ["all", "stale", expect.stringMatching(/^the validation trail of notes, other changed/)],
      ]);
      expect((await runPipeline(ws, p)).ran.sort()).toEqual(["all", "decisions"]);
      // A keep: the status it kept is the one before it (the import's approval).
      expect(await rows("decisions")).toEqual([{ contribution: a, contributor: owner!.contributor, validator: "ann", previous: "approved", verdict: "approved", reason: "fine" }]);
      // A decision on another Datanet leaves this one's trail as it was.
      await decide(ws, { ids: [(await ids(ws, "other"))[0]!], verdict: "rejected", validator: "ann", reason: "r" });
      expect((await pipelineStatus(ws, p)).map((c) => c.state)).toEqual(["fresh", "stale"]);
      expect(() => validations([])).toThrow(/at least one Datanet/);
    } finally {
      ws.close();
    }
  });

  it("is all or nothing and names the bad id", async () => {
    const ws = await tempWorkspace();
    try {
      await smallDatanet(ws, "notes");
      const [a] = await ids(ws, "notes");
      const before = await snapshot(ws);
      await expect(decide(ws, { ids: [a!, "ffffffffffff"], verdict: "rejected", validator: "ann", reason: "r" }))
        .rejects.toThrow(/no contribution matches id "ffffffffffff"/);
      await expect(decide(ws, { ids: ["abc"], verdict: "rejected", validator: "ann", reason: "r" })).rejects.toThrow(/at least 8/);
      await expect(decide(ws, { ids: [a!], verdict: "rejected", validator: "ann", reason: "  " })).rejects.toThrow(/needs a reason/);
      expect(await snapshot(ws)).toBe(before);
    } finally {
      ws.close();
    }
  });

  it("resolves prefixes once each and checks the Datanet named", async () => {
    const ws = await tempWorkspace();
    try {
      await smallDatanet(ws, "notes");
      const all = await ids(ws, "notes");
      const resolved = await resolveContributionIds(ws, [all[0]!.slice(0, 8), all[0]!]);
      expect(resolved).toEqual([{ datanet: "notes", id: all[0], status: "approved" }]); // each once
      await expect(resolveContributionIds(ws, [all[0]!], "ntoes")).rejects.toThrow(/unknown Datanet "ntoes" \(did you mean "notes"\? known: notes\)/);
      await expect(resolveContributionIds(ws, [all[0]!], "nope")).rejects.toThrow(/unknown Datanet "nope" \(known: notes\)/);
    } finally {
      ws.close();
    }
  });

  it("finds a full id in every Datanet that holds the same content, and decides a bulk selection in one go", async () => {
    const ws = await tempWorkspace();
    try {
      const rows = Array.from({ length: 300 }, (_, i) => ({ text: `shared row ${i}`, label: "a", contributor: "c", submittedAt: new Date("2024-01-01T00:00:00Z"), source: `s#${i}` }));
      for (const name of ["a", "b"]) {
        await ingest(ws, { name, kind: "text", description: name, source: "test", contributorRule: "test", splitSeed: 0, testFraction: 0.3 }, rows, {
          mode: "create", status: "approved", validator: "test", importer: "test@1",
        });
      }
      const all = await ids(ws, "a");
      await expect(resolveContributionIds(ws, [all[0]!])).rejects.toThrow(/matches 2 contributions: [0-9a-f]{64} \(a, approved\), [0-9a-f]{64} \(b, approved\); restrict to one Datanet/);
      expect(await resolveContributionIds(ws, [all[0]!], "b")).toEqual([{ datanet: "b", id: all[0], status: "approved" }]);
      // 300 full ids and a prefix of one of them, in Datanet b: each once, in the order given.
      const out = await decide(ws, { ids: [...all, all[5]!.slice(0, 10)], datanet: "b", verdict: "quarantined", validator: "ann", reason: "bulk" });
      expect(out.map((r) => r.id)).toEqual(all);
      expect(new Set(out.map((r) => Number(r.seq))).size).toBe(300);
      const trail = await ws.rows<{ contribution: string; seq: bigint }>("select contribution, seq from validations where validator = 'ann' order by seq");
      expect(trail.map((t) => [t.contribution, Number(t.seq)]).sort()).toEqual(out.map((r) => [r.id, Number(r.seq)]).sort());
      expect(await ws.rows("select datanet, status, count(*)::integer as n from contributions group by all order by all"))
        .toEqual([{ datanet: "a", status: "approved", n: 300 }, { datanet: "b", status: "quarantined", n: 300 }]);
    } finally {
      ws.close();
    }
  });
});

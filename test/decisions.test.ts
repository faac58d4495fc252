import { describe, expect, it } from "vitest";
import { decide, resolveContributionIds } from "../cells/datanet/decisions.ts";
import { tempWorkspace, snapshot } from "./helpers/workspace.ts";
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
      await expect(resolveContributionIds(ws, [all[0]!], "nope")).rejects.toThrow(/unknown Datanet "nope" \(known: notes\)/);
    } finally {
      ws.close();
    }
  });
});

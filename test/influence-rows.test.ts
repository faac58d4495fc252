// The tracin cell stages its rows kept apart (heads, models, cited contributions, group names,
// numbers per row) and joins them back: the table must be, row for row and type for type, the one
// it wrote when every row carried everything.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { influenceRows, stageInfluenceRows, traceCall } from "../cells/attribution/influence-rows.ts";
import { openWorkspace, type Workspace } from "../cells/store/workspace.ts";
import { tempDir } from "./helpers/workspace.ts";

const COLUMNS = ["query", "prediction", "confidence", "query_label", "level", "key", "contributor", "datanet", "score", "share", "rank", "text", "model_id", "mode", "checkpoints"];
const TYPES = ["VARCHAR", "VARCHAR", "DOUBLE", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "DOUBLE", "DOUBLE", "INTEGER", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR"];

const hex = (n: number) => fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: n, maxLength: n });
const name = fc.string({ unit: "grapheme", minLength: 1, maxLength: 8 });
const score = fc.double({ noNaN: true, noDefaultInfinity: true });
const call = fc.record({
  model: hex(8),
  mode: fc.constantFrom("exact", "projection"),
  checkpoints: fc.constantFrom("0,1,2,3", "3"),
  train: fc.array(fc.record({ id: hex(6), contributor: name, datanet: name, text: fc.option(fc.string({ unit: "grapheme", maxLength: 20 })) }), { minLength: 1, maxLength: 6 }),
  contributors: fc.uniqueArray(name, { minLength: 1, maxLength: 4 }),
  datanets: fc.uniqueArray(name, { minLength: 1, maxLength: 3 }),
  queries: fc.array(fc.record({
    id: fc.uuid(), prediction: fc.constantFrom("spam", "ham"), confidence: fc.double({ min: 0, max: 1, noNaN: true }), label: fc.option(fc.constantFrom("spam", "ham")),
    top: fc.array(fc.tuple(fc.nat(), score), { maxLength: 4 }), groups: fc.array(fc.tuple(fc.nat(), score, fc.option(fc.double({ min: 0, max: 1, noNaN: true }))), { maxLength: 4 }),
  }), { maxLength: 4 }),
});

describe("the influence table's rows, staged apart", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await openWorkspace({ home: tempDir() });
  });
  afterAll(() => ws.close());

  it("join back into the rows each would have carried whole", async () => {
    await fc.assert(fc.asyncProperty(fc.array(call, { maxLength: 3 }), async (calls) => {
      const rows = influenceRows();
      const want: unknown[][] = [];
      for (const c of calls) {
        const traced = traceCall(rows, { modelId: c.model, mode: c.mode, checkpoints: c.checkpoints, contributors: c.contributors, datanets: c.datanets });
        const cited = new Set<number>();
        for (const q of c.queries) {
          const head = traced.head(q.id, q.prediction, q.confidence, q.label);
          const common = [q.id, q.prediction, q.confidence, q.label];
          const tail = [c.model, c.mode, c.checkpoints];
          q.top.forEach(([i, s], r) => {
            const t = i % c.train.length, ref = c.train[t]!;
            traced.contribution(head, t, s, r + 1);
            cited.add(t);
            want.push([...common, "contribution", ref.id, ref.contributor, ref.datanet, s, null, r + 1, ref.text ?? "", ...tail]);
          });
          q.groups.forEach(([i, s, share], r) => {
            const level = i % 2 ? "contributor" : "datanet";
            const names = level === "contributor" ? c.contributors : c.datanets;
            const g = names[i % names.length]!;
            traced.group(head, level, g, s, share, r + 1);
            want.push([...common, level, g, level === "contributor" ? g : null, level === "datanet" ? g : null, s, share, r + 1, null, ...tail]);
          });
        }
        // A cited contribution without a quoted text is quoted as "" (the cell's snippets map may lack it).
        for (const t of cited) if (c.train[t]!.text !== null) traced.cite(t, c.train[t]!.id, c.train[t]!.contributor, c.train[t]!.datanet, c.train[t]!.text!);
        for (const t of cited) if (c.train[t]!.text === null) traced.cite(t, c.train[t]!.id, c.train[t]!.contributor, c.train[t]!.datanet, "");
      }
      await stageInfluenceRows(ws, "__t_influence", rows);
      const described = await ws.rows<{ column_name: string; column_type: string }>("describe __t_influence");
      expect(described.map((d) => [d.column_name, d.column_type])).toEqual(COLUMNS.map((c, i) => [c, TYPES[i]]));
      const got = (await ws.connection.runAndReadAll(`select ${COLUMNS.map((c) => `"${c}"`).join(", ")} from __t_influence`)).getRowsJS();
      // -0 goes through JSON as 0, as it did when rows were staged whole.
      const norm = (rs: unknown[][]) => rs.map((r) => JSON.stringify(r.map((v) => (typeof v === "number" ? v + 0 : v)))).sort();
      expect(norm(got)).toEqual(norm(want));
    }), { numRuns: 60, seed: 20261203 });
  }, 120_000);
});

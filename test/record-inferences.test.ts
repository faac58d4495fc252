// The usage ledger records a batch of inferences in a few statements; what it writes, returns and
// refuses must be what recording them one by one (a lookup and an insert each, as it once did)
// gives: replays within a batch and across batches, ids reused with other facts, closed epochs,
// fees past 2^53, any confidence, text of any script.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { payloadOf, recordInferences, type InferenceRecord } from "../cells/rewards/ledger.ts";
import { openWorkspace, type Workspace } from "../cells/store/workspace.ts";
import { tempDir } from "./helpers/workspace.ts";

/** The ledger's rule applied one record at a time, into `inferences_ref`. */
async function oneByOne(ws: Workspace, records: readonly InferenceRecord[]): Promise<{ added: number; replayed: number; recorded: boolean[] }> {
  if (records.some((r) => r.fee < 0n)) throw new Error("an inference fee cannot be negative");
  return ws.transaction(async () => {
    let added = 0, replayed = 0;
    const recorded: boolean[] = [];
    for (const r of records) {
      const payload = payloadOf(r.payload);
      const [existing] = await ws.rows<{ model_id: string; payload_sha256: string; fee: bigint; caller: string }>(
        "select model_id, payload_sha256, fee, caller from inferences_ref where id = ?", [r.id]);
      if (existing) {
        const differs = existing.model_id !== r.modelId ? "model" : existing.payload_sha256 !== payload.sha256 ? "payload"
          : BigInt(existing.fee) !== r.fee ? "fee" : existing.caller !== r.caller ? "caller" : null;
        if (differs) throw new Error(`inference ${r.id} is already recorded with a different ${differs}; an inference id names one execution`);
        replayed++;
        recorded.push(false);
        continue;
      }
      if (r.pipeline === "p" && r.epoch === "closed") throw new Error(`epoch closed of pipeline p was closed`);
      await ws.run(
        `insert into inferences_ref values (?, ?, ?, ?, ?, ?, ?, ?, ?::hugeint, ?, ?, ?, ?::timestamp)`,
        [r.id, r.pipeline, r.modelId, r.modelKind, payload.json, payload.sha256, r.prediction, r.confidence, r.fee.toString(), r.caller, r.epoch, r.source,
          r.executedAt.toISOString().replace("T", " ").replace("Z", "")]);
      added++;
      recorded.push(true);
    }
    return { added, replayed, recorded };
  });
}

/** A call's outcome, with the message cut to what both paths say (the closed-epoch text names who closed it). */
async function outcome(f: () => Promise<{ added: number; replayed: number; recorded: boolean[] }>): Promise<string> {
  try {
    const { added, replayed, recorded } = await f();
    return JSON.stringify({ added, replayed, recorded });
  } catch (err) {
    return (err as Error).message.replace(/ was closed.*/s, " was closed");
  }
}

const table = (ws: Workspace, name: string) => ws.rows<{ r: string }>(`select to_json(t)::varchar as r from ${name} t order by id`).then((rs) => rs.map((x) => x.r));

describe("recordInferences", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await openWorkspace({ home: tempDir() });
    await ws.run("create table inferences_ref as select * from inferences limit 0");
    await ws.run("insert into epoch_closures values ('p', 'closed', '2026-11-30 00:00:00', 'curator', 0, 0, 0, 'root')");
  });
  afterAll(() => ws.close());

  it("writes, returns and refuses what recording one by one does", async () => {
    const text = fc.oneof(fc.string({ unit: "grapheme", maxLength: 12 }), fc.constantFrom("", "Ünïcödé 😀 \"quoted\" \\ back", "日本語のメール", "line\nbreak\ttab"));
    const record: fc.Arbitrary<InferenceRecord> = fc.record({
      id: fc.constantFrom("a", "b", "c", "d", "e", "f"),
      pipeline: fc.constantFrom("p", "q", null),
      modelId: fc.constantFrom("m1", "m2"),
      modelKind: fc.constant("adapter"),
      payload: fc.oneof(fc.record({ text }), fc.record({ title: text, text }), fc.record({ features: fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { maxLength: 3 }).map((a) => Float32Array.from(a)) })),
      prediction: text,
      confidence: fc.double({ min: 0, max: 1, noNaN: true }),
      fee: fc.oneof(fc.constantFrom(0n, 5n, 2n ** 53n + 1n), fc.bigInt({ min: 0n, max: 10n ** 36n })),
      caller: fc.constantFrom("t", "u", "agent:ü"),
      epoch: fc.constantFrom("e1", "e2", "closed"),
      source: fc.constantFrom("api", "cli"),
      executedAt: fc.date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2100-01-01T00:00:00Z"), noInvalidDate: true }),
    });
    // Batches that reuse earlier records' facts, so replays (not only refusals) come up often.
    const batches = fc.array(fc.array(fc.oneof(record, fc.nat()), { maxLength: 8 }), { minLength: 1, maxLength: 4 });
    await fc.assert(fc.asyncProperty(batches, async (raw) => {
      await ws.run("delete from inferences");
      await ws.run("delete from inferences_ref");
      const seen: InferenceRecord[] = [];
      for (const batch of raw) {
        const records = batch.map((x) => (typeof x === "number" ? seen[x % Math.max(seen.length, 1)] : x)).filter((r): r is InferenceRecord => r !== undefined);
        seen.push(...records);
        const got = await outcome(() => recordInferences(ws, records));
        const want = await outcome(() => oneByOne(ws, records));
        expect(got).toBe(want);
        expect(await table(ws, "inferences")).toEqual(await table(ws, "inferences_ref"));
      }
    }), { numRuns: 80, seed: 20261203 });
  }, 120_000);

  it("refuses a replay with other facts within one batch, writing nothing", async () => {
    await ws.run("delete from inferences");
    const r: InferenceRecord = { id: "x", pipeline: "q", modelId: "m1", modelKind: "adapter", payload: { text: "hello" }, prediction: "ham", confidence: 0.75,
      fee: 3n, caller: "t", epoch: "e1", source: "api", executedAt: new Date("2026-12-01T10:00:00.123Z") };
    expect(await recordInferences(ws, [r, r, { ...r, id: "y" }])).toEqual({ added: 2, replayed: 1, recorded: [true, false, true] });
    await expect(recordInferences(ws, [{ ...r, id: "z" }, { ...r, id: "z", fee: 4n }])).rejects.toThrow("inference z is already recorded with a different fee");
    expect((await ws.rows<{ id: string }>("select id from inferences order by id")).map((x) => x.id)).toEqual(["x", "y"]);
    const [row] = await ws.rows<{ confidence: number; fee: bigint; at: string }>("select confidence, fee, strftime(executed_at, '%Y-%m-%dT%H:%M:%S.%g') as at from inferences where id = 'x'");
    expect(row).toEqual({ confidence: 0.75, fee: 3n, at: "2026-12-01T10:00:00.123" });
  });
});

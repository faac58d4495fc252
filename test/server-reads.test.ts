import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ServerReads } from "../notebooks/runtime/server-reads.ts";

describe("which server queries a new output touches", () => {
  it("touches the queries whose answers read it, over all their answers, and those still being asked", () => {
    const reads = new ServerReads();
    expect(reads.touched("usage")).toEqual([]);
    reads.ask("list")(["usage"]);
    const agreement = reads.ask("agreement");
    expect(reads.touched("receipts")).toEqual(["agreement"]); // asked, not answered: its answer may predate the change
    agreement(["influence", "influence_last_layer"]);
    agreement(["receipts"]); // answered once: a second call is ignored
    reads.ask("agreement")(["influence", "influence_last_checkpoint"]); // the table named at run time moved
    expect(reads.touched("usage")).toEqual(["list"]);
    expect(reads.touched("receipts")).toEqual([]);
    expect(reads.touched("influence_last_layer")).toEqual(["agreement"]);
    expect(reads.touched("influence_last_checkpoint")).toEqual(["agreement"]);
    const failed = reads.ask("receiptOf");
    failed(null);
    expect(reads.touched("receipts")).toEqual([]);
  });

  it("agrees with a log of every ask and answer (property)", () => {
    const step = fc.oneof(
      fc.record({ ask: fc.constantFrom("a", "b", "c") }),
      fc.record({ answer: fc.nat(20), read: fc.option(fc.subarray(["usage", "influence", "receipts", "rewards"]), { nil: null }) }),
    );
    fc.assert(fc.property(fc.array(step, { maxLength: 40 }), fc.constantFrom("usage", "influence", "receipts", "rewards"), (steps, cell) => {
      const reads = new ServerReads();
      const open: { key: string; answer: (r: readonly string[] | null) => void; done: boolean }[] = [];
      const log: { key: string; read: readonly string[] | null }[] = [];
      for (const s of steps) {
        if ("ask" in s) open.push({ key: s.ask, answer: reads.ask(s.ask), done: false });
        else if (open.length) {
          const o = open[s.answer % open.length]!;
          o.answer(s.read);
          if (!o.done) log.push({ key: o.key, read: s.read });
          o.done = true;
        }
      }
      const expected = new Set([...open.filter((o) => !o.done).map((o) => o.key), ...log.filter((l) => l.read?.includes(cell)).map((l) => l.key)]);
      expect(reads.touched(cell).sort()).toEqual([...expected].sort());
    }), { numRuns: 300, seed: 11 });
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dictionary, Float64, Int32, Table, Utf8, tableToIPC, vectorFromArray, type Vector } from "apache-arrow";
import { PageBinder } from "../cells/notebooks/page-check.ts";

// Tables as a static site ships them: dictionary-encoded strings, amounts as exact text.
const words = (values: string[]) => vectorFromArray(values, new Dictionary(new Utf8(), new Int32()));
const ipc = (columns: Record<string, Vector>) => tableToIPC(new Table(columns), "stream");
const influence = (extra: Record<string, Vector> = {}) => ipc({
  query: words(["q1", "q1"]), level: words(["contribution", "contributor"]), key: words(["c1", "alice"]),
  contributor: words(["alice", "alice"]), score: vectorFromArray([0.5, 0.5], new Float64()), rank: vectorFromArray([1, 1], new Int32()), ...extra,
});
const receiptsWhole = ipc({ query: words(["q1"]), receipt_hash: vectorFromArray(["h"], new Utf8()), model_id: words(["m"]), receipt: vectorFromArray(["{}"], new Utf8()) });
const receiptsShipped = ipc({ query: words(["q1"]), receipt_hash: vectorFromArray(["h"], new Utf8()) });
const rewards = ipc({ recipient: words(["alice"]), amount: vectorFromArray(["0.001"], new Utf8()) });

/** A query as the transform gives it: its literal parts around each `${…}`. */
const q = (strings: TemplateStringsArray, ...values: unknown[]) => [...strings].slice(0, values.length + 1);

describe("a static build's check of the queries it leaves to the page (DuckDB-wasm, bound over the shipped schemas)", () => {
  let binder: PageBinder;
  beforeAll(async () => {
    binder = await PageBinder.open();
    binder.register("influence", influence());
    binder.register("influence_last_layer", influence());
    binder.register("train", ipc({ id: vectorFromArray(["c1"], new Utf8()), text: vectorFromArray(["hi"], new Utf8()) }));
    binder.register("receipts", receiptsShipped, receiptsWhole);
    binder.register("rewards", rewards);
  }, 60_000);
  afterAll(() => binder?.close());

  it("binds a query over the columns shipped, each value as NULL (a list's unnest too)", () => {
    expect(binder.check({ parts: q`select key, score from influence where query = ${1} and contributor in (select unnest(${2})) limit ${3}`, candidates: [] })).toEqual({ status: "binds" });
    expect(binder.check({ parts: q`select receipt_hash from receipts where query = ${1}`, candidates: [] })).toEqual({ status: "binds" });
  });

  it("says when a column the query reads is one the site leaves out, and which table's", () => {
    expect(binder.check({ parts: q`select receipt_hash, model_id from receipts where query = ${1}`, candidates: [] }))
      .toEqual({ status: "projection", tables: ["receipts"], message: expect.stringMatching(/^Binder Error: Referenced column "model_id" not found/) });
  });

  it("says what fails over every column too: a typo, a type the page does not have, a table the pipeline lacks", () => {
    expect(binder.check({ parts: q`select contributer from influence where query = ${1}`, candidates: [] }))
      .toEqual({ status: "fails", message: expect.stringMatching(/Referenced column "contributer" not found/) });
    // Amounts come to the page as exact text: summing them there needs a cast.
    expect(binder.check({ parts: q`select sum(amount) from rewards where recipient = ${1}`, candidates: [] }))
      .toEqual({ status: "fails", message: expect.stringMatching(/^Binder Error: No function matches .*sum\(VARCHAR\)/) });
    expect(binder.check({ parts: q`select sum(amount::decimal(38, 18)) from rewards where recipient = ${1}`, candidates: [] })).toEqual({ status: "binds" });
    expect(binder.check({ parts: q`select * from penalties where recipient = ${1}`, candidates: [] }))
      .toEqual({ status: "fails", message: expect.stringMatching(/^Catalog Error: Table with name penalties does not exist/) });
  });

  it("binds a table named at run time as each cell the front matter names, and one that fits will do", () => {
    // Twice in one query, beside fixed tables and values (the explorer's agreement on a pick).
    const agreement = q`with a as (select key from influence where query = ${1}), b as (select key from ${2} where level = 'contribution' and query = ${3})
      select count(b.key) from a left join b using (key) where exists (select 1 from ${4} where query = ${5})`;
    expect(binder.check({ parts: agreement, candidates: ["influence", "influence_last_layer"] })).toEqual({ status: "binds" });
    // train has no `level`: it fits no query over a tracin table, and need not.
    expect(binder.check({ parts: agreement, candidates: ["train", "influence_last_layer"] })).toEqual({ status: "binds" });
    expect(binder.check({ parts: q`select contributer from ${1} where query = ${2}`, candidates: ["influence", "train"] }))
      .toEqual({ status: "fails", message: expect.stringMatching(/"contributer" not found .* \(with cellTable\("influence"\), nor with the 1 other table its front matter names\)$/) });
    expect(binder.check({ parts: q`select key from ${1}`, candidates: [] }))
      .toEqual({ status: "unchecked", message: expect.stringMatching(/^it names a table at run time/) });
  });

  it("forgets one pipeline's tables before the next registers its own", () => {
    binder.reset();
    expect(binder.check({ parts: q`select key from influence where query = ${1}`, candidates: [] }))
      .toEqual({ status: "fails", message: expect.stringMatching(/^Catalog Error: Table with name influence does not exist/) });
    binder.register("influence", influence({ mode: words(["exact", "exact"]) }));
    expect(binder.check({ parts: q`select mode from influence where query = ${1}`, candidates: [] })).toEqual({ status: "binds" });
  });
});

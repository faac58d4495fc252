import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { penaltyRecords, pipeline, runPipeline, type GraphEvent } from "../cells/index.ts";
import payPipeline from "./fixtures/pay.pipeline.ts";
import { ModelServer } from "../cells/factory/serve.ts";
import { infer } from "../cells/rewards/ledger.ts";
import { decide } from "../cells/datanet/decisions.ts";
import { exactIntegers } from "../cells/rewards/split.ts";
import { exactScale, scopeNets } from "../cells/rewards/penalties.ts";
import { stageRows } from "../cells/store/stage.ts";
import { statementOf } from "../cells/rewards/statement.ts";
import { formatAmount } from "../cells/rewards/amounts.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { modelOfCell, outputOf, tempWorkspace } from "./helpers/workspace.ts";
import { payWorkspace } from "./helpers/pay.ts";

/** Everything the split writes, less the times it wrote it. */
async function written(ws: Workspace) {
  return {
    lines: await ws.rows("select pipeline, policy, epoch, inference_id, receipt_hash, recipient, role, amount::varchar as amount, reason from rewards order by all"),
    statement: await ws.rows("select pipeline, policy, epoch, recipient, role, amount::varchar as amount, inferences, reason from settlements order by all"),
    penalties: await ws.rows("select pipeline, epoch, model_id, contributor, net_influence, record from reputation order by all"),
    scopes: await ws.rows("select pipeline, epoch, model_id, inferences, penalised from penalty_scopes order by all"),
  };
}

/** Run the pay pipeline; the rewards cell's log lines. */
async function settle(ws: Workspace, force = false): Promise<string[]> {
  const logs: string[] = [];
  const run = await runPipeline(ws, payPipeline, {
    ...(force ? { cell: "rewards", force: true } : {}),
    onEvent: (e: GraphEvent) => { if (e.event === "cell-log" && e.cell === "rewards") logs.push(e.message); },
  });
  expect(run.failed).toEqual([]);
  return logs;
}

/** After an incremental run: splitting every inference again from nothing writes exactly the same. */
async function sameAsSplittingEverything(ws: Workspace) {
  const incremental = await written(ws);
  // A run archives the receipts its new lines cite; the lines it keeps had theirs archived when written.
  expect(await ws.rows("select distinct receipt_hash from rewards where receipt_hash not in (select receipt_hash from attribution_receipts)")).toEqual([]);
  const forced = await settle(ws, true);
  expect(forced.join("\n")).toContain("split (a forced run splits every inference again)");
  expect(await written(ws)).toEqual(incremental);
}

describe("settling only what changed", () => {
  // Contributors by label (spam-0, spam-1, ham-0, ham-1): which side an epoch's inferences ask
  // for decides whose net is negative, so penalties move as the epoch fills.
  let ws: Workspace;
  let server: ModelServer;
  let model: string;
  const pay = (texts: string[], ids: string[]) =>
    infer(ws, server, model, texts.map((text) => ({ text })), { fee: 1000n, caller: "cli:kate", pipeline: "pay", source: "cli", ids, epoch: "e9" });
  beforeAll(async () => {
    ws = await payWorkspace(payPipeline, { contributorsByLabel: true });
    server = new ModelServer(ws.home);
    model = await modelOfCell(ws, "pay", "model");
  }, 120_000);
  afterAll(() => {
    server?.dispose();
    ws?.close();
  });

  it("splits a newly paid inference alone and keeps every other line as it was", async () => {
    await pay(["casino winner pills tonight", "discount offer winner casino", "pills discount offer now"], ["s1", "s2", "s3"]);
    const log = (await settle(ws)).join("\n");
    expect(log).toContain("40 inferences keep the lines an earlier run split for them (receipt unchanged, no approval since, no penalty moved); 3 split now");
    await sameAsSplittingEverything(ws);
    // Lines that do not cite the inference's current receipt (as after a trace that changed it) are split again.
    const cites = async () => ws.rows("select distinct receipt_hash from rewards where inference_id = 's2'");
    const receipt = await cites();
    await ws.run("update rewards set receipt_hash = 'stale' where inference_id = 's2'");
    await pay(["winner casino offer"], ["s4"]);
    expect((await settle(ws)).join("\n")).toContain("42 inferences keep the lines an earlier run split for them (receipt unchanged, no approval since, no penalty moved); 2 split now");
    expect(await cites()).toEqual(receipt);
    await sameAsSplittingEverything(ws);
  }, 120_000);

  it("splits again the inferences a moved penalty touches", async () => {
    const penalised = async () => (await ws.rows<{ contributor: string }>("select contributor from reputation where epoch = 'e9' order by 1")).map((r) => r.contributor);
    expect(await penalised()).toEqual(["ham-0", "ham-1"]);
    // Ham asked for, more often than spam: the nets change sign, so the spam inferences paid
    // spam-0 and spam-1, now penalised, and the penalty on ham-0 and ham-1 is lifted.
    const ham = (await ws.rows<{ text: string }>("select text from contributions where label = 'ham' and split = 'train' order by id limit 40")).map((r) => r.text);
    await pay(ham, ham.map((_, i) => `h${i}`));
    const log = (await settle(ws)).join("\n");
    expect(await penalised()).toEqual(["spam-0", "spam-1"]);
    expect(log).toMatch(/40 inferences keep the lines an earlier run split for them \(receipt unchanged, no approval since, none of 4 penalties that moved touches it\); 44 split now/);
    const paidSpam = await ws.rows("select * from rewards where epoch = 'e9' and recipient like 'spam-%' and role = 'contributor'");
    expect(paidSpam).toEqual([]);
    await sameAsSplittingEverything(ws);
    // The records as a table the notebooks read: exactly what the split recorded, with each scope's count.
    const withRecords = pipeline("pay", [...payPipeline.cells], { penalties: penaltyRecords({ rewards: "rewards" }) });
    expect((await runPipeline(ws, withRecords)).failed).toEqual([]);
    expect(await ws.rows("select epoch, model_id, contributor, net, inferences, record from read_parquet(?) order by all", [await outputOf(ws, "pay", "penalties")])).toEqual(
      await ws.rows(`select r.epoch, r.model_id, r.contributor, r.net_influence as net, s.inferences, r.record from reputation r
                     join penalty_scopes s using (pipeline, epoch, model_id) where r.pipeline = 'pay' order by all`));
    expect((await ws.rows<{ contributor: string }>("select contributor from read_parquet(?) where epoch = 'e9' order by 1", [await outputOf(ws, "pay", "penalties")])).map((r) => r.contributor))
      .toEqual(["spam-0", "spam-1"]);
  }, 120_000);

  it("splits again the inferences whose cited contributions a curator approved since", async () => {
    const [r] = await ws.rows<{ query: string; cited: string[] }>(
      `select r.inference_id as query, json_extract_string(a.receipt, '$.top_contributions[*].id') as cited
       from rewards r join attribution_receipts a using (receipt_hash) where r.inference_id = 's1' limit 1`);
    const id = r!.cited[0]!;
    const citing = await ws.rows<{ n: bigint }>(
      `select count(distinct r.inference_id) as n from rewards r join attribution_receipts a using (receipt_hash)
       where r.pipeline = 'pay' and list_contains(json_extract_string(a.receipt, '$.top_contributions[*].id'), ?)`, [id]);
    await decide(ws, { ids: [id], verdict: "keep", validator: "curator:lee", reason: "reviewed" });
    const log = (await settle(ws)).join("\n");
    const n = Number(citing[0]!.n);
    expect(log).toContain(`${84 - n} inferences keep the lines an earlier run split for them (receipt unchanged, none of 1 contributions approved since cited, no penalty moved); ${n} split now`);
    const lee = await ws.rows<{ n: bigint }>("select count(distinct inference_id) as n from rewards where recipient = 'curator:lee'");
    expect(Number(lee[0]!.n)).toBe(n);
    await sameAsSplittingEverything(ws);
  }, 120_000);
});

describe("a scope's net, summed in DuckDB", () => {
  it("has the sign of the exact sum of its scores, whatever their sizes and order", async () => {
    const ws = await tempWorkspace();
    try {
      const score = fc.oneof(
        fc.double({ min: -1e3, max: 1e3, noNaN: true, noDefaultInfinity: true }),
        fc.double({ min: -1e-6, max: 1e-6, noNaN: true, noDefaultInfinity: true }),
        fc.constantFrom(1e-9, -1e-9, 0.1, -0.1, 0.2, -0.3),
      );
      const netsOf = async (rows: [number, number][]) => {
        await stageRows(ws, "__t_split", [["id", "VARCHAR"], ["epoch", "VARCHAR"], ["model_id", "VARCHAR"]], rows.map((_, i) => [`q${i}`, "e", "m"]));
        await stageRows(ws, "__t_influence", [["query", "VARCHAR"], ["level", "VARCHAR"], ["key", "VARCHAR"], ["score", "DOUBLE"]],
          rows.map(([c, s], i) => [`q${i}`, "contributor", `c${c}`, s]));
        return (await scopeNets(ws, "__t_split", "__t_influence")).get("e\u0000m")!;
      };
      await fc.assert(fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), score), { minLength: 1, maxLength: 40 }), async (rows) => {
        const nets = await netsOf(rows);
        // The same rows in the other order: the same signs (a double sum could differ).
        const reversed = await netsOf([...rows].reverse());
        const scale = exactScale(Math.max(...rows.map(([, s]) => Math.abs(s))), rows.length);
        for (const c of [0, 1, 2]) {
          const mine = rows.filter(([k]) => k === c).map(([, s]) => s);
          if (!mine.length) continue;
          expect(reversed.get(`c${c}`)!.negative).toBe(nets.get(`c${c}`)!.negative);
          // Brute force: each score as DuckDB puts it on the decimal grid, summed as integers in JS.
          const grid = await ws.rows<{ d: string }>(`select (s::decimal(38, ${scale}))::varchar as d from unnest([${mine.map((v) => `${v}::double`).join(", ")}]) as t(s)`);
          const units = grid.reduce((sum, { d }) => sum + BigInt(d.replace(".", "")), 0n);
          expect(nets.get(`c${c}`)!.negative, `c${c}: ${mine.join(", ")}`).toBe(units < 0n);
          // And against the exact sum of the doubles themselves, wherever the grid cannot matter.
          const exact = exactIntegers([...mine, 2 ** -1074]);
          const sum = exact.slice(0, -1).reduce((a, b) => a + b, 0n);
          const resolution = BigInt(mine.length) * 2n ** 1074n / 10n ** BigInt(scale) + 1n; // n grid steps, in units of 2^-1074
          if (sum > resolution || -sum > resolution) expect(nets.get(`c${c}`)!.negative).toBe(sum < 0n);
        }
      }), { numRuns: 60, seed: 11 });
    } finally {
      ws.close();
    }
  }, 60_000);

  it("picks the most digits that cannot overflow, and refuses what cannot be summed", () => {
    expect(exactScale(0, 0)).toBe(36);
    expect(exactScale(1e-4, 600_000)).toBe(35);
    expect(exactScale(1e3, 1e6)).toBe(27);
    expect(() => exactScale(1e40, 10)).toThrow(/too large to sum exactly/);
    expect(() => exactScale(Infinity, 10)).toThrow(/too large to sum/);
  });
});

describe("the statement, summed in DuckDB", () => {
  it("totals each recipient's lines and quotes its largest, as a reference over the lines in JS does", async () => {
    const ws = await tempWorkspace();
    try {
      const line = fc.record({
        epoch: fc.constantFrom("e1", "e2"), inference: fc.constantFrom("i1", "i2", "i10", "x9", "A3", "b", "i3", "i4", "z", "q7"),
        recipient: fc.constantFrom("c0", "c1", "curator:kim"), role: fc.constantFrom("contributor", "validator"),
        amount: fc.oneof(fc.bigInt({ min: 1n, max: 20n }), fc.bigInt({ min: 1n, max: 10n ** 20n })),
      });
      await fc.assert(fc.asyncProperty(fc.uniqueArray(line, { selector: (l) => `${l.inference}/${l.recipient}/${l.role}`, minLength: 10, maxLength: 60 }), async (lines) => {
        await ws.run("delete from rewards");
        for (const l of lines) {
          await ws.run("insert into rewards values ('p', 'pol', ?, ?, ?, ?, ?, ?::hugeint, ?)", [l.epoch, l.inference, `r-${l.inference}`, l.recipient, l.role, l.amount.toString(), `why ${l.inference}`]);
        }
        const got = await statementOf(ws, "p", "pol", ["e1", "e2"], [{ id: "m".repeat(20), cell: "base" }]);
        // The reference: group in JS, largest amount first, then the lower inference id.
        const groups = new Map<string, typeof lines>();
        for (const l of lines) groups.set(`${l.epoch}/${l.recipient}/${l.role}`, [...(groups.get(`${l.epoch}/${l.recipient}/${l.role}`) ?? []), l]);
        const want: { epoch: string; recipient: string; role: string; amount: bigint; inferences: number; reason: string }[] = [...groups.values()].map((ls) => ({
          epoch: ls[0]!.epoch, recipient: ls[0]!.recipient, role: ls[0]!.role, amount: ls.reduce((a, l) => a + l.amount, 0n),
          inferences: new Set(ls.map((l) => l.inference)).size,
          reason: [...ls].sort((a, b) => (a.amount > b.amount ? -1 : a.amount < b.amount ? 1 : a.inference < b.inference ? -1 : 1)).slice(0, 3)
            .map((l) => `${formatAmount(l.amount)} from inference ${l.inference} (receipt r-${l.inference}): why ${l.inference}`).join("; "),
        }));
        for (const epoch of ["e1", "e2"]) want.push({ epoch, recipient: "model:mmmmmmmmmmmmmmmm", role: "model", amount: 0n, inferences: 0, reason: `base was never executed in epoch ${epoch}: nothing earns for existing` });
        const key = (x: { epoch: string; recipient: string; role: string }) => `${x.epoch}/${x.recipient}/${x.role}`;
        expect([...got].sort((a, b) => key(a).localeCompare(key(b)))).toEqual(want.sort((a, b) => key(a).localeCompare(key(b))));
      }), { numRuns: 60, seed: 5 });
    } finally {
      ws.close();
    }
  }, 60_000);
});

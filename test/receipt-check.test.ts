// `tracebook receipt`: a reviewer's check of one paid inference, from the ledger to the receipt.
import path from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkPayment } from "../cells/rewards/payment.ts";
import { ModelServer } from "../cells/factory/serve.ts";
import { infer } from "../cells/rewards/ledger.ts";
import { InputError } from "../cells/datanet/errors.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { payWorkspace } from "./helpers/pay.ts";
import { disagreement, type Receipt } from "../cells/attribution/recompute.ts";
import type { Explanation } from "../cells/attribution/explain.ts";

const BIN = path.resolve("bin/tracebook.js");

describe("checking one paid inference", () => {
  let ws: Workspace;
  let paid: string;
  beforeAll(async () => {
    ws = await payWorkspace();
    [{ id: paid }] = (await ws.rows<{ id: string }>("select inference_id as id from rewards where role = 'contributor' order by inference_id limit 1")) as [{ id: string }];
  }, 120_000);
  afterAll(() => ws?.close());

  const failed = (p: Awaited<ReturnType<typeof checkPayment>>) => p.checks.filter((c) => !c.ok).map((c) => c.name);

  it("follows the fee to the lines, the lines to the archived receipt, and the receipt back through TracIn", async () => {
    const p = await checkPayment(ws, paid.slice(0, 12), { recompute: true });
    expect(p.checks.map((c) => [c.name, c.ok])).toEqual([
      ["settled", true],
      ["the lines sum to the fee (policy default@1)", true],
      ["the receipt the lines cite is archived", true],
      ["the receipt's hash recomputes from its JSON", true],
      ["the receipt names this inference and the model that executed it", true],
      ["every contributor paid has a positive share in the receipt", true],
      ["TracIn run again matches the receipt", true],
    ]);
    expect(p.inference).toMatchObject({ id: paid, pipeline: "pay", source: "workload:pay.workload", fee: "1234" });
    expect(p.lines.reduce((s, l) => s + BigInt(l.amount), 0n)).toBe(1234n);
    expect(p.receipt!.body.query).toBe(paid);
  }, 60_000);

  it("fails on a doctored receipt, a doctored line, or a fee not settled yet", async () => {
    const [{ receipt_hash: hash, receipt }] = (await ws.rows<{ receipt_hash: string; receipt: string }>(
      "select a.receipt_hash, a.receipt from attribution_receipts a join rewards r using (receipt_hash) where r.inference_id = ? limit 1", [paid])) as [{ receipt_hash: string; receipt: string }];
    const doctored = JSON.parse(receipt) as { top_contributions: { score: number }[] };
    doctored.top_contributions[0]!.score *= 1.01;
    await ws.run("update attribution_receipts set receipt = ? where receipt_hash = ?", [JSON.stringify(doctored), hash]);
    expect(failed(await checkPayment(ws, paid, { recompute: true }))).toEqual(["the receipt's hash recomputes from its JSON", "TracIn run again matches the receipt"]);
    await ws.run("update attribution_receipts set receipt = ? where receipt_hash = ?", [receipt, hash]);

    await ws.run("update rewards set amount = amount + 1 where inference_id = ? and role = 'protocol'", [paid]);
    expect(failed(await checkPayment(ws, paid))).toEqual(["the lines sum to the fee (policy default@1)"]);
    await ws.run("update rewards set amount = amount - 1 where inference_id = ? and role = 'protocol'", [paid]);
    expect(failed(await checkPayment(ws, paid))).toEqual([]);

    const server = new ModelServer(ws.home);
    const [{ model_id }] = (await ws.rows<{ model_id: string }>("select model_id from inferences where id = ?", [paid])) as [{ model_id: string }];
    await infer(ws, server, model_id, [{ text: "casino winner pills" }], { fee: 5n, caller: "cli:kate", pipeline: "pay", source: "cli", ids: ["unsettled-1"], epoch: "e2" });
    server.dispose();
    const open = await checkPayment(ws, "unsettled-1");
    expect(open.checks).toEqual([{ name: "settled", ok: false, detail: "no reward line pays this fee yet: `tracebook run pay` settles it" }]);

    await expect(checkPayment(ws, "nothing-like-this")).rejects.toThrow(/no inference "nothing-like-this" in the usage ledger/);
    await expect(checkPayment(ws, "abc")).rejects.toThrow(InputError);
  }, 60_000);

  it("exits 0 when the payment checks out, 1 when it does not", () => {
    ws.close();
    const env = { ...process.env, TRACEBOOK_HOME: ws.home };
    const ok = spawnSync(process.execPath, [BIN, "receipt", paid.slice(0, 16)], { encoding: "utf8", env });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`Payment ${paid} checks out: 6 checks pass`));
    const open = spawnSync(process.execPath, [BIN, "receipt", "unsettled-1"], { encoding: "utf8", env });
    expect(open.status).toBe(1);
    expect(open.stdout).toMatch(/✗ settled: no reward line pays this fee yet/);
    const bad = spawnSync(process.execPath, [BIN, "receipt", "nope"], { encoding: "utf8", env });
    expect(bad.status).toBe(2);
  });
});

describe("a receipt against its recomputation", () => {
  const receipt: Receipt = {
    prediction: "spam",
    top_contributions: [{ id: "a".repeat(64), contributor: "c1", datanet: "d", score: 2e-5 }],
    contributor_shares: [{ contributor: "c1", score: 2e-5, share: 0.99967907 }, { contributor: "c2", score: 6.4e-9, share: 3.2093e-4 }],
    datanet_shares: [{ datanet: "d", score: 2e-5, share: 1 }],
  };
  const recomputed = (share2: number, score = 2e-5): Explanation => ({
    prediction: "spam", target: "spam", probabilities: [],
    proponents: [{ rank: 1, contribution: "a".repeat(64), contributor: "c1", datanet: "d", label: "spam", score, text: "" }], opponents: [],
    contributors: [{ name: "c1", score, share: 1 - share2 }, { name: "c2", score: 6.4e-9, share: share2 }],
    datanets: [{ name: "d", score, share: 1 }],
  });

  it("holds within float32's reach: scores to 1e-4 relative, shares to 1e-4 relative or a millionth of the pool", () => {
    // A tiny share 6e-8 apart (the TF.js and onnxruntime engines on a near-certain prediction).
    expect(disagreement(receipt, recomputed(3.2087e-4), 1)).toBeNull();
    expect(disagreement(receipt, recomputed(3.2093e-4, 2.0001e-5), 1)).toBeNull();
  });

  it("names what moved beyond that", () => {
    expect(disagreement(receipt, recomputed(3.5e-4), 1)).toMatch(/^contributor c2 share: receipt 0\.00032093, recomputed 0\.00035/);
    expect(disagreement(receipt, recomputed(3.2093e-4, 2.01e-5), 1)).toMatch(/^score of aaaaaaaa: receipt 0\.00002, recomputed 0\.0000201/);
  });
});

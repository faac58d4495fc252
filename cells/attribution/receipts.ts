import type { Cell } from "../graph/cell.ts";
import { checkOptions } from "../graph/options.ts";
import { receiptsOptions } from "./options.ts";
import { canonicalJson, sha256 } from "../graph/fingerprint.ts";
import { readManifest } from "../factory/store.ts";
import { stageRows } from "../store/stage.ts";
import { ATTRIBUTION_VERSION } from "./version.ts";
import { priorReceipts } from "./incremental.ts";
import { quoteLiteral } from "../store/export.ts";
import type { LossGradient } from "./factors.ts";
import { repeatedRows } from "../store/repeated-rows.ts";

export const RECEIPT_FORMAT = "tracebook.receipt/1";

/** How a receipt's loss gradient was computed: as it says, else as every receipt before attribution version 3 was. */
export function lossGradientOf(r: { attribution?: { loss_gradient?: string } }): LossGradient {
  return r.attribution?.loss_gradient === "summed" ? "summed" : "subtracted";
}

interface InfluenceRow {
  query: string; prediction: string; confidence: number; level: string; key: string; contributor: string | null;
  datanet: string | null; score: number; share: number | null; rank: number; model_id: string; mode: string; checkpoints: string;
}

/**
 * One attribution receipt per query: the model and the checkpoints the influence went through
 * (with their learning rates and file hashes), the snapshot root, the top proponents, and the
 * contributor and Datanet shares. The receipt is canonical JSON; its hash is
 * sha256("tracebook.receipt/1\n" + receipt), so anyone holding the JSON can check it, and the
 * reward split cites the hash.
 */
export function receipts(p: { influence: string; top?: number }): Cell {
  checkOptions("receipts", receiptsOptions, p);
  const params = { top: 5, ...p };
  return {
    kind: "receipts",
    computes: false,
    version: ATTRIBUTION_VERSION,
    params,
    inputs: [p.influence],
    async run(ctx) {
      // Receipts of queries whose influence rows are as an earlier run read them are taken over;
      // only the others (newly paid inferences, above all) are written.
      const prior = await priorReceipts(ctx, { version: ATTRIBUTION_VERSION, paramsJson: canonicalJson(params), influence: p.influence });
      // What a receipt holds of its query's rows, read as such: the first row's (level, rank
      // order) prediction, model and method, once per query; then only the rows it lists (the top
      // contributions, the positive shares). Reading every row of 20,000 queries (1.5 million)
      // into JS took 12.7 s of a 26 s run, nearly all of it strings repeated on every row.
      const relation = ctx.inputs[p.influence]!.relation;
      const fresh = prior ? `query not in (select id from ${prior.reused})` : "true";
      const firstOf = (c: string) => `first(${c} order by level, rank) as ${c}`;
      const heads = await ctx.ws.rows<Pick<InfluenceRow, "query" | "prediction" | "confidence" | "model_id" | "mode" | "checkpoints">>(
        `select query, ${["prediction", "confidence", "model_id", "mode", "checkpoints"].map(firstOf).join(", ")}
         from ${relation} where ${fresh} group by query order by query`);
      // Hundreds of thousands of rows when many inferences are new (461,069 for 20,000): their
      // strings repeat, decoded once each (repeatedRows), not once a row (4.8 s of the cell's 11).
      const listed = await repeatedRows<Pick<InfluenceRow, "query" | "level" | "key" | "contributor" | "datanet" | "score" | "share" | "rank">>(ctx.ws,
        `select query, level, key, contributor, datanet, score, share, rank from ${relation}
         where ${fresh} and ((level = 'contribution' and rank > 0 and rank <= ?) or (level in ('contributor', 'datanet') and share > 0))
         order by query, level, rank`, [params.top], ["query", "level", "key", "contributor", "datanet"]);
      const byQuery = new Map<string, typeof listed>();
      for (const r of listed) {
        const list = byQuery.get(r.query);
        if (list) list.push(r);
        else byQuery.set(r.query, [r]);
      }
      const manifests = new Map<string, ReturnType<typeof readManifest>>();
      const out: unknown[][] = [];
      for (const first of heads) {
        const rs = byQuery.get(first.query) ?? [];
        const query = first.query;
        const m = manifests.get(first.model_id) ?? readManifest(ctx.ws.home, first.model_id);
        manifests.set(m.id, m);
        const used = new Set(first.checkpoints.split(",").map(Number));
        const shares = (level: string) => rs.filter((r) => r.level === level && r.share !== null && r.share > 0)
          .map((r) => ({ [level]: r.key, score: r.score, share: r.share }));
        const receipt = {
          format: RECEIPT_FORMAT, query, prediction: first.prediction, confidence: first.confidence,
          model: { id: m.id, kind: m.kind, base: m.base, snapshot_root: m.snapshot?.root ?? null, backend: m.backend.name },
          attribution: { method: "TracInCP", mode: first.mode, normalisation: "sum_k eta_k grad(z)·grad(z'); eta_k once, no 1/n", loss_gradient: "summed" },
          checkpoints: m.checkpoints.filter((c) => used.has(c.index)).map((c) => ({ index: c.index, learning_rate: c.learningRate, sha256: c.sha256 })),
          top_contributions: rs.filter((r) => r.level === "contribution" && r.rank > 0 && r.rank <= params.top)
            .map((r) => ({ id: r.key, contributor: r.contributor, datanet: r.datanet, score: r.score })),
          contributor_shares: shares("contributor"),
          datanet_shares: shares("datanet"),
        };
        const body = canonicalJson(receipt);
        out.push([query, m.id, first.prediction, sha256(`${RECEIPT_FORMAT}\n${body}`), body]);
      }
      const table = "__tracebook_receipts";
      await stageRows(ctx.ws, table, [["query", "VARCHAR"], ["model_id", "VARCHAR"], ["prediction", "VARCHAR"], ["receipt_hash", "VARCHAR"], ["receipt", "VARCHAR"]], out);
      if (prior) ctx.log(`${prior.count} receipts kept (their influence rows unchanged); ${out.length} written`);
      // The receipts kept are copied from the earlier output beside these (materialize).
      return { query: `select * from ${table} order by query`, groups: { column: "query", unchanged: prior ? { artifact: prior.artifact, keys: prior.reused } : undefined } };
    },
  };
}

/** Check a receipt: recompute its hash from its JSON. */
export function receiptHash(receiptJson: string): string {
  return receiptHashOf(JSON.parse(receiptJson));
}

/** The hash of a receipt already parsed (a reader that needs its fields too parses it once). */
export function receiptHashOf(receipt: unknown): string {
  return sha256(`${RECEIPT_FORMAT}\n${canonicalJson(receipt)}`);
}

/** The contributors a receipt gives a positive share: the only ones its fee may pay as contributors. Read defensively: the receipt may come from a file. */
export function sharedContributors(body: { contributor_shares?: { contributor?: string; share?: number | null }[] }): Set<string> {
  return new Set((body.contributor_shares ?? []).filter((s) => (s.share ?? 0) > 0 && s.contributor !== undefined).map((s) => s.contributor!));
}

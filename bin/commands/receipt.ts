import type { Command } from "commander";
import { withWorkspace } from "../cli.ts";
import { formatTable, toJson } from "../output.ts";
import { checkPayment } from "../../cells/rewards/payment.ts";
import { formatAmount } from "../../cells/rewards/amounts.ts";

/** `tracebook receipt <inference>`: a reviewer's check of one paid inference, from the ledger to the receipt. */
export function registerReceipt(program: Command): void {
  program
    .command("receipt")
    .description("check one paid inference end to end: its ledger record, the reward lines that split its fee, and the attribution receipt they cite")
    .argument("<inference>", "an inference id, or a unique prefix of at least 8 characters")
    .option("--recompute", "also run TracIn again on the recorded input, through the model the receipt names")
    .option("--json", "print the record, lines, receipt and checks as JSON")
    .action(async (ref: string, opts: { recompute?: boolean; json?: boolean }, command: Command) => {
      await withWorkspace(command, async (ws) => {
        const p = await checkPayment(ws, ref, { recompute: opts.recompute });
        if (opts.json) console.log(toJson(p));
        else {
          const i = p.inference;
          console.log(`Inference ${i.id}: pipeline ${i.pipeline ?? "(none)"}, model ${i.model_id.slice(0, 16)}, ${i.source}, caller ${i.caller}, epoch ${i.epoch}, ` +
            `executed ${i.executed_at}; predicted ${i.prediction}; fee ${formatAmount(BigInt(i.fee))}`);
          if (p.receipt) {
            const b = p.receipt.body;
            console.log(`Receipt ${p.receipt.hash}: top contributions ${b.top_contributions.map((c) => `${c.id.slice(0, 8)} (${c.contributor})`).join(", ")}; ` +
              `shares ${b.contributor_shares.filter((s) => s.share > 0).slice(0, 5).map((s) => `${s.contributor} ${(100 * s.share).toFixed(1)}%`).join(", ")}${b.contributor_shares.length > 5 ? ", …" : ""}`);
          }
          if (p.lines.length) {
            console.log(formatTable(p.lines.map((l) => ({ policy: l.policy, recipient: l.recipient, role: l.role, amount: formatAmount(BigInt(l.amount)), why: l.reason })), { maxCell: 90, maxRows: 200 }));
          }
          for (const c of p.checks) console.log(`${c.ok ? "✓" : "✗"} ${c.name}: ${c.detail}`);
          const failed = p.checks.filter((c) => !c.ok).length;
          console.log(failed ? `\nPayment ${i.id} does NOT check out: ${failed} of ${p.checks.length} checks failed` : `\nPayment ${i.id} checks out: ${p.checks.length} checks pass`);
        }
        if (!p.ok) process.exitCode = 1;
      });
    });
}

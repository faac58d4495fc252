import type { Workspace } from "../cells/store/workspace.ts";
import { formatAmount } from "../cells/rewards/amounts.ts";
import { plural } from "../cells/graph/plural.ts";

/** One line on how an inference's fee was split: the top contributors, how many recipients, the receipt. */
export async function settledLine(ws: Workspace, inference: string): Promise<string> {
  const lines = await ws.rows<{ recipient: string; role: string; amount: string; receipt_hash: string; epoch: string }>(
    "select recipient, role, amount::varchar as amount, receipt_hash, epoch from rewards where inference_id = ? order by amount::hugeint desc, recipient", [inference]);
  if (!lines.length) return `inference ${inference}: not settled`;
  const paid = lines.filter((l) => l.role === "contributor").slice(0, 3).map((l) => `${l.recipient} ${formatAmount(BigInt(l.amount))}`);
  return `inference ${inference} (epoch ${lines[0]!.epoch}): ${paid.length ? `${paid.join(", ")}, …` : "no contributor paid"}; ` +
    `${plural(lines.length, "recipient")} in all, receipt ${lines[0]!.receipt_hash.slice(0, 12)}`;
}

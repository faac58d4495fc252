import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { withWorkspace } from "../cli.ts";
import { toJson } from "../output.ts";
import { isPipelinePath, loadPipeline } from "../../cells/graph/loader.ts";
import { parseProof, rewardProof, verifyProof } from "../../cells/rewards/proof.ts";
import { formatAmount } from "../../cells/rewards/amounts.ts";
import { writeFileAtomic } from "../../cells/store/atomic.ts";
import { InputError } from "../../cells/datanet/errors.ts";

/**
 * `tracebook proof <pipeline> --recipient r --epoch e` (what one recipient was paid in a closed
 * epoch, with the Merkle path of each line to the epoch's root) and `tracebook proof verify
 * <file>` (check one with nothing but the file: no workspace).
 */
export function registerProof(program: Command): void {
  const proof = program
    .command("proof")
    .description("write what one recipient was paid in a closed epoch, each line with its Merkle path to the root the epoch was closed with and the receipts it cites, for the recipient to check alone")
    .argument("<pipeline>", "pipeline name or file")
    // Not requiredOption: commander would ask for them of `proof verify` too.
    .option("--recipient <name>", "whose lines: a contributor, curator:…, creator:…, protocol (required)")
    .option("--epoch <epoch>", "a closed epoch (required)")
    .option("--out <file>", "where the proof goes (default: <pipeline>-<epoch>-<recipient>.proof.json here)")
    // No --json here, as for `report`: `proof verify <file> --json` must reach `verify`.
    .action(async (name: string, opts: { recipient?: string; epoch?: string; out?: string }, command: Command) => {
      if (opts.recipient === undefined || opts.epoch === undefined) throw new InputError(`give --recipient <name> and --epoch <epoch> (a closed one)`);
      const { recipient, epoch } = opts as { recipient: string; epoch: string };
      const pipeline = isPipelinePath(name) ? (await loadPipeline(name)).pipeline.name : name;
      await withWorkspace(command, async (ws) => {
        const p = await rewardProof(ws, pipeline, recipient, epoch);
        const out = path.resolve(opts.out ?? `${pipeline}-${epoch}-${recipient}.proof.json`.replace(/[^\w.@-]+/g, "_"));
        await writeFileAtomic(out, `${JSON.stringify(p)}\n`);
        console.log(`${recipient} in closed epoch ${epoch} of ${pipeline}: ${formatAmount(BigInt(p.total))} over ${p.lines.length} lines, ` +
          `${Object.keys(p.receipts).length} receipts; root ${p.closure.lines_root} (${p.closure.lines} lines, closed at ${p.closure.closed_at} by ${p.closure.closed_by})`);
        console.log(`Wrote ${path.relative(process.cwd(), out) || out}. The recipient checks it alone, against the root published in the report:\n` +
          `  tracebook proof verify ${path.relative(process.cwd(), out) || out} --root ${p.closure.lines_root}`);
      });
    });

  proof
    .command("verify")
    .description("check a proof with nothing but the file (no workspace): its lines lead to the closure's root, the root is the one you hold, the receipts recompute; exit 1 when it does not hold")
    .argument("<file>", "a proof written by `tracebook proof`")
    .option("--root <hex>", "the epoch's root as published (the report, `tracebook rewards`): without it, only the proof's own root is checked")
    .option("--json", "print the checks as JSON")
    .action(async (file: string, opts: { root?: string; json?: boolean }) => {
      if (opts.root !== undefined && !/^[0-9a-f]{64}$/i.test(opts.root)) throw new InputError(`--root must be a sha256 (64 hex characters), got ${JSON.stringify(opts.root)}`);
      let text: string;
      try {
        text = fs.readFileSync(file, "utf8");
      } catch (err) {
        throw new InputError(`cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { file });
      }
      const p = parseProof(text, file);
      const v = verifyProof(p, { root: opts.root });
      if (opts.json) console.log(toJson({ ...v, pipeline: p.pipeline, epoch: p.epoch, recipient: p.recipient, total: p.total, root: p.closure.lines_root, root_compared: opts.root !== undefined }));
      else {
        for (const c of v.checks) console.log(`${c.ok ? "✓" : "✗"} ${c.name}: ${c.detail}`);
        const failed = v.checks.filter((c) => !c.ok).length;
        console.log(failed
          ? `\nThe proof does NOT hold: ${failed} of ${v.checks.length} checks failed`
          : `\n${p.recipient} was paid ${formatAmount(BigInt(p.total))} in closed epoch ${p.epoch} of ${p.pipeline}: ${v.checks.length} checks pass` +
            (opts.root === undefined ? ` (the root was not compared with one you hold: pass --root from the report)` : ""));
      }
      if (!v.ok) process.exitCode = 1;
    });
}

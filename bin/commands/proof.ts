import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { withWorkspace } from "../cli.ts";
import { formatTable, shortPath, toJson } from "../output.ts";
import { isPipelinePath, loadPipeline } from "../../cells/graph/loader.ts";
import { parseProof, rewardProofs, verifyProof, verifyProofSet, type ProofCheck, type RewardProof } from "../../cells/rewards/proof.ts";
import { sha256 } from "../../cells/graph/fingerprint.ts";
import { formatAmount } from "../../cells/rewards/amounts.ts";
import { writeFileAtomic } from "../../cells/store/atomic.ts";
import { InputError } from "../../cells/datanet/errors.ts";
import { publishedFor } from "../../reports/published.ts";
import { makeDir } from "../../cells/store/make-dir.ts";
import { plural } from "../../cells/graph/plural.ts";

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
    .option("--recipient <name>", "whose lines: a contributor, curator:…, creator:…, protocol")
    .option("--all", "a proof for every recipient the epoch paid, one file each in --out (a folder)")
    .option("--epoch <epoch>", "a closed epoch (required)")
    .option("--out <path>", "where the proof goes (default: <pipeline>-<epoch>-<recipient>.proof.json here; with --all, the folder <pipeline>-<epoch>-proofs)")
    // No --json here, as for `report`: `proof verify <file> --json` must reach `verify`.
    .action(async (name: string, opts: { recipient?: string; all?: boolean; epoch?: string; out?: string }, command: Command) => {
      if (opts.epoch === undefined) throw new InputError("give --epoch <epoch> (a closed one)");
      if ((opts.recipient === undefined) === !opts.all) throw new InputError("give --recipient <name>, or --all for every recipient the epoch paid");
      const epoch = opts.epoch;
      const pipeline = isPipelinePath(name) ? (await loadPipeline(name)).pipeline.name : name;
      await withWorkspace(command, async (ws) => {
        const proofs = await rewardProofs(ws, pipeline, epoch, opts.all ? "all" : [opts.recipient!]);
        const root = proofs[0]!.closure;
        if (!opts.all) {
          const p = proofs[0]!;
          const out = path.resolve(opts.out ?? slug(`${pipeline}-${epoch}-${p.recipient}.proof.json`));
          await writeFileAtomic(out, `${JSON.stringify(p)}\n`);
          console.log(`${p.recipient} in closed epoch ${epoch} of ${pipeline}: ${formatAmount(BigInt(p.total))} over ${p.lines.length} lines, ` +
            `${Object.keys(p.receipts).length} receipts; root ${root.lines_root} (${root.lines} lines, closed at ${root.closed_at} by ${root.closed_by})`);
          console.log(`Wrote ${shortPath(out)}. The recipient checks it alone, against a report of the epoch or the root it publishes:\n` +
            `  tracebook proof verify ${shortPath(out)} --report <report folder>    (or --root ${root.lines_root})`);
          return;
        }
        const dir = path.resolve(opts.out ?? slug(`${pipeline}-${epoch}-proofs`));
        makeDir(dir);
        // Two names may slug alike ("a:b", "a/b"): those get the start of their name's hash too.
        const slugs = proofs.map((p) => slug(p.recipient));
        const files = proofs.map((p, i) => path.join(dir, `${slugs.indexOf(slugs[i]!) === slugs.lastIndexOf(slugs[i]!) ? slugs[i] : `${slugs[i]}-${sha256(p.recipient).slice(0, 8)}`}.proof.json`));
        for (const [i, p] of proofs.entries()) await writeFileAtomic(files[i]!, `${JSON.stringify(p)}\n`);
        console.log(`Closed epoch ${epoch} of ${pipeline}: root ${root.lines_root} (${root.lines} lines, closed at ${root.closed_at} by ${root.closed_by}); a proof for each of ${plural(proofs.length, "recipient")} in ${shortPath(dir)}`);
        console.log(formatTable(proofs.map((p, i) => ({ recipient: p.recipient, lines: p.lines.length, paid: formatAmount(BigInt(p.total)), file: path.basename(files[i]!) })), { maxRows: 1000 }));
        console.log(`Each recipient checks its own: tracebook proof verify <file> --report <report folder>    (or --root ${root.lines_root})`);
      });
    });

  proof
    .command("verify")
    .description("check a proof with nothing but the file (no workspace): its lines lead to the closure's root, the root is the one you hold, the receipts recompute; a folder of them (`--all`): each, and that together they cover every line of the epoch once; exit 1 when it does not hold")
    .argument("<file>", "a proof written by `tracebook proof`, or a folder of the proofs `--all` wrote")
    .option("--root <hex>", "the epoch's root as published (the report, `tracebook rewards`): without it or --report, only the proof's own root is checked")
    .option("--report <dir>", "a report folder that covers the epoch: its root and the total it states for the recipient are checked (and that its report.json was not edited)")
    .option("--json", "print the checks as JSON")
    .action(async (file: string, opts: { root?: string; report?: string; json?: boolean }) => {
      if (opts.root !== undefined && !/^[0-9a-f]{64}$/i.test(opts.root)) throw new InputError(`--root must be a sha256 (64 hex characters), got ${JSON.stringify(opts.root)}`);
      const folder = fs.existsSync(file) && fs.statSync(file).isDirectory();
      const files = folder ? fs.readdirSync(file).filter((f) => f.endsWith(".proof.json")).sort().map((f) => path.join(file, f)) : [file];
      if (!files.length) throw new InputError("holds no .proof.json file", { file });
      const proofs = files.map((f) => parseProof(readText(f), f));
      const results = proofs.map((p) => ({ p, ...checkOne(p, opts) }));
      const together = folder ? verifyProofSet(proofs) : [];
      const ok = results.every((r) => r.ok) && together.every((c) => c.ok);
      const asJson = ({ p, ok: fine, checks, rooted }: (typeof results)[number]) =>
        ({ ok: fine, checks, pipeline: p.pipeline, epoch: p.epoch, recipient: p.recipient, total: p.total, root: p.closure.lines_root, root_compared: rooted });
      if (opts.json) {
        console.log(toJson(folder ? { ok, proofs: results.map((r, i) => ({ file: files[i], ...asJson(r) })), together } : asJson(results[0]!)));
      } else if (!folder) {
        const { p, checks, rooted } = results[0]!;
        for (const c of checks) console.log(`${c.ok ? "✓" : "✗"} ${c.name}: ${c.detail}`);
        const failed = checks.filter((c) => !c.ok).length;
        console.log(failed
          ? `\nThe proof does NOT hold: ${failed} of ${checks.length} checks failed`
          : `\n${p.recipient} was paid ${formatAmount(BigInt(p.total))} in closed epoch ${p.epoch} of ${p.pipeline}: ${checks.length} checks pass` +
            (rooted ? "" : ` (the root was not compared with one you hold: pass --report <report folder> or --root)`));
      } else {
        for (const r of results) {
          const failed = r.checks.filter((c) => !c.ok);
          console.log(`${r.ok ? "✓" : "✗"} ${r.p.recipient}: ${formatAmount(BigInt(r.p.total))} over ${r.p.lines.length} lines${failed.length ? `; failed: ${failed.map((c) => c.name).join("; ")}` : ""}`);
        }
        for (const c of together) console.log(`${c.ok ? "✓" : "✗"} ${c.name}: ${c.detail}`);
        const bad = results.filter((r) => !r.ok).length + together.filter((c) => !c.ok).length;
        console.log(bad ? `\nThe proofs do NOT hold: ${bad} failures` : `\n${proofs.length} proofs hold, and together they cover every line of the epoch once` +
          (results.every((r) => r.rooted) ? "" : ` (the root was not compared with one you hold: pass --report <report folder> or --root)`));
      }
      if (!ok) process.exitCode = 1;
    });
}

/** One proof's checks: against the report's root and total, or the root given, or its own root only. */
function checkOne(p: RewardProof, opts: { root?: string; report?: string }): { ok: boolean; checks: ProofCheck[]; rooted: boolean } {
  const published = opts.report === undefined ? null : publishedFor(opts.report, p);
  const roots = [opts.root, published ? published.root ?? "(none)" : undefined].filter((r): r is string => r !== undefined);
  const own = verifyProof(p, { root: roots[0], published: published ? { total: published.total, policy: published.policy, source: `the report in ${shortPath(published.report)}` } : undefined });
  // Both a root and a report: the second root is compared too.
  const second = roots.length > 1 ? verifyProof(p, { root: roots[1] }).checks.filter((c) => c.name === "the root is the one you hold") : [];
  const checks = [...(published?.checks ?? []), ...own.checks, ...second];
  return { ok: checks.every((c) => c.ok), checks, rooted: roots.length > 0 };
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new InputError(`cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { file });
  }
}

/** A file name from a recipient's name: characters other than word characters, dots, @ and - become "_". */
function slug(name: string): string {
  return name.replace(/[^\w.@-]+/g, "_");
}

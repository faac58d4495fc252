import type { Command } from "commander";
import { withCtrlC, withWorkspace } from "../cli.ts";
import { formatTable, toJson } from "../output.ts";
import { InputError } from "../../cells/datanet/errors.ts";
import { KEEP, shortId, type Action } from "../../cells/datanet/decisions.ts";
import { knownDatanet } from "../../cells/datanet/known.ts";
import { ruleSetFile } from "../../cells/curation/ruleset.ts";
import { reviewQueue, rulesInForce } from "../../cells/curation/review.ts";
import { curate } from "../../cells/curation/decisions.ts";
import { staleNote } from "../../cells/graph/cell-tables.ts";
import { contributorReputation, REPUTATION_FORMULA } from "../../cells/curation/reputation.ts";
import { checkPreview, previewDecision } from "./preview.ts";
import { wholeNumber } from "../numbers.ts";

interface QueueOptions { limit: string; all?: boolean; rules?: string; json?: boolean }
interface DecideOptions {
  reason?: string; datanet?: string; where?: string; query?: string; flagged?: string;
  curator: string; rule?: string; dryRun?: boolean; whatIf?: string; seedCheck?: string; json?: boolean;
}

const VERBS: readonly [string, Action][] = [["approve", "approved"], ["reject", "rejected"], ["quarantine", "quarantined"], ["keep", KEEP]];

/** A bulk decision lists its first rows, not hundreds: the trail keeps every one (`--json` prints them all). */
const LISTED = 20;
function listed(lines: string[]): void {
  for (const line of lines.slice(0, lines.length > LISTED ? 10 : LISTED)) console.log(line);
  if (lines.length > LISTED) console.log(`… and ${lines.length - 10} more (--json lists them all)`);
}

/** How many times each value occurs, in order of first appearance. */
function countEach(values: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const v of values) out.set(v, (out.get(v) ?? 0) + 1);
  return out;
}

/** `tracebook curate …`: the review queue of a Datanet, curators' decisions (also in bulk), reputation. */
export function registerCurate(program: Command): void {
  const group = program.command("curate").description("review a Datanet: the ranked queue of flagged and likely mislabelled contributions, decisions, reputation");

  group
    .command("queue")
    .description("the contributions to review, ranked: rule flags first (most severe first), then likely label errors")
    .argument("<datanet>", "Datanet name")
    .option("--limit <n>", "rows to print", "20")
    .option("--all", "keep contributions a curator has already decided on")
    .option("--rules <file>", "a rule set file (JSON) instead of the one in force")
    .option("--json", "print JSON")
    .action(async (datanet: string, opts: QueueOptions, command: Command) => {
      const limit = wholeNumber(opts.limit, "--limit");
      const rules = opts.rules ? ruleSetFile(opts.rules) : undefined;
      await withWorkspace(command, async (ws) => {
        const q = await reviewQueue(ws, datanet, { rules, includeDecided: opts.all });
        if (opts.json) return console.log(toJson({ ...q, items: q.items.slice(0, limit) }));
        const flagged = q.items.filter((i) => i.flags.length).length;
        const scores = q.scoresFrom
          ? `label scores from ${q.scoresFrom.pipeline}.${q.scoresFrom.cell} (model ${q.scoresFrom.modelId.slice(0, 12)}, ${q.scoresFrom.rows} rows, ${new Date(q.scoresFrom.finishedAt).toISOString().slice(0, 19).replace("T", " ")})`
          : "no label scores yet (add a labelErrors cell to a pipeline over this Datanet and run it)";
        console.log(`Review queue of ${datanet}: ${q.items.length} contributions to review, ${flagged} flagged by rules ${q.ruleset.name}@${q.ruleset.version} (${q.rulesFrom}; flags from ${q.flagsFrom}); ` +
          `${scores}; ${q.decided} already decided left out${opts.all ? " (shown: --all)" : ""}` +
          (q.reopened ? `; ${q.reopened} approved while pending before the model scored them, so in the queue until a curator keeps, rejects or quarantines them` : ""));
        if (q.contributorFlags.length) {
          console.log(`\nContributors flagged (${q.contributorFlags.length}):`);
          console.log(formatTable(q.contributorFlags.map((f) => ({ contributor: f.contributor, rule: f.rule, why: f.reason })), { maxCell: 160, maxRows: q.contributorFlags.length }));
        }
        console.log();
        if (!q.items.length) console.log(q.decided ? "Nothing left to review: every contribution is decided (--all shows them)." : "Nothing to review.");
        else console.log(formatTable(q.items.slice(0, limit).map((i) => ({
          rank: i.rank, id: shortId(i.contribution), contributor: i.contributor, label: i.label, status: i.status,
          severity: i.severity ?? "", score: i.score ? +i.score.score.toFixed(2) : null,
          ...(opts.all ? { decided: i.decision ? `${i.decision.verdict} by ${i.decision.validator} ${i.decision.decided_at.slice(0, 10)}: ${i.decision.reason}` : "" } : {}),
          why: i.why,
        })), { maxCell: 160, maxRows: limit }));
        console.log(`Decide with: tracebook curate reject|approve|quarantine|keep <id...> --reason "…" (or --datanet ${datanet} --flagged <rule> / --where "<sql>")`);
        if (q.reopened) console.log(`Rows you have looked at and found right leave it in bulk too: tracebook curate keep --datanet ${datanet} --where "<sql>" --reason "…"`);
      });
    });

  for (const [verb, verdict] of VERBS) {
    const decision = group
      .command(verb)
      .description(verdict === KEEP
        ? "record that contributions were reviewed and their status stands (they leave the queue), with a reason, on the validation trail; by id, or in bulk"
        : `mark contributions ${verdict}, with a reason, on the validation trail (all or nothing); by id, or in bulk by --where, --query or --flagged`)
      .argument("[id...]", "contribution ids, in full or as unique prefixes of at least 8 hex characters")
      // Checked by hand rather than requiredOption, so a missing reason is a one-line error.
      .option("--reason <text>", "why (required: a decision without a reason cannot be reviewed)")
      .option("--datanet <name>", "the Datanet (required for bulk selections; restricts id lookup)")
      .option("--where <sql>", "every contribution of the Datanet matching this SQL condition, e.g. \"contributor = 'x' and label = 'spam'\"")
      .option("--query <sql>", "every contribution whose id a SQL query returns (an id or contribution column)")
      .option("--flagged <rule>", "every contribution in the queue flagged by this rule of the rule set in force, e.g. near-duplicate")
      .option("--curator <id>", "who decides", `cli:${process.env.USER ?? "curator"}`)
      .option("--rule <rule>", "the rule recorded (default: the flagging rule, the selection, or \"manual\")")
      .option("--dry-run", "list what would change, change nothing");
    // Only rows leaving the approved set change a model, so only these two can be previewed.
    if (verdict === "rejected" || verdict === "quarantined") {
      decision
        .option("--what-if <pipeline>", "with --dry-run: also retrain the pipeline's model without the rows and show what would change")
        .option("--seed-check <seed>", "with --what-if: also retrain with nothing left out under this seed, the yardstick of a seed change alone");
    }
    decision
      .option("--json", "print the changes as JSON")
      .action(async (ids: string[], opts: DecideOptions, command: Command) => {
        if (!opts.reason?.trim()) throw new InputError(`${verb} needs --reason <text>: a decision without a reason cannot be reviewed`);
        const seedCheck = checkPreview(opts);
        await withCtrlC((signal) => withWorkspace(command, async (ws) => {
          const out = await curate(ws, {
            ids, where: opts.where, query: opts.query, flagged: opts.flagged, datanet: opts.datanet,
            verdict, curator: opts.curator, reason: opts.reason!, rule: opts.rule,
          }, { dryRun: opts.dryRun });
          // On standard error, so that --json stays parseable: what the selection read was not up to date.
          for (const s of out.stale) console.error(staleNote(s, "the selection read its last output"));
          const changed = new Set(out.results.map((r) => `${r.datanet}\u0000${r.id}`));
          const skipped = opts.dryRun ? out.targets.filter((t) => t.status === verdict) : out.targets.filter((t) => !changed.has(`${t.datanet}\u0000${t.id}`));
          const word = (from: string, to: string) => (verdict === KEEP ? `${to} (stands)` : `${from} → ${to}`);
          const skipLines = skipped.map((s) => `skipped ${shortId(s.id)} (${s.datanet}): already ${s.status}`);
          const previewed = opts.whatIf === undefined ? undefined : await previewDecision(ws, opts.whatIf, out.targets, { signal, seedCheck, quiet: opts.json });
          if (opts.json) {
            console.log(toJson(opts.dryRun ? { dryRun: true, rule: out.rule, targets: out.targets, ...(previewed ? { whatIf: previewed.answer } : {}) } : out.results));
            for (const line of skipLines) process.stderr.write(`${line}\n`); // the JSON stays parseable
            return;
          }
          if (opts.dryRun) {
            const would = out.targets.filter((t) => t.status !== verdict);
            console.log(`would ${verb} ${would.length} contribution${would.length === 1 ? "" : "s"} (rule: ${out.rule}):`);
            listed(would.map((t) => `  ${shortId(t.id)} (${t.datanet}): ${word(t.status, verdict === KEEP ? t.status : verdict)}`));
          } else {
            listed(out.results.map((r) => `${verdict === KEEP ? "kept" : verdict} ${shortId(r.id)} (${r.datanet}): ${word(r.from, r.to)}`));
            const moves = [...countEach(out.results.map((r) => `${r.datanet}: ${word(r.from, r.to)}`))].map(([move, n]) => `${n} ${move}`).join("; ");
            console.log(`${out.results.length} decision${out.results.length === 1 ? "" : "s"} recorded (rule: ${out.rule})${out.results.length > LISTED ? `: ${moves}` : ""}`);
          }
          for (const line of skipLines) console.log(line);
          if (previewed) console.log(`\n${previewed.text}`);
        }));
      });
  }

  group
    .command("reputation")
    .description(`contributors' curation reputation: ${REPUTATION_FORMULA}, from the statuses decisions produced`)
    .argument("[datanet]", "only this Datanet's contributions")
    .option("--json", "print JSON")
    .action(async (datanet: string | undefined, opts: { json?: boolean }, command: Command) => {
      await withWorkspace(command, async (ws) => {
        const rows = await contributorReputation(ws, datanet);
        if (opts.json) return console.log(toJson(rows));
        console.log(formatTable(rows.map((r) => ({ ...r, reputation: +r.reputation.toFixed(4) })), { maxRows: 200 }));
        console.log(`reputation = ${REPUTATION_FORMULA}; lowest first`);
      });
    });

  group
    .command("rules")
    .description("the rule set in force for a Datanet, as JSON (save it as a file beside the pipeline to edit it)")
    .argument("<datanet>", "Datanet name")
    .action(async (datanet: string, _opts: unknown, command: Command) => {
      await withWorkspace(command, async (ws) => {
        await knownDatanet(ws, datanet);
        const { set, from } = await rulesInForce(ws, datanet);
        process.stderr.write(`rule set ${set.name}@${set.version} from ${from}\n`);
        console.log(toJson(set));
      });
    });
}

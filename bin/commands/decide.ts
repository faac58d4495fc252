import type { Command } from "commander";
import { withWorkspace } from "../cli.ts";
import { toJson } from "../output.ts";
import { InputError } from "../../cells/datanet/errors.ts";
import { decide, KEEP, resolveContributionIds, shortId, type Action } from "../../cells/datanet/decisions.ts";

interface DecideOptions { reason?: string; datanet?: string; validator: string; rule: string; json?: boolean }

const VERBS: readonly [string, Action][] = [["reject", "rejected"], ["approve", "approved"], ["quarantine", "quarantined"], ["keep", KEEP]];

/**
 * `tracebook datanet reject|approve|quarantine|keep <id...> --reason <text>`: curators' decisions
 * by id (`tracebook curate` also selects by flag, query or condition, and previews).
 */
export function registerDecisions(datanet: Command): void {
  for (const [verb, verdict] of VERBS) {
    datanet
      .command(verb)
      .description(verdict === KEEP
        ? "record that contributions stay as they are (reviewed: their status stands), with a reason, in the validation trail (all or nothing)"
        : `mark contributions ${verdict}, with a reason, in the validation trail (all or nothing)`)
      .argument("<id...>", "contribution ids, in full or as unique prefixes of at least 8 hex characters")
      // Checked by hand rather than requiredOption, so a missing reason is a one-line error.
      .option("--reason <text>", "why (required: a decision without a reason cannot be reviewed)")
      .option("--datanet <name>", "only look for the ids in this Datanet")
      .option("--validator <id>", "who decides", `cli:${process.env.USER ?? "curator"}`)
      .option("--rule <rule>", "the rule applied", "manual")
      .option("--json", "print the changes as JSON")
      .action(async (ids: string[], opts: DecideOptions, command: Command) => {
        if (!opts.reason?.trim()) throw new InputError(`${verb} needs --reason <text>: a decision without a reason cannot be reviewed`);
        await withWorkspace(command, async (ws) => {
          // Resolved first only to report skips: decide() returns the changed contributions.
          const targets = await resolveContributionIds(ws, ids, opts.datanet);
          const results = await decide(ws, {
            ids, verdict, validator: opts.validator, reason: opts.reason!, rule: opts.rule, datanet: opts.datanet,
          });
          const changed = new Set(results.map((r) => `${r.datanet}\u0000${r.id}`));
          const skipped = targets.filter((t) => !changed.has(`${t.datanet}\u0000${t.id}`));
          const skipLines = skipped.map((s) => `skipped ${shortId(s.id)} (${s.datanet}): already ${s.status}`);
          if (opts.json) {
            console.log(toJson(results));
            // Notes go to stderr so the JSON stays the results array.
            for (const line of skipLines) process.stderr.write(`${line}\n`);
            return;
          }
          for (const r of results) console.log(verdict === KEEP ? `kept ${shortId(r.id)} (${r.datanet}): ${r.to} (stands)` : `${verdict} ${shortId(r.id)} (${r.datanet}): ${r.from} → ${r.to}`);
          for (const line of skipLines) console.log(line);
        });
      });
  }
}

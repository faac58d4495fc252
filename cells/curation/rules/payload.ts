import { contributionId } from "../../datanet/hash.ts";
import { splitOf } from "../../datanet/split.ts";
import type { EmptyRule, LabelSetRule, OversizeRule, SchemaRule } from "../ruleset.ts";
import { short, type Flag, type RuleContext, type RuleRow } from "../flags.ts";

/**
 * Rules about one row at a time: does it keep the Datanet's contract? Ingest already refuses
 * most of this at the door; these rules re-check what is in the workspace now, under the rule
 * set's (usually stricter) limits, and catch rows changed behind ingest's back.
 */

const flag = (r: RuleRow, rule: { id: string; kind: Flag["kind"] }, reason: string, value: number | null = null): Flag =>
  ({ contribution: r.id, contributor: r.contributor, rule: rule.id, kind: rule.kind, severity: "error", reason, related: null, value });

/** Payload typed as the Datanet's kind; id = content hash; split = the split rule's verdict. */
export async function schemaRule(rule: SchemaRule, ctx: RuleContext): Promise<Flag[]> {
  const { spec } = ctx;
  const known = new Set((await ctx.ws.rows<{ id: string }>("select id from contributors")).map((c) => c.id));
  const out: Flag[] = [];
  for (const r of ctx.rows) {
    const problems: string[] = [];
    if (spec.kind === "text") {
      if (r.text === null) problems.push("a text Datanet row has no text: re-submit it with its body");
      if (r.features !== null) problems.push("a text Datanet row carries features: they are ignored by text models; re-submit without them");
    } else {
      if (r.features === null) problems.push("a features Datanet row has no features: re-submit it with its vector");
      else {
        if (spec.featureDim != null && r.features.length !== spec.featureDim) {
          problems.push(`has ${r.features.length} features, the Datanet declares ${spec.featureDim}: models cannot read it; reject it`);
        }
        const bad = r.features.findIndex((v) => !Number.isFinite(v));
        if (bad >= 0) problems.push(`feature ${bad} is ${r.features[bad]}, not a finite number: reject it`);
      }
    }
    if (!r.label.trim()) problems.push("the label is blank: reject it, or re-submit it labelled");
    if (!known.has(r.contributor)) problems.push(`contributor "${r.contributor}" is not in the contributors table: nobody can be credited; re-import it`);
    const id = contributionId({ title: r.title, text: r.text, features: r.features, label: r.label });
    if (id !== r.id) problems.push(`its id is not the hash of its content (${short(id)}): it was changed after import; reject it and re-import the original`);
    else if (r.split !== splitOf(r.id, spec.splitSeed, spec.testFraction)) {
      problems.push(`split is "${r.split}" but the split rule gives "${splitOf(r.id, spec.splitSeed, spec.testFraction)}": held-out figures would leak; re-import it`);
    }
    if (problems.length) out.push(flag(r, rule, problems.join("; ")));
  }
  return out;
}

/** Text shorter than minChars after trimming; feature vectors that are constant (blank). */
export function emptyRule(rule: EmptyRule, ctx: RuleContext): Flag[] {
  const out: Flag[] = [];
  for (const r of ctx.rows) {
    if (ctx.spec.kind === "text") {
      const chars = [...`${r.title ?? ""} ${r.text ?? ""}`.trim()].length;
      if (chars < rule.minChars) {
        const what = (r.text ?? "").trim() ? "title and text" : "no text beyond its title";
        out.push(flag(r, rule, `payload is ${chars} character${chars === 1 ? "" : "s"} (${what}; minimum ${rule.minChars}): too little to learn from; reject it, or ask the contributor for the full text`, chars));
      }
    } else if (r.features?.length) {
      const first = r.features[0]!;
      if (r.features.every((v) => v === first)) {
        out.push(flag(r, rule, `all ${r.features.length} features are ${first}: a blank example carries no signal; reject it`, 0));
      }
    }
  }
  return out;
}

/** Payloads over the rule set's size limits. */
export function oversizeRule(rule: OversizeRule, ctx: RuleContext): Flag[] {
  const out: Flag[] = [];
  for (const r of ctx.rows) {
    const problems: string[] = [];
    let value = 0;
    for (const [field, text] of [["title", r.title], ["text", r.text]] as const) {
      const bytes = text === null ? 0 : Buffer.byteLength(text, "utf8");
      if (bytes > rule.maxTextBytes) {
        problems.push(`${field} is ${bytes.toLocaleString("en-US")} bytes (limit ${rule.maxTextBytes.toLocaleString("en-US")})`);
        value = Math.max(value, bytes / rule.maxTextBytes);
      }
    }
    const html = r.html === null ? 0 : Buffer.byteLength(r.html, "utf8");
    if (html > rule.maxHtmlBytes) {
      problems.push(`raw HTML is ${html.toLocaleString("en-US")} bytes (limit ${rule.maxHtmlBytes.toLocaleString("en-US")})`);
      value = Math.max(value, html / rule.maxHtmlBytes);
    }
    if (r.features && r.features.length > rule.maxFeatures) {
      problems.push(`${r.features.length.toLocaleString("en-US")} features (limit ${rule.maxFeatures.toLocaleString("en-US")})`);
      value = Math.max(value, r.features.length / rule.maxFeatures);
    }
    if (problems.length) {
      out.push(flag(r, rule, `${problems.join("; ")}: usually a pasted attachment, digest or wrong file; quarantine it, or reject it and re-submit the part that is the example`, value));
    }
  }
  return out;
}

/** Labels outside the allowed set (the rule's list, else the Datanet's declared labels). */
export function labelSetRule(rule: LabelSetRule, ctx: RuleContext): Flag[] {
  const allowed = rule.allowed ?? ctx.spec.labels ?? null;
  if (!allowed?.length) return []; // nothing declared: no set to be outside of
  const set = new Set(allowed);
  const list = allowed.map((l) => JSON.stringify(l)).join(", ");
  return ctx.rows.filter((r) => !set.has(r.label)).map((r) => {
    const near = allowed.find((l) => l.toLowerCase() === r.label.trim().toLowerCase());
    const hint = near ? ` (did the contributor mean ${JSON.stringify(near)}?)` : "";
    return flag(r, rule, `label ${JSON.stringify(r.label)} is not one of ${list}${hint}: models cannot learn it; reject it, or have it re-submitted with an allowed label`);
  });
}

import type { ReportFacts } from "../../facts.ts";
import type { Chart } from "../charts.ts";
import { html, type Safe } from "../escape.ts";
import { count, percent, quote, score, shortHash, table } from "../format.ts";
import { massBoundPenalties } from "../../collect/stability.ts";

function figure(c: Chart | undefined, caption: Safe): Safe {
  return c ? html`<figure id="chart-${c.name}">${c.svg}<figcaption>${c.title}. ${caption}</figcaption></figure>` : html``;
}

/** Who helped: contributors and Datanets by net influence and payout, the charts, the top proponents. */
export function contributorsSection(f: ReportFacts, charts: Chart[]): Safe {
  const i = f.influence;
  const chart = (name: string) => charts.find((c) => c.name === name);
  return html`<section id="contributors">
<h2>Top contributors and Datanets</h2>
${figure(chart("payouts"), html`Colour is the role:<span class="swatch contributor"></span>contributor<span class="swatch creator"></span>creator<span class="swatch validator"></span>validator<span class="swatch protocol"></span>protocol. Exact amounts are in the reward statement.`)}
${figure(chart("influence"), html`<span class="swatch positive"></span>net proponent<span class="swatch negative"></span>net opponent, summed over the paid inferences.`)}
<h3>Contributors</h3>
<p class="muted">${i.contributors.length < i.contributors_total ? `The ${i.contributors.length} with the highest net influence of ${i.contributors_total}.` : `All ${i.contributors_total}.`} Mean share = the contributor's share of positive influence, averaged over all ${count(f.summary.inferences)} paid inferences; led = inferences where it ranked first.</p>
${table([{ head: "contributor", cls: "wrap" }, { head: "net influence", cls: "num" }, { head: "mean share", cls: "num" }, { head: "led", cls: "num" }, { head: "paid (tokens)", cls: "num" }],
    i.contributors.map((c) => [html`${c.contributor}${c.penalised ? html` <span class="bad">(penalised)</span>` : ""}`, score(c.net_influence), percent(c.mean_share), count(c.inferences_led), c.paid.tokens]))}
${figure(chart("datanets"), html`A Datanet's share of the positive influence on each paid inference, averaged over the inferences.`)}
${table([{ head: "Datanet" }, { head: "net influence", cls: "num" }, { head: "mean share", cls: "num" }],
    i.datanets.map((d) => [html`<code>${d.datanet}</code>`, score(d.net_influence), percent(d.mean_share)]))}
<h3>Strongest proponents</h3>
<p class="muted">The contributions that appeared most strongly among the top ${f.methodology.top_k} proponents of the paid inferences (summed score). Quoted text is contributed data, shown as text.</p>
${contributions(i.proponents)}
</section>`;
}

function contributions(rows: ReportFacts["influence"]["proponents"]): Safe {
  return table([{ head: "contribution" }, { head: "contributor", cls: "wrap" }, { head: "times", cls: "num" }, { head: "summed score", cls: "num" }, { head: "text", cls: "wrap" }],
    rows.map((c) => [shortHash(c.contribution), c.contributor, count(c.appearances), score(c.total_score), quote(c.text)]));
}

/** Who hurt: the strongest opponents and the contributors whose net influence was negative. */
export function opponentsSection(f: ReportFacts): Safe {
  const i = f.influence;
  const negative = i.contributors.filter((c) => c.net_influence < 0);
  // Facts from before penalties were per model name no model (render them as they were).
  const byModel = i.penalties_paid !== undefined;
  const scope = scopeNamer(f);
  return html`<section id="opponents">
<h2>Opponents and negative influence</h2>
<p>An opponent pushed the model away from the output it gave. Opponents are not paid; a contributor whose net influence over an epoch${byModel ? "'s inferences by one model" : ""} is negative earns nothing from ${byModel ? "them" : "that epoch"} and gets a reputation record.${byModel ? " The penalty is decided per model because the sign of that net follows the model: where its influence mass sits and which rows trained it." : ""}</p>
<h3>Penalised contributors</h3>
${i.penalised.length ? table([{ head: "epoch", cls: "nowrap" }, ...(byModel ? [{ head: "model", cls: "nowrap" as const }] : []), { head: "contributor", cls: "wrap" }, { head: "net influence", cls: "num" }, { head: "record", cls: "wrap" }],
    i.penalised.map((p) => [p.epoch, ...(byModel ? [p.model_id ? shortHash(p.model_id) : html`several, as one`] : []), p.contributor, score(p.net_influence), p.record])) : html`<p>None: no contributor had a negative net influence over an epoch.</p>`}
${negative.length && !i.penalised.length ? html`<p class="muted">${negative.length} contributors have a negative net over the whole report but not over any epoch.</p>` : ""}
${(i.penalty_stability ?? []).map((st) => stabilityParagraph(st, scope(st)))}
${(i.penalty_sides ?? []).filter((e) => e.sides.some((x) => x.penalised > 0)).map((e) => sidesParagraph(e, scope(e)))}
<h3>Strongest opponents</h3>
${i.opponents.length ? contributions(i.opponents) : html`<p>None recorded.</p>`}
</section>`;
}

interface Scope { name: string; at: string; id: string }

/**
 * How a penalty scope is named: "epoch e1" (at "e1"), or "epoch e1 on model 1a2b3c4d5e6f" where
 * the report holds several models' penalties in that epoch (a retrain within it). The summary
 * names them the same way.
 */
export function scopeNamer(f: ReportFacts): (s: { epoch: string; model_id?: string }) => Scope {
  const models = new Map<string, Set<string>>();
  for (const s of [...(f.influence.penalty_stability ?? []), ...(f.influence.penalty_sides ?? [])]) models.set(s.epoch, (models.get(s.epoch) ?? new Set()).add(s.model_id ?? ""));
  return (s) => {
    const at = (models.get(s.epoch)?.size ?? 0) > 1 && s.model_id ? `${s.epoch} on model ${s.model_id.slice(0, 12)}` : s.epoch;
    return { at, name: `epoch ${at}`, id: at === s.epoch ? s.epoch : `${s.epoch}-${s.model_id!.slice(0, 12)}` };
  };
}

/**
 * How many penalties the few inferences with the most influence decide: TracIn scores grow with
 * a query's loss gradient, so borderline predictions carry most of the mass an epoch's net sums.
 */
function stabilityParagraph(st: NonNullable<ReportFacts["influence"]["penalty_stability"]>[number], sc: Scope): Safe {
  const names = (list: string[]) => list.length > 6 ? `${list.slice(0, 6).join(", ")} and ${list.length - 6} more` : list.join(", ");
  const changes = st.lifted.length + st.added.length;
  return html`<p class="stability" id="stability-${sc.id}"><strong>How stable the penalties of ${sc.name} are.</strong> The ${count(st.left_out)} ${st.left_out === 1 ? "inference" : "inferences"} (1% of ${count(st.inferences)}, rounded up) with the most influence ${st.left_out === 1 ? "carries" : "carry"} ${percent(st.left_out_share)} of all of it.
${changes
    ? html` Computed without ${st.left_out === 1 ? "it" : "them"}, ${st.lifted.length ? `${count(st.lifted.length)} of the ${count(st.penalised)} penalties would be lifted (${names(st.lifted)})` : "every penalty would stand"}${st.added.length ? `${st.lifted.length ? " and" : ","} ${count(st.added.length)} other ${st.added.length === 1 ? "contributor" : "contributors"} would be penalised (${names(st.added)})` : ""}: penalties that so few predictions decide are a weak signal; weigh them before acting on them.`
    : html` Computed without ${st.left_out === 1 ? "it" : "them"}, the same ${count(st.penalised)} ${st.penalised === 1 ? "contributor is" : "contributors are"} penalised.`}</p>`;
}

/**
 * Which outputs the penalised contributors' data helps. On a classifier a contribution tends to
 * help its own label's predictions and oppose the others, so an epoch net is support on one side
 * minus opposition on the rest, and its sign follows where the influence mass sits. The paragraph
 * says so only when the facts show it: every penalised contributor helps one output, and each such
 * output's predictions carry less of the mass than every output whose helpers kept their pay.
 */
function sidesParagraph(e: NonNullable<ReportFacts["influence"]["penalty_sides"]>[number], sc: Scope): Safe {
  const listed = e.predictions.slice(0, 6).map((p, i) => `${p.prediction} ${count(p.inferences)} ${p.inferences === 1 ? "time" : "times"} (${percent(p.mass_share)}${i ? "" : " of the influence mass"})`);
  const rest = e.predictions.length - listed.length;
  const total = e.predictions.reduce((n, p) => n + p.inferences, 0);
  const penalisedOf = (x: { contributors: number; penalised: number }) =>
    x.penalised === 0 ? (x.contributors === 1 ? "it is not penalised" : "none of them is penalised")
      : x.penalised === x.contributors ? (x.contributors === 1 ? "it is penalised" : x.contributors === 2 ? "both are penalised" : `all ${count(x.contributors)} are penalised`)
        : `${count(x.penalised)} of them ${x.penalised === 1 ? "is" : "are"} penalised`;
  const sentences = e.sides.map((x) => x.helps === null
    ? `${count(x.contributors)} ${x.contributors === 1 ? "contributor helps" : "contributors help"} more than one output: ${penalisedOf(x)}.`
    : `${count(x.contributors)} ${x.contributors === 1 ? "contributor helps" : "contributors help"} only the ${x.helps} predictions and ${x.contributors === 1 ? "opposes" : "oppose"} the rest: ${penalisedOf(x)}.`);
  const hit = massBoundPenalties(e);
  const outputs = (hit ?? []).map((h) => `${h.prediction} (${percent(h.mass_share)})`).join(", ");
  return html`<p class="sides" id="sides-${sc.id}"><strong>Which side the penalties of ${sc.name} fall on.</strong> Its ${count(total)} inferences were predicted ${listed.join(", ")}${rest ? ` and ${count(rest)} other outputs` : ""}. ${sentences.join(" ")}${hit
    ? ` Every penalty falls on data that helps only the ${hit.length === 1 ? "output" : "outputs"} whose predictions carry less of the influence: ${outputs}. Such a contributor's net is its support there minus its opposition elsewhere, so its sign follows where the influence mass sits (how often each output was asked for and how confident the model was), not only whether its data hurt. Weigh these penalties with that in mind.`
    : ""}</p>`;
}

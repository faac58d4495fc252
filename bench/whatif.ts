// What a what-if question costs on real mail: the mail pipeline's model retrained without 10, 100
// and 1,000 training rows (a seeded sample), without its largest contributor, with a seed check,
// and the same question asked again (answered from the cache). Each question runs in a process of
// its own, as `tracebook what-if` and the notebook server run it: wall time (start-up included),
// retrain time and that process's peak memory, one run each (a second run of a question is a cache
// hit). Written to bench/results/whatif.json.
//
//   npx tsx bench/whatif.ts [--from <workspace dir where the mail pipeline ran>]
//
// Runs in a temp workspace: mail-spam is imported and the mail pipeline run there, or the
// workspace is copied from --from (its runs stay valid: artifacts are found by data version).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import fs from "node:fs";
import { runBench, writeBenchReport } from "./report.ts";
import { argument, mailWorkspace } from "./mail.ts";
import { openWorkspace } from "../cells/store/workspace.ts";
import { computeBackend } from "../cells/compute/backend.ts";
import { loadPipeline } from "../cells/graph/loader.ts";
import { cellHistories } from "../cells/graph/runs.ts";
import { Rng } from "../cells/compute/random.ts";
import { whatIf } from "../cells/quality/what-if.ts";
import type { Removal } from "../cells/quality/removal.ts";

const SAMPLE_SEED = 11;
const SIZES = [10, 100, 1000];

/** A seeded sample of k training ids (the project's seeded shuffle over the sorted ids). */
function sample(ids: string[], k: number, seed: number): string[] {
  return new Rng(seed).shuffle([...ids].sort()).slice(0, k).sort();
}

/** One question in a process of its own: its wall time, its peak memory, the answer's summary. */
function ask(home: string, q: Question): { seconds: number; peakRssMiB: number; fresh: boolean; summary: Record<string, unknown> } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--ask", home, JSON.stringify(q)], { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`question ${q.name} failed (status ${r.status}, signal ${r.signal}, ${r.error?.message ?? "no spawn error"}): ${r.stderr}${r.stdout.slice(-2000)}`);
  const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { peakRssKiB: number; fresh: boolean; summary: Record<string, unknown> };
  return { seconds: (performance.now() - t0) / 1000, peakRssMiB: Math.round(out.peakRssKiB / 1024), fresh: out.fresh, summary: out.summary };
}

interface Question { name: string; without: Removal; replicateSeed?: number }

/** The child: answer one question, print the summary and this process's peak resident memory. */
async function answer(home: string, q: Question): Promise<void> {
  const ws = await openWorkspace({ home });
  try {
    const { pipeline } = await loadPipeline("mail");
    const a = await whatIf(ws, pipeline, { without: q.without, replicateSeed: q.replicateSeed });
    console.log(JSON.stringify({ peakRssKiB: process.resourceUsage().maxRSS, fresh: a.fresh, summary: a.summary }));
  } finally {
    ws.close();
  }
}

runBench(async () => {
  const asked = argument("--ask");
  if (asked) return answer(asked, JSON.parse(process.argv[process.argv.indexOf("--ask") + 2]!) as Question);
  const { ws, home } = await mailWorkspace("tb-bench-whatif-");
  try {
    const train = (await cellHistories(ws, "mail")).get("train")!.lastSucceeded!;
    const rows = await ws.rows<{ id: string; contributor: string }>("select id, contributor from read_parquet(?)", [train.artifact!]);
    const counts = new Map<string, number>();
    for (const r of rows) counts.set(r.contributor, (counts.get(r.contributor) ?? 0) + 1);
    const [largest, largestRows] = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]!;
    const questions: Question[] = [
      ...SIZES.map((k) => ({ name: `${k} sampled rows`, without: { ids: sample(rows.map((r) => r.id), k, SAMPLE_SEED + k) } })),
      { name: `largest contributor (${largest}, ${largestRows} rows)`, without: { contributors: [largest] } },
      { name: "largest contributor, seed check 8", without: { contributors: [largest] }, replicateSeed: 8 },
    ];
    ws.close(); // the questions open it, one process at a time
    const results = [];
    for (const q of questions) {
      const first = ask(home, q);
      const again = ask(home, q);
      const s = first.summary;
      results.push({
        question: q.name, removed: s.removed_contributions, retrains: q.replicateSeed === undefined ? 1 : 2,
        seconds: +first.seconds.toFixed(2), retrain_seconds: +Number(s.retrain_seconds).toFixed(2), peak_rss_mib: first.peakRssMiB,
        cached_seconds: +again.seconds.toFixed(2), cached: again.fresh, cached_peak_rss_mib: again.peakRssMiB,
        accuracy_before: s.accuracy_before, accuracy_after: s.accuracy_after, flips: s.flips, flips_seed: s.flips_seed, spearman: s.spearman,
      });
      console.log(`${q.name}: ${first.seconds.toFixed(1)} s (retrain ${Number(s.retrain_seconds).toFixed(1)} s), peak ${first.peakRssMiB} MiB; again ${again.seconds.toFixed(1)} s (${again.fresh ? "cached" : "recomputed"})`);
    }
    await writeBenchReport("whatif", {
      benchmark: "what-if",
      setup: `the mail pipeline's adapter (${rows.length} training rows, 1,200 inferences) retrained as its manifest says with the rows left out, each question in a process of its own (start-up included); sample seed ${SAMPLE_SEED}+k; one run per question, then the same question again`,
      backend: await computeBackend(),
      results,
    });
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

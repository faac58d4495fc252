// What it costs to read the run log of a long-watched pipeline, as the Pipeline runs page asks for
// it after every watch cycle and as `tracebook log` prints it: mail's runs, repeated a minute
// apart with their own call ids until the log holds 2,000 pipeline runs (about a month of a
// watcher recomputing a few times an hour), then the page's answers read from it. Written to
// bench/results/runlog.json.
//
//   npx tsx bench/runlog.ts [--from <workspace dir where the mail pipeline ran>] [--runs 2000]
import fs from "node:fs";
import { runBench, writeBenchReport, secondsSince } from "./report.ts";
import { argument, mailWorkspace } from "./mail.ts";
import { readRuns } from "../cells/notebooks/runs.ts";
import { runLog } from "../cells/graph/history.ts";
import type { RunsRequest } from "../cells/notebooks/wire.ts";

runBench(async () => {
  const { ws, home } = await mailWorkspace("tb-bench-runlog-");
  try {
    const [recorded] = await ws.rows<{ calls: bigint }>("select count(distinct pipeline_run) as calls from runs where pipeline = 'mail'");
    const copies = Math.max(1, Math.ceil(Number(argument("--runs") ?? 2000) / Number(recorded!.calls)));
    await ws.run(`insert into runs by name select runs.* replace (id || '-' || k as id, pipeline_run || '-' || k as pipeline_run,
      started_at + k * interval 60 second as started_at, finished_at + k * interval 60 second as finished_at)
      from runs, range(1, ${copies}) t(k) where pipeline = 'mail'`);
    const [logged] = await ws.rows<{ n: bigint }>("select count(*) as n from runs where pipeline = 'mail'");
    const asks: Record<string, unknown>[] = [];
    const time = async (what: string, ask: () => Promise<{ runs: unknown[] }>) => {
      await ask(); // the first read warms DuckDB's buffers, as a server's second ask finds them
      const seconds: number[] = [];
      let answer: { runs: unknown[] } | undefined;
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        answer = await ask();
        seconds.push(secondsSince(t0));
      }
      asks.push({ what, seconds: Math.min(...seconds), runs: answer!.runs.length, bytes: JSON.stringify(answer).length });
    };
    const page = (req: RunsRequest) => () => readRuns(ws, req);
    await time("the page's first answer (newest 10 pipeline runs)", page({ pipeline: "mail", limit: 10 }));
    await time("one cell's runs (influence, newest 10)", page({ pipeline: "mail", cell: "influence", limit: 10 }));
    await time("the most a page asks for (newest 200)", page({ pipeline: "mail", limit: 200 }));
    await time("the whole log (tracebook log --limit 0 --json reads this)", async () => ({ runs: await runLog(ws, "mail") }));
    const total = (await readRuns(ws, { pipeline: "mail", limit: 1 })).total;
    await writeBenchReport("runlog", {
      what: "the run log of mail read as the Pipeline runs page asks for it after each watch cycle, on a log of mail's runs repeated a minute apart",
      pipeline_runs: total, cell_runs: Number(logged!.n), asks,
    });
  } finally {
    ws.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
});

import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileAtomic } from "../cells/store/atomic.ts";

const results = path.join(path.dirname(fileURLToPath(import.meta.url)), "results");

/** Write bench/results/<name>.json with the machine it was measured on, atomically. */
export async function writeBenchReport(name: string, report: Record<string, unknown>): Promise<void> {
  const out = path.join(results, `${name}.json`);
  const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memory_gib: +(os.totalmem() / 2 ** 30).toFixed(1), node: process.version };
  await writeFileAtomic(out, JSON.stringify({ ...report, at: new Date().toISOString(), machine }, null, 2) + "\n");
  console.log(`wrote ${out}`);
}

/** Seconds since `t0` (a performance.now() reading), to the hundredth, as the results record them. */
export function secondsSince(t0: number): number {
  return +((performance.now() - t0) / 1000).toFixed(2);
}

/** The middle value (the upper one of an even count), as the benchmarks report latencies. */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

/** Run a benchmark's main, reporting a failure as a non-zero exit. */
export function runBench(main: () => Promise<void>): void {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}

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

/** A figure to `digits` decimals, as the results record them. */
export const round = (v: number, digits = 3) => +v.toFixed(digits);

/** Bytes as MiB, to a tenth. */
export const mib = (bytes: number) => +(bytes / 2 ** 20).toFixed(1);

/**
 * One warm-up (it compiles a GPU backend's shaders), then at least `reps` timed runs and at least
 * `minSeconds` of them (a run of milliseconds needs many samples on a shared machine); `after`
 * follows every run, the warm-up too. Every time (to `digits` decimals), the median, and what the
 * last run returned.
 */
export async function timed<T>(run: () => Promise<T>, o: { reps: number; minSeconds?: number; digits?: number; after?: () => void }): Promise<{ all: number[]; median: number; last: T }> {
  let last = await run();
  o.after?.();
  const all: number[] = [];
  for (let i = 0, spent = 0; i < o.reps || spent < (o.minSeconds ?? 0); i++) {
    const t0 = performance.now();
    last = await run();
    all.push((performance.now() - t0) / 1000);
    spent += all.at(-1)!;
    o.after?.();
  }
  return { all: all.map((s) => round(s, o.digits ?? 4)), median: median(all), last };
}

/** Run a benchmark's main, reporting a failure as a non-zero exit. */
export function runBench(main: () => Promise<void>): void {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}

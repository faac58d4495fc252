import { TopK } from "./topk.ts";
import type { TracinRequest, TracinResult } from "./tracin.ts";

/** One shard × block, reduced: top-k each way, sums per grouping, and with `full` every score. */
export interface ReducedBlock {
  best: ArrayLike<number>;
  bestIndex: ArrayLike<number | bigint>;
  /** The k smallest scores (as scores, not negated). */
  worst: ArrayLike<number>;
  worstIndex: ArrayLike<number | bigint>;
  sums: ArrayLike<number>[];
  scores?: Float32Array;
}

/** What both engines keep per query: top-k each way and group sums; with `full`, every score. */
export class Accumulator {
  readonly top: TopK[];
  readonly groupSums: Float64Array[];
  readonly full: Float32Array | undefined;
  private readonly N: number;
  private readonly M: number;

  constructor(private readonly req: TracinRequest) {
    this.N = req.train.y.length;
    this.M = req.queries.y.length;
    this.top = Array.from({ length: this.M }, () => new TopK(req.topK));
    this.groupSums = req.train.groupSizes.map((g) => new Float64Array(this.M * g));
    this.full = req.full ? new Float32Array(this.M * this.N) : undefined;
  }

  /**
   * Fold in queries q0.. (m of them) against training rows t0.. (n of them). Both engines lay
   * the block out query-major: [m, k], [m, groups], [m, n].
   */
  absorb(q0: number, t0: number, m: number, n: number, k: number, r: ReducedBlock): void {
    for (let j = 0; j < m; j++) {
      const t = this.top[q0 + j]!;
      for (let i = j * k; i < (j + 1) * k; i++) {
        // Each list only offers its own side: a shard with few rows has positives among its "worst".
        if (r.best[i]! > 0) t.offer(r.best[i]!, t0 + Number(r.bestIndex[i]!));
        if (r.worst[i]! < 0) t.offer(r.worst[i]!, t0 + Number(r.worstIndex[i]!));
      }
    }
    r.sums.forEach((g, gi) => {
      const size = this.req.train.groupSizes[gi]!, sums = this.groupSums[gi]!;
      for (let i = 0; i < m * size; i++) sums[q0 * size + i] = sums[q0 * size + i]! + g[i]!;
    });
    if (this.full && r.scores) {
      for (let j = 0; j < m; j++) this.full.set(r.scores.subarray(j * n, (j + 1) * n), (q0 + j) * this.N + t0);
    }
  }

  result(seconds: number, engine: string): TracinResult {
    return { top: this.top, groupSums: this.groupSums, scores: this.full, pairs: this.N * this.M, seconds, engine };
  }
}

/**
 * The streaming both engines share: blocks of queries × shards of training rows, in order, with
 * cancellation, progress, and a turn of the event loop between shards (Ctrl-C, progress output).
 * `open` prepares a query block (its factors), `shard` scores one training shard against it.
 */
export async function streamBlocks<B>(
  req: TracinRequest,
  open: (qRows: number[]) => Promise<B> | B,
  shard: (block: B, q0: number, qRows: number[], t0: number, tRows: number[]) => Promise<void>,
  close?: (block: B) => void,
): Promise<void> {
  const N = req.train.y.length, M = req.queries.y.length;
  const size = req.shardSize ?? 2048, blockSize = req.queryBlock ?? 1024;
  const total = Math.ceil(M / blockSize) * Math.ceil(N / size);
  let done = 0;
  for (let q0 = 0; q0 < M; q0 += blockSize) {
    const qRows = range(q0, Math.min(M, q0 + blockSize));
    const block = await open(qRows);
    try {
      await forEachShard(N, size, req.signal, async (t0, tRows) => {
        await shard(block, q0, qRows, t0, tRows);
        req.onProgress?.(++done, total);
      });
    } finally {
      close?.(block);
    }
  }
}

/**
 * Rows 0..n in shards of `size`, in order: cancellation before each, a turn of the event loop
 * after. A shard's `fn` returning false stops there (the rest is not wanted).
 */
export async function forEachShard(n: number, size: number, signal: AbortSignal | undefined, fn: (from: number, rows: number[]) => Promise<void | false>): Promise<void> {
  for (let from = 0; from < n; from += size) {
    if (signal?.aborted) throw new Error("cancelled");
    if ((await fn(from, range(from, Math.min(n, from + size)))) === false) return;
    await new Promise((r) => setImmediate(r));
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

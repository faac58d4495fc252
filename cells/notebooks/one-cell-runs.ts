import type { RunsAnswer } from "./wire.ts";
import { runOutcome } from "../graph/outcome.ts";

/**
 * One cell's runs picked out of a whole run log, as the server's log tells them (`runLog` with a
 * cell): the pipeline runs that ran it, each holding that cell alone, timed from its start to its
 * end and with its outcome said of it. Pure: a static build's page picks them out of the log it
 * shipped; null when the log names no such cell.
 */
export function oneCellRuns(log: RunsAnswer, cell: string, limit = log.runs.length): RunsAnswer | null {
  if (!log.cells.includes(cell)) return null;
  const ran = log.runs.flatMap((r) => {
    const own = r.cells.filter((c) => c.cell === cell);
    if (!own.length) return [];
    const ends = own.map((c) => c.finished_at).filter((t): t is string => t !== null).sort(); // ISO text sorts as time
    const finished = ends.at(-1) ?? null, started = own[0]!.started_at;
    const seconds = finished === null ? null : (Date.parse(finished) - Date.parse(started)) / 1000;
    return [{ ...r, started_at: started, finished_at: finished, seconds, cells: own, outcome: runOutcome({ cells: own }) }];
  });
  return { ...log, cell, total: ran.length, runs: ran.slice(0, limit) };
}

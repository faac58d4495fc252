import { PipelineError, type Cell } from "./cell.ts";
import { didYouMean } from "./nearest.ts";

export interface Pipeline {
  readonly name: string;
  readonly cells: ReadonlyMap<string, Cell>;
  /** Cell names in dependency order (inputs first; ties in declaration order). */
  readonly order: readonly string[];
}

type CellMap = Record<string, Cell>;
type CellEntries = readonly (readonly [string, Cell])[];

/**
 * Declare a pipeline from named cells. Several maps (or entry lists) may be given, e.g. a base
 * and extensions; a name declared twice, an input naming no cell and a cycle are refused here,
 * before anything runs, with the names involved.
 */
export function pipeline(name: string, ...parts: (CellMap | CellEntries)[]): Pipeline {
  if (!name.trim()) throw new PipelineError("a pipeline needs a name");
  const cells = new Map<string, Cell>();
  for (const part of parts) {
    for (const [cellName, cell] of Array.isArray(part) ? part : Object.entries(part)) {
      if (cells.has(cellName)) throw new PipelineError(`pipeline "${name}": cell "${cellName}" is declared twice`);
      if (!cellName.trim()) throw new PipelineError(`pipeline "${name}": a cell has an empty name`);
      if (!isCell(cell)) throw new PipelineError(`pipeline "${name}": "${cellName}" is not a cell (no kind, version, inputs and run)`);
      cells.set(cellName, cell);
    }
  }
  for (const [cellName, cell] of cells) {
    const unknown = cell.inputs.filter((input) => !cells.has(input));
    if (unknown.length) {
      const names = [...cells.keys()];
      throw new PipelineError(
        `pipeline "${name}": cell "${cellName}" reads ${unknown.map((u) => `"${u}"`).join(", ")}, which ${unknown.length > 1 ? "are not cells" : "is not a cell"} of this pipeline (${unknown.length === 1 ? didYouMean(unknown[0]!, names) : ""}cells: ${names.join(", ")})`,
      );
    }
  }
  return { name, cells, order: topologicalOrder(name, cells) };
}

function isCell(value: unknown): value is Cell {
  const c = value as Cell;
  return !!c && typeof c.kind === "string" && typeof c.version === "string" && Array.isArray(c.inputs) && typeof c.run === "function";
}

/** Depth-first order; a back edge is a cycle, reported as the path that closes it. */
function topologicalOrder(name: string, cells: ReadonlyMap<string, Cell>): string[] {
  const order: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (cell: string, path: string[]) => {
    if (state.get(cell) === "done") return;
    if (state.get(cell) === "visiting") {
      const cycle = [...path.slice(path.indexOf(cell)), cell];
      throw new PipelineError(`pipeline "${name}": cycle ${cycle.map((c) => `"${c}"`).join(" → ")}`);
    }
    state.set(cell, "visiting");
    for (const input of cells.get(cell)!.inputs) visit(input, [...path, cell]);
    state.set(cell, "done");
    order.push(cell);
  };
  for (const cell of cells.keys()) visit(cell, []);
  return order;
}

/** The error for a cell name the pipeline does not have (a caller's `--cell`, `show`'s cell), with the nearest it does. */
export function noSuchCell(p: Pipeline, cell: string): PipelineError {
  const names = [...p.cells.keys()];
  return new PipelineError(`pipeline "${p.name}" has no cell "${cell}" (${didYouMean(cell, names)}cells: ${names.join(", ")})`);
}

/** Every cell that reads `cell`, directly or through others. */
export function descendants(p: Pipeline, cell: string): Set<string> {
  const out = new Set<string>();
  for (const name of p.order) {
    if (p.cells.get(name)!.inputs.some((i) => i === cell || out.has(i))) out.add(name);
  }
  return out;
}

/** `cell` and every cell it reads, directly or through others. */
export function ancestorsAndSelf(p: Pipeline, cell: string): Set<string> {
  const out = new Set<string>([cell]);
  for (const name of [...p.order].reverse()) {
    if (out.has(name)) for (const i of p.cells.get(name)!.inputs) out.add(i);
  }
  return out;
}

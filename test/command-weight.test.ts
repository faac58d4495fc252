// What a command loads before it does anything: no command's module imports TF.js, onnxruntime,
// Plot or linkedom; a command that trains, serves, traces or renders imports them in its action
// (each import chain to them cost every command 0.7-1.5 s to start; `tracebook proof verify` took
// 2.4-3.1 s, 1.1-1.4 s since).
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { COMMAND_MODULES } from "../bin/cli.ts";
import { computeBackend, computeBackendName } from "../cells/compute/backend.ts";
import { datanet, pipeline, runPipeline, sql } from "../cells/index.ts";
import { tempWorkspace } from "./helpers/workspace.ts";
import { smallDatanet } from "./helpers/datanets.ts";

/** The package names a value import (not `import type`) names, at the head of a statement. */
function imports(file: string): string[] {
  const text = fs.readFileSync(file, "utf8");
  const specs: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(?!type\s)(?:[^;"']*?\s+from\s+)?["']([^"']+)["']/gm)) specs.push(m[1]!);
  return specs;
}

/** The first chain of static imports from `entry` to a package starting with one of `heavy`, or null. */
function chainTo(entry: string, heavy: readonly string[]): string[] | null {
  const from = new Map<string, string | null>([[path.resolve(entry), null]]);
  const queue = [path.resolve(entry)];
  while (queue.length) {
    const file = queue.shift()!;
    for (const spec of imports(file)) {
      if (spec.startsWith(".")) {
        const next = path.resolve(path.dirname(file), spec);
        if (!from.has(next) && fs.existsSync(next)) {
          from.set(next, file);
          queue.push(next);
        }
      } else if (heavy.some((h) => spec === h || spec.startsWith(`${h}/`))) {
        const chain = [spec];
        for (let f: string | null = file; f; f = from.get(f) ?? null) chain.push(path.relative(process.cwd(), f));
        return chain.reverse();
      }
    }
  }
  return null;
}

/** The TF.js files this process has loaded. */
const tfLoaded = () => Object.keys(createRequire(import.meta.url).cache).filter((f) => f.includes(`${path.sep}@tensorflow${path.sep}`));

const HEAVY = ["@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm", "onnxruntime-node", "onnx-proto", "@observablehq/plot", "linkedom"];

describe("what a command loads", () => {
  it("no command's module loads an engine or a renderer: each loads them in its action", () => {
    // `tracebook --help` (and a mistyped command's suggestions) load every command's module: 3.2-3.8 s
    // while explain, report, what-if and demo loaded TF.js, onnxruntime and Plot with theirs, 1.5 s since.
    const modules = [...fs.readFileSync("bin/cli.ts", "utf8").matchAll(/import\("\.\/(commands\/[\w-]+\.ts)"\)/g)].map((m) => `bin/${m[1]}`);
    expect(modules).toHaveLength(COMMAND_MODULES.length);
    const chains = Object.fromEntries(modules.map((m) => [m, chainTo(m, HEAVY)]));
    expect(chains).toEqual(Object.fromEntries(modules.map((m) => [m, null])));
  });

  it("what a pipeline file imports loads no engine, renderer or Arrow: status, show and a run with nothing stale compute nothing", () => {
    // A pipeline file imports `tracebook` (cells/index.ts): TF.js (0.8 s through tsx), Arrow (0.4 s)
    // and onnx-proto (0.1 s) loaded with it made `status` and `show` take 2.2-2.9 s, 1.4-1.9 s since.
    expect(chainTo("cells/index.ts", [...HEAVY, "apache-arrow"])).toBeNull();
  });

  it("finds such a chain where there is one", () => {
    expect(chainTo("cells/notebooks/build.ts", ["apache-arrow"])).toEqual(["cells/notebooks/build.ts", "apache-arrow"]);
    expect(chainTo("reports/write.ts", ["@observablehq/plot"])?.at(-1)).toBe("@observablehq/plot");
  });

  it("runs Datanet and SQL cells without starting the compute backend", async () => {
    // The scheduler starts it before a cell that computes; a pipeline edit that makes only its
    // queries stale reran them after 0.8 s of TF.js loading.
    const ws = await tempWorkspace();
    try {
      await smallDatanet(ws, "notes-a");
      const p = pipeline("t", { a: datanet("notes-a"), n: sql`select count(*) as n from ${"a"}` });
      expect((await runPipeline(ws, p)).failed).toEqual([]);
      expect(tfLoaded()).toEqual([]);
    } finally {
      ws.close();
    }
  });

  it("names the backend a cell's fingerprint records without loading TF.js, and names the one then picked", async () => {
    const loaded = tfLoaded;
    expect(loaded()).toEqual([]);
    const named = await computeBackendName();
    expect(loaded()).toEqual([]);
    expect((await computeBackend()).name).toBe(named);
    expect(loaded().length).toBeGreaterThan(0);
    expect(await computeBackendName()).toBe(named);
  });
});

// What a command loads before it does anything: the commands that never train, serve, trace or
// render must not import TF.js, onnxruntime, Plot or linkedom (each import chain to them cost
// every such command 0.7-1.5 s to start; `tracebook proof verify` took 2.4-3.1 s, 1.1-1.4 s now).
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

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

const HEAVY = ["@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm", "onnxruntime-node", "onnx-proto", "@observablehq/plot", "linkedom"];

describe("what a command loads", () => {
  it("the commands that read, decide or check load no engine and no renderer", () => {
    const light = ["datanet", "curate", "decide", "run", "model", "usage", "receipt", "proof", "sql", "gc", "new"];
    const chains = Object.fromEntries(light.map((c) => [c, chainTo(`bin/commands/${c}.ts`, HEAVY)]));
    expect(chains).toEqual(Object.fromEntries(light.map((c) => [c, null])));
  });

  it("finds such a chain where there is one", () => {
    expect(chainTo("bin/commands/whatif.ts", HEAVY)).toEqual(expect.arrayContaining(["bin/commands/whatif.ts", "cells/compute/backend.ts", "@tensorflow/tfjs"]));
    expect(chainTo("reports/write.ts", ["@observablehq/plot"])?.at(-1)).toBe("@observablehq/plot");
  });
});

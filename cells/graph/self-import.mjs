// A Node module hook: `import { pipeline, tracin, … } from "tracebook"` in a pipeline file kept
// anywhere on disk (a data scientist's own folder, with no node_modules) means this engine, the
// one the command is running. Another copy would be a second engine: cells made by it would not
// be the cells this scheduler fingerprints and runs.
const ENGINE = new URL("../index.ts", import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  // Handed on as a file URL, so the TypeScript loader resolves (and later compiles) it as its own.
  if (specifier === "tracebook") return nextResolve(ENGINE, context);
  return nextResolve(specifier, context);
}

import fs from "node:fs";
import module from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { PipelineError } from "./cell.ts";
import { didYouMean } from "./nearest.ts";
import type { Pipeline } from "./pipeline.ts";
import type { Workspace } from "../store/workspace.ts";
import { pipelineFiles } from "./runs.ts";

/** This checkout: its pipelines/ is searched after the caller's, and its engine is what "tracebook" names. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

let selfImport = false;
/**
 * `import … from "tracebook"` in a pipeline file anywhere on disk means this engine: a resolve
 * hook (self-import.mjs) registered once, before the first pipeline loads, by whichever program
 * loads it (the CLI, a script of one's own). Registered after the TypeScript loader, so it is
 * asked first and hands the engine's file to that loader.
 */
function registerSelfImport(): void {
  if (selfImport) return;
  selfImport = true;
  module.register("./self-import.mjs", import.meta.url);
}

/** Whether a pipeline argument is a file path (a module) rather than a name. */
export function isPipelinePath(nameOrPath: string): boolean {
  return /\.(ts|js|mjs|mts)$/.test(nameOrPath);
}

/** Where a pipeline name is looked for: ./pipelines/ under `cwd`, then the project's own. */
const pipelineRoots = (cwd: string) => [...new Set([cwd, PROJECT_ROOT])];

/** `mail` → ./pipelines/mail.pipeline.ts (then the project's own pipelines/); a path is taken as is. */
export function resolvePipelineFile(nameOrPath: string, cwd = process.cwd()): string {
  if (isPipelinePath(nameOrPath)) {
    const file = path.resolve(cwd, nameOrPath);
    if (!fs.existsSync(file)) throw new PipelineError(`pipeline file ${file} does not exist`);
    return file;
  }
  const found = pipelineRoots(cwd).map((root) => path.join(root, "pipelines", `${nameOrPath}.pipeline.ts`)).find((f) => fs.existsSync(f));
  if (!found) throw noPipeline(nameOrPath, cwd);
  return found;
}

/**
 * The error for a pipeline name found nowhere: where it was looked for, and the names there are
 * (those in the folders, and `alsoKnown`: the ones the caller can find elsewhere, the
 * workspace's), the nearest first when one is close. Read only once the name is not found.
 */
export function noPipeline(name: string, cwd = process.cwd(), alsoKnown: readonly string[] = []): PipelineError {
  const roots = pipelineRoots(cwd);
  const inFolders = roots.flatMap((root) => {
    const dir = path.join(root, "pipelines");
    return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".pipeline.ts")).map((f) => f.replace(/\.pipeline\.ts$/, "")) : [];
  });
  const known = [...new Set([...inFolders, ...alsoKnown])].sort();
  const candidates = roots.map((root) => path.join(root, "pipelines", `${name}.pipeline.ts`));
  return new PipelineError(`no pipeline "${name}" (${didYouMean(name, known)}looked for ${candidates.join(", ")}; known: ${known.join(", ") || "none"})`);
}

/**
 * Import a pipeline module and check its default export. `fresh` re-reads the file once it has
 * changed (watch mode, the notebook server's cell states): the URL carries the file's mtime and
 * size, so the module cache returns the old module only while the file is the same, and a
 * process asking again and again keeps one module per edit, not one per ask.
 */
export async function loadPipeline(nameOrPath: string, options: { fresh?: boolean; cwd?: string } = {}): Promise<{ pipeline: Pipeline; file: string }> {
  const file = resolvePipelineFile(nameOrPath, options.cwd);
  registerSelfImport();
  const stat = options.fresh ? fs.statSync(file) : null;
  const url = pathToFileURL(file).href + (stat ? `?v=${stat.mtimeMs}-${stat.size}` : "");
  let mod: { default?: Pipeline };
  try {
    mod = (await import(url)) as { default?: Pipeline };
  } catch (err) {
    // Outside a `"type": "module"` package a .ts file is loaded as CommonJS, and its
    // import of the (ESM) engine fails with an obscure require() message.
    if (/require\(\)|require\(esm\)|Cannot use import statement/.test((err as Error).message)) {
      throw new PipelineError(`${file} was loaded as CommonJS: pipelines are ES modules; put a package.json with "type": "module" beside it or name it .pipeline.mts (${(err as Error).message.split("\n")[0]})`);
    }
    // A syntax error: the transform names file, line and column; the file is the caller's (exit 2).
    const message = (err as Error).message ?? "";
    if (/^Transform failed with \d+ errors?:/.test(message)) throw new PipelineError(syntaxError(message, file));
    const at = whereInFile(err, file);
    if (at) throw new PipelineError(`${at}: ${(err as Error).message}`);
    throw err;
  }
  const p = mod.default;
  if (!p || typeof p.name !== "string" || !(p.cells instanceof Map) || !Array.isArray(p.order)) {
    throw new PipelineError(`${file} does not export a pipeline: write \`export default pipeline("name", { ... })\``);
  }
  return { pipeline: p, file };
}

/**
 * A transform's syntax error as one line: tsx's (esbuild) "file:line:col: ERROR: what" lines as
 * "file:line:col: syntax error: what"; another transform's text (vite's, under the tests) with its
 * colours taken out, after the file's name.
 */
function syntaxError(message: string, file: string): string {
  const lines = message.split("\n").slice(1).filter((l) => l.trim());
  const located = lines.map((l) => /^(.+:\d+:\d+): ERROR: (.*)$/.exec(l)).filter((m) => m !== null);
  if (located.length) return located.map((m) => `${m[1]}: syntax error: ${m[2]}`).join("; ");
  // eslint-disable-next-line no-control-regex
  return `${file}: syntax error: ${lines.join(" ").replace(/\u001b\[[\d;]*m/g, "").replace(/\s+/g, " ").trim()}`;
}

/**
 * Where in the pipeline file a cell's options were refused while the module ran: "file:line:col"
 * from the first stack frame in that file (tsx maps it back to the TypeScript source), and the
 * cell's name when the call sits behind it on that line (`base: baseModel({ … })`). A cell
 * factory checks its options without knowing the name it is given, so this names it.
 */
export function whereInFile(err: unknown, file: string): string | null {
  const stack = err instanceof Error ? err.stack ?? "" : "";
  const url = pathToFileURL(file).href;
  for (const frame of stack.split("\n")) {
    const m = /\(?((?:file:\/\/)?\/[^()]*?):(\d+):(\d+)\)?\s*$/.exec(frame);
    if (!m || (m[1] !== file && m[1] !== url)) continue;
    const [line, col] = [Number(m[2]), Number(m[3])];
    const before = (fs.readFileSync(file, "utf8").split("\n")[line - 1] ?? "").slice(0, col - 1);
    const cell = /(?:^|[{,\s])["']?([A-Za-z_$][\w$-]*)["']?\s*:\s*$/.exec(before)?.[1];
    return `${file}:${line}:${col}${cell ? ` (cell "${cell}")` : ""}`;
  }
  return null;
}

/**
 * loadPipeline for a command that has the workspace open: a name that pipelines/ does not hold
 * falls back to the file this workspace last ran that pipeline from (runs.ts: pipeline_files),
 * so `tracebook status mine` works for a pipeline kept in the data scientist's own folder.
 */
export async function loadPipelineIn(ws: Workspace, nameOrPath: string, options: { cwd?: string; fresh?: boolean } = {}): Promise<{ pipeline: Pipeline; file: string }> {
  let file: string;
  try {
    file = resolvePipelineFile(nameOrPath, options.cwd);
  } catch (err) {
    // The run log is read only when the folders do not have it: `status mail` stays one lookup.
    const recorded = await pipelineFiles(ws);
    const last = recorded.get(nameOrPath);
    if (last && fs.existsSync(last)) file = last;
    else if (isPipelinePath(nameOrPath)) throw err;
    else throw noPipeline(nameOrPath, options.cwd, [...recorded].filter(([, f]) => fs.existsSync(f)).map(([name]) => name));
  }
  return loadPipeline(file, options);
}

import path from "node:path";
import type { Command } from "commander";
import { InputError } from "../../cells/datanet/errors.ts";
import { existingWorkspace } from "../cli.ts";
import { workspaceReadOnly } from "../../cells/store/workspace.ts";
import { shortPath } from "../output.ts";

interface DevOpts { port?: string; pipeline?: string[]; watch: boolean; notebooks?: string }
interface BuildOpts { out?: string; pipeline?: string[]; notebooks?: string }

/** `tracebook dev` (the notebooks, live, on 127.0.0.1) and `tracebook build-notebooks` (a static site). */
export function registerDev(program: Command): void {
  program
    .command("dev")
    .description("serve the notebooks (notebooks/*.md) on 127.0.0.1 with the pipelines' current outputs; watch the pipelines and update open pages live")
    .option("--port <n>", "port (default 5173, the next free one if taken)")
    .option("--pipeline <name...>", "pipelines (names or files) to watch and serve (default: those the notebooks name and those the workspace has run, and any first run while it serves; not those only watch: false notebooks read)")
    .option("--no-watch", "serve the outputs as they are: do not run the pipelines")
    .option("--notebooks <dir>", "folder of notebooks (default: the project's notebooks/)")
    .action(async (opts: DevOpts, command: Command) => {
      const { workspace, readOnly } = command.optsWithGlobals<{ workspace?: string; readOnly?: boolean }>();
      const home = existingWorkspace(workspace);
      const port = opts.port === undefined ? undefined : Number(opts.port);
      if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new InputError(`--port ${opts.port}: not a port number`);
      const { startNotebookServer } = await import("../../cells/notebooks/server.ts");
      const { listNotebooks } = await import("../../cells/notebooks/plugin.ts");
      const t0 = performance.now();
      const server = await startNotebookServer({
        home, port, pipelines: opts.pipeline, watch: opts.watch, readOnly,
        notebooksDir: opts.notebooks ? path.resolve(opts.notebooks) : undefined,
      });
      console.log(`Tracebook notebooks: ${server.url} (ready in ${((performance.now() - t0) / 1000).toFixed(1)} s; Ctrl-C stops)`);
      for (const n of listNotebooks(server.notebooksDir)) console.log(`  ${server.url}${n.name}  ${n.title}${n.error ? ` (error: ${n.error})` : ""}`);
      const { served, watched } = server.pipelines;
      const asIs = served.filter((p) => !watched.includes(p));
      console.log(server.readOnly
        ? `Read-only (${server.readOnly}): the outputs are served as they are, no pipeline runs, and curators' decisions are refused.`
        : opts.watch
        ? `Watching ${watched.join(", ") || "no pipeline"}: new outputs reach open pages without a reload.${asIs.length ? ` Served as they are (run by hand): ${asIs.join(", ")}.` : ""}${opts.pipeline?.length ? "" : " A pipeline first run from now on is watched once a page or the index asks for it."}`
        : "Not watching (--no-watch): run `tracebook run <pipeline>` and reload to see new outputs.");
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          console.log("\nStopping…");
          server.close().then(resolve, resolve);
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
    });

  program
    .command("build-notebooks")
    .description("write the notebooks as a static site, with the outputs they read as Arrow files")
    .option("--out <dir>", "output folder (default: site/ in the workspace)")
    .option("--pipeline <name...>", "pipelines whose outputs to include (default: those the notebooks name)")
    .option("--notebooks <dir>", "folder of notebooks (default: the project's notebooks/)")
    .action(async (opts: BuildOpts, command: Command) => {
      const { workspace, readOnly } = command.optsWithGlobals<{ workspace?: string; readOnly?: boolean }>();
      const home = existingWorkspace(workspace);
      const { buildNotebooks } = await import("../../cells/notebooks/build.ts");
      const t0 = performance.now();
      const why = workspaceReadOnly(home, readOnly);
      if (why && !opts.out) throw new InputError(`workspace ${home} is read-only (${why}): name a folder for the site with --out`);
      const outDir = path.resolve(opts.out ?? path.join(home, "site"));
      const result = await buildNotebooks({ home, outDir, readOnly, pipelines: opts.pipeline, notebooksDir: opts.notebooks ? path.resolve(opts.notebooks) : undefined });
      console.log(`Wrote ${result.pages.length} notebook page${result.pages.length === 1 ? "" : "s"} and ${result.tables.length} table${result.tables.length === 1 ? "" : "s"} (${(result.bytes / 2 ** 20).toFixed(1)} MiB) to ${result.outDir} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      for (const t of result.tables) console.log(`  ${t}`);
      if (result.explainers.length) console.log("Explain an input runs in the page, with the portable explainer of:");
      for (const e of result.explainers) console.log(`  ${e}`);
      if (result.queries.length) console.log("Server queries (```sql server blocks): run now and shipped as their results, or run in the page; those the page will not get an answer from first (✗):");
      for (const { pipeline, queries } of result.queries) {
        const inPage = queries.filter((q) => !q.fails && q.runs === "page").length, failing = queries.filter((q) => q.fails).length;
        console.log(`  ${pipeline}: ${queries.length - inPage - failing} shipped, ${inPage} run in the page, ${failing} without an answer there`);
        for (const q of [...queries.filter((q) => q.fails), ...queries.filter((q) => !q.fails)]) console.log(`    ${q.fails ? "✗" : " "} ${q.where} ${q.result}`);
      }
      if (result.models.length) console.log("Model history, each model compared with the one before it:");
      for (const m of result.models) console.log(`  ${m}`);
      if (result.runs.length) console.log("Pipeline runs, the run log as it is now:");
      for (const r of result.runs) console.log(`  ${r}`);
      console.log(`Serve it with any static server, e.g. npx vite preview --outDir ${shortPath(result.outDir)} (browsers do not run modules from file://)`);
    });
}

import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { withWorkspace } from "../cli.ts";
import { toJson } from "../output.ts";
import { PIPELINE_NAME, countOf, datanetCellNames, labelCounts, payloadOf, qualityName, scaffoldPipeline, scaffoldQualityPipeline } from "../scaffold.ts";
import { describeDatanet, listDatanets } from "../../cells/datanet/catalog.ts";
import { InputError } from "../../cells/datanet/errors.ts";
import { unknownDatanet } from "../../cells/datanet/known.ts";
import { writeFileAtomic } from "../../cells/store/atomic.ts";
import { pipelineFiles } from "../../cells/graph/runs.ts";
import { PROJECT_ROOT } from "../../cells/graph/loader.ts";

interface NewOpts { datanet: string[]; dir?: string; force?: boolean; quality?: boolean; json?: boolean }

/** A word for a shell command line: quoted when it holds anything but plain path characters. */
function sh(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The tsconfig.json beside a generated pipeline: this project's compiler options, "tracebook"
 * mapped to this checkout's engine and Node's types taken from its node_modules (the folder has
 * none), so an editor type-checks the pipeline file as the CLI will load it.
 */
export function scaffoldTsconfig(root = PROJECT_ROOT): string {
  const own = JSON.parse(fs.readFileSync(path.join(root, "tsconfig.json"), "utf8")) as { compilerOptions: Record<string, unknown> };
  return toJson({
    compilerOptions: {
      ...own.compilerOptions,
      typeRoots: [path.join(root, "node_modules", "@types")],
      paths: { tracebook: [path.join(root, "cells", "index.ts")] },
    },
    include: ["pipelines"],
  }) + "\n";
}

/** `tracebook new <pipeline> --datanet <name>`: a pipeline file for an existing Datanet, in a folder of one's own. */
export function registerNew(program: Command): void {
  program
    .command("new")
    .description("write a pipeline for an existing Datanet (pipelines/<pipeline>.pipeline.ts, with a package.json and a tsconfig.json when absent): run, infer, rewards, report and the notebooks work on it as they are")
    .argument("<pipeline>", "pipeline name: lowercase letters, digits and '-', starting with a letter")
    .requiredOption("--datanet <name...>", "the Datanet it trains on (tracebook datanet list); several of one kind are trained on together, each keeping its share of the influence")
    .option("--dir <folder>", "folder to write into (default: the current directory); commands find the pipeline by name when run from it")
    .option("--force", "overwrite an existing pipeline file of that name")
    .option("--quality", "also write <pipeline>-quality: how far its influence scores can be trusted (LOCO, LDS, mislabel detection), run by hand")
    .option("--json", "print {files, pipeline, datanet}")
    .action(async (name: string, opts: NewOpts, command: Command) => {
      if (!PIPELINE_NAME.test(name)) {
        throw new InputError(`invalid pipeline name "${name}": use lowercase letters, digits and '-', starting with a letter (e.g. "support" or "support-v2")`);
      }
      const dir = path.resolve(opts.dir ?? ".");
      // This checkout type-checks and tests its own folders: a pipeline importing "tracebook" there would break both.
      const inside = path.relative(PROJECT_ROOT, fs.existsSync(dir) ? fs.realpathSync(dir) : dir);
      if (!inside.startsWith("..") && !path.isAbsolute(inside)) {
        throw new InputError(`${dir} is inside this checkout (${PROJECT_ROOT}): write your pipeline in a folder of your own (--dir <folder>)`);
      }
      const file = path.join(dir, "pipelines", `${name}.pipeline.ts`);
      const qualityFile = opts.quality ? path.join(dir, "pipelines", `${qualityName(name)}.pipeline.ts`) : null;
      const packageFile = path.join(dir, "package.json");
      const tsconfigFile = path.join(dir, "tsconfig.json");
      await withWorkspace(command, async (ws) => {
        const known = (await listDatanets(ws)).map((d) => d.name);
        const names = opts.datanet.flatMap((d) => d.split(",")).map((d) => d.trim()).filter(Boolean);
        for (const d of names) {
          if (!known.includes(d)) throw new InputError(unknownDatanet(d, known, "none: import one with tracebook datanet import <name> <file> --create …"));
        }
        const twice = names.find((d, i) => names.indexOf(d) !== i);
        if (twice) throw new InputError(`--datanet names "${twice}" twice`);
        // A pipeline's name keys its runs and its usage ledger: two files under one name would settle each other's inferences.
        const recordedFiles = await pipelineFiles(ws);
        for (const [pipelineName, target] of [[name, file], ...(qualityFile ? [[qualityName(name), qualityFile]] : [])] as [string, string][]) {
          const recorded = recordedFiles.get(pipelineName);
          const own = path.join(PROJECT_ROOT, "pipelines", `${pipelineName}.pipeline.ts`);
          const taken = recorded && fs.existsSync(recorded) ? recorded : fs.existsSync(own) ? own : null;
          if (taken && !(fs.existsSync(target) && fs.realpathSync(taken) === fs.realpathSync(target))) {
            throw new InputError(`pipeline "${pipelineName}" is already ${taken === recorded ? "run in this workspace from" : "this project's pipeline"} ${taken}: pick another name (a pipeline's name keys its runs and its usage ledger)`);
          }
          if (fs.existsSync(target) && !opts.force) throw new InputError(`${target} exists: pass --force to overwrite it, or pick another name`);
        }
        const hasPackage = fs.existsSync(packageFile);
        if (hasPackage) {
          let pkg: unknown;
          try {
            pkg = JSON.parse(fs.readFileSync(packageFile, "utf8"));
          } catch (err) {
            throw new InputError(`${packageFile} is not valid JSON (${(err as Error).message}): fix it, or use another --dir`);
          }
          if ((pkg as { type?: unknown } | null)?.type !== "module") {
            throw new InputError(`${packageFile} does not say "type": "module", so Node would load the pipeline file as CommonJS and fail: add "type": "module" to it, or use another --dir`);
          }
        }

        const details = await Promise.all(names.map((d) => describeDatanet(ws, d)));
        // One model reads them all: the same payload (text, or vectors of one length).
        const odd = details.find((d) => payloadOf(d.spec) !== payloadOf(details[0]!.spec));
        if (odd) throw new InputError(`Datanet "${odd.spec.name}" holds ${payloadOf(odd.spec)} and "${details[0]!.spec.name}" ${payloadOf(details[0]!.spec)}: one model cannot train on both`);
        const written: string[] = [];
        await writeFileAtomic(file, scaffoldPipeline(name, details));
        written.push(file);
        if (qualityFile) {
          await writeFileAtomic(qualityFile, scaffoldQualityPipeline(name, details));
          written.push(qualityFile);
        }
        if (!hasPackage) {
          await writeFileAtomic(packageFile, toJson({ private: true, type: "module" }) + "\n");
          written.push(packageFile);
        }
        if (!fs.existsSync(tsconfigFile)) {
          await writeFileAtomic(tsconfigFile, scaffoldTsconfig());
          written.push(tsconfigFile);
        }
        if (opts.json) return console.log(toJson({ files: written, pipeline: name, datanet: names[0], datanets: names }));

        const spec = details[0]!.spec;
        const labels = new Set(details.flatMap((d) => labelCounts(d).map((l) => l.label)));
        const cells = datanetCellNames(names);
        console.log(names.length === 1
          ? `Wrote ${file}: pipeline "${name}" on Datanet "${spec.name}" (${spec.kind}, ${labels.size} label${labels.size === 1 ? "" : "s"}; its approved rows are the cell "${cells[0]}").`
          : `Wrote ${file}: pipeline "${name}" on Datanets ${names.map((d, i) => `"${d}" (cell "${cells[i]}")`).join(", ")}, trained on together (${spec.kind}, ${labels.size} label${labels.size === 1 ? "" : "s"}).`);
        if (qualityFile) console.log(`Wrote ${qualityFile}: pipeline "${qualityName(name)}", how far "${name}"'s influence scores can be trusted (reusing its model).`);
        if (written.includes(packageFile)) console.log(`Wrote ${packageFile}: pipeline files are ES modules ("type": "module").`);
        if (written.includes(tsconfigFile)) console.log(`Wrote ${tsconfigFile}: an editor type-checks the pipeline against this checkout's engine (${path.join(PROJECT_ROOT, "cells", "index.ts")}).`);
        for (const kept of [packageFile, tsconfigFile].filter((f) => !written.includes(f))) console.log(`Kept ${kept} as it is.`);

        // The next commands run from `dir`, where `pipelines/<name>` is found; the same workspace must be named there.
        const cd = path.resolve(dir) === process.cwd() ? null : `cd ${sh(dir)}`;
        const fromDir = path.resolve(dir, process.env.TRACEBOOK_HOME ?? ".tracebook");
        const steps: string[] = [];
        if (cd) steps.push(cd);
        if (path.resolve(ws.home) !== fromDir) steps.push(`export TRACEBOOK_HOME=${sh(ws.home)}   # this workspace (or --workspace on each command)`);
        for (const detail of details) {
          const { spec: { name: d }, summary: { pending, approved } } = detail;
          if (!countOf(detail, "train", "approved")) {
            console.log(`\nDatanet "${d}" has no approved contributions in its train split yet (${pending} pending${pending ? "" : ": import some"}); the pipeline trains on approved ones only.`);
            if (pending) {
              steps.push(
                `tracebook curate queue ${d}   # what the rules flag (duplicates, empty or oversize rows, …) before you approve`,
                `tracebook curate approve --datanet ${d} --where "status = 'pending'" --reason "…"   # once you have looked at them`,
              );
            }
          } else if (pending) {
            console.log(`\n${pending} contribution${pending === 1 ? " is" : "s are"} of Datanet "${d}" still pending: the pipeline trains on the ${approved} approved.`);
          }
        }
        const labelled = names.length === 1 ? `Datanet "${spec.name}" has` : `Datanets ${names.join(", ")} have`;
        if (labels.size < 2) console.log(`${labelled} ${labels.size ? "one label" : "no labels"}: a classifier needs two or more to learn anything.`);
        const input = spec.kind === "features"
          ? `"$(node -e 'console.log(JSON.stringify(Array(${spec.featureDim ?? 1}).fill(0)))')"`
          : `"some text of your own"`;
        steps.push(
          `tracebook run ${name}   # train, trace influence, settle`,
          ...names.map((d) => `tracebook curate queue ${d}   # then what the trained model doubts: rows approved before it scored them stay in the queue until kept, rejected or quarantined`),
          `tracebook infer ${name} --model model ${input} --settle   # a paid inference${spec.kind === "features" ? ` (a JSON array of ${spec.featureDim ?? "its"} numbers)` : ""}, attributed and split at once`,
          `tracebook rewards ${name}   # who was paid what, and why`,
          `tracebook report ${name}   # the attribution report`,
          `tracebook dev --pipeline ${name}   # the notebooks, live: open a page it lists with ?pipeline=${name}, e.g. /influence-explorer?pipeline=${name}`,
        );
        if (qualityFile) {
          steps.push(`tracebook run ${qualityName(name)}   # retrains the model many times: LOCO, LDS, mislabel detection (then \`tracebook report ${name}\` quotes them, and /attribution-quality?pipeline=${qualityName(name)} draws them)`);
        }
        console.log(`\nNext${cd ? "" : ", from here"}:\n${steps.map((s) => `  ${s}`).join("\n")}`);
      });
    });
}

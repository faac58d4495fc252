import path from "node:path";
import { Command, Option } from "commander";
import { withWorkspace } from "../cli.ts";
import { formatTable, toJson } from "../output.ts";
import { progressBar } from "../progress.ts";
import { corpora } from "../../datasets/index.ts";
import { importCorpus } from "../../datasets/import.ts";
import { importFile } from "../../datasets/files/import.ts";
import { describeDatanet, listDatanets } from "../../cells/datanet/catalog.ts";
import { exportQuery } from "../../cells/store/export.ts";
import { STATUSES, type Status } from "../../cells/datanet/types.ts";
import { InputError } from "../../cells/datanet/errors.ts";
import type { ImportSummary } from "../../cells/datanet/ingest.ts";
import { registerDecisions } from "./decide.ts";
import { fraction, wholeNumber } from "../numbers.ts";

interface ImportOptions {
  text?: string; title?: string; label?: string; contributor?: string; features?: string; submittedAt?: string;
  create?: boolean; replace?: boolean; status?: Status; description?: string; labels?: string; seed: string;
  testFraction: string; delimiter?: string; json?: boolean;
}

export function registerDatanet(program: Command): void {
  const datanet = program.command("datanet").description("import, list, show and export Datanets");
  registerDecisions(datanet);

  datanet
    .command("import")
    .description(`import a built-in corpus (${[...corpora.keys()].join(", ")}) or a CSV, TSV, JSONL or Parquet file, all or nothing`)
    .argument("<name>", "Datanet name")
    .argument("[file]", "a .csv, .tsv, .jsonl/.ndjson or .parquet file (omit for a built-in corpus)")
    .option("--text <column>", "column holding the text payload")
    .option("--title <column>", "column holding a title (e.g. a subject line)")
    .option("--label <column>", "column holding the label")
    .option("--contributor <column>", "column holding the contributor id")
    .option("--features <columns>", "numeric payload: one list column, 'a,b,c', or a pattern such as 'px*'")
    .option("--submitted-at <column>", "column holding the submission time (ISO 8601); default: now")
    .option("--delimiter <char>", "field separator of a .csv or .tsv file, where it is not the extension's (\",\", tab): e.g. ';' (\\t: tab)")
    .option("--create", "create the Datanet if it does not exist")
    .option("--replace", "drop the Datanet's rows and validation trail, then import")
    .addOption(new Option("--status <status>", "status of new contributions (files: pending; corpora: approved)").choices(STATUSES))
    .option("--description <text>", "description of a new Datanet")
    .option("--labels <list>", "allowed labels of a new Datanet, comma-separated")
    .option("--seed <n>", "seed of the deterministic train/test split of a new Datanet", "0")
    .option("--test-fraction <f>", "share of contributions in the test split of a new Datanet", "0.2")
    .option("--json", "print the import summary as JSON")
    .action(async (name: string, file: string | undefined, opts: ImportOptions, command: Command) => {
      await withWorkspace(command, async (ws) => {
        let summary: ImportSummary & { notes?: Record<string, number> };
        if (file === undefined) {
          const corpus = corpora.get(name);
          if (!corpus) {
            throw new InputError(`"${name}" is not a built-in corpus (${[...corpora.keys()].join(", ")}); to import your own data: tracebook datanet import ${name} <file> --create --text <col> --label <col> --contributor <col>`);
          }
          const read = progressBar(`reading ${name}`, !opts.json && process.stderr.isTTY === true);
          const stage = progressBar(`staging ${name}`, !opts.json && process.stderr.isTTY === true);
          try {
            summary = await importCorpus(ws, corpus, {
              replace: opts.replace, status: opts.status,
              onProgress: (phase, done, total) => (phase === "read" ? read : stage).update(done, total),
            });
          } finally {
            read.stop();
            stage.stop();
          }
        } else {
          if (!opts.label || !opts.contributor) throw new InputError("importing a file needs --label <column> and --contributor <column>");
          // Megabytes of the file read: a file of hundreds of MB takes most of a minute.
          const read = progressBar(`importing ${path.basename(file)} (MB)`, !opts.json && process.stderr.isTTY === true);
          try {
            summary = await importFile(ws, name, file, {
              text: opts.text, title: opts.title, label: opts.label, contributor: opts.contributor,
              features: opts.features, submittedAt: opts.submittedAt,
            }, {
              create: opts.create, replace: opts.replace, status: opts.status, description: opts.description,
              labels: opts.labels?.split(",").map((l) => l.trim()).filter(Boolean),
              seed: wholeNumber(opts.seed, "--seed", { what: "a seed is a non-negative integer" }), testFraction: fraction(opts.testFraction, "--test-fraction"),
              delimiter: opts.delimiter === "\\t" || opts.delimiter?.toLowerCase() === "tab" ? "\t" : opts.delimiter,
              onProgress: (done, total) => read.update(Math.round(done / 1e6), Math.round(total / 1e6)),
            });
          } finally {
            read.stop();
          }
        }
        if (opts.json) console.log(toJson(summary));
        else {
          console.log(
            `Imported ${summary.datanet}: ${summary.rowsRead} rows read, ${summary.contributionsAdded} contributions added, ` +
            `${summary.duplicates} duplicates recorded, ${summary.contributorsAdded} new contributors, in ${summary.seconds.toFixed(1)} s`,
          );
          if (summary.notes && Object.keys(summary.notes).length) console.log(`Notes: ${toJson(summary.notes, 0)}`);
        }
      }, { creates: true });
    });

  datanet
    .command("list")
    .description("list the Datanets with their contribution, contributor and status counts")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }, command: Command) => {
      await withWorkspace(command, async (ws) => {
        const rows = await listDatanets(ws);
        if (opts.json) console.log(toJson(rows));
        else if (!rows.length) console.log("No Datanets yet. Try: tracebook datanet import mail-spam");
        else console.log(formatTable(rows.map(({ created_at: _c, ...r }) => r)));
      });
    });

  datanet
    .command("show")
    .description("show a Datanet: its contract, labels, contributors and import history")
    .argument("<name>", "Datanet name")
    .option("--json", "print JSON")
    .action(async (name: string, opts: { json?: boolean }, command: Command) => {
      await withWorkspace(command, async (ws) => {
        const detail = await describeDatanet(ws, name);
        if (opts.json) return console.log(toJson(detail));
        const { spec, summary } = detail;
        console.log(`${spec.name} (${spec.kind}${spec.featureDim ? `, ${spec.featureDim} features` : ""}): ${spec.description}`);
        console.log(`source: ${spec.source}`);
        console.log(`contributions: ${summary.contributions} (approved ${summary.approved}, pending ${summary.pending}, rejected ${summary.rejected}, quarantined ${summary.quarantined}); duplicates recorded: ${summary.duplicates}`);
        console.log(`split: train ${summary.train}, test ${summary.test} (seed ${spec.splitSeed}, test fraction ${spec.testFraction})`);
        console.log(`contributor rule: ${spec.contributorRule}\n`);
        console.log(formatTable(detail.labels, { maxRows: 200 }));
        console.log(formatTable(detail.contributors, { maxRows: 200 }));
        console.log(formatTable(detail.imports, { maxCell: 40 }));
      });
    });

  datanet
    .command("export")
    .description("export a Datanet's contributions to Parquet (.parquet) or Arrow IPC (.arrow)")
    .argument("<name>", "Datanet name")
    .argument("<file>", "output file; the format follows the extension")
    .addOption(new Option("--status <status>", "only contributions with this status").choices(STATUSES))
    .addOption(new Option("--split <split>", "only this split").choices(["train", "test"]))
    .option("--json", "print the result as JSON")
    .action(async (name: string, file: string, opts: { status?: Status; split?: string; json?: boolean }, command: Command) => {
      await withWorkspace(command, async (ws) => {
        await describeDatanet(ws, name); // fails clearly on an unknown name
        const where = ["datanet = ?", opts.status ? "status = ?" : null, opts.split ? "split = ?" : null].filter(Boolean).join(" and ");
        const params = [name, opts.status, opts.split].filter((p): p is string => p !== undefined);
        const result = await exportQuery(ws, `select * from contributions where ${where} order by id`, file, { params });
        console.log(opts.json ? toJson(result) : `Wrote ${result.rows} contributions to ${result.file} (${result.format})`);
      });
    });
}

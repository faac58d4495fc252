import type { Command } from "commander";
import { withWorkspace } from "../cli.ts";
import { formatTable } from "../output.ts";
import { progressBar } from "../progress.ts";
import { corpora } from "../../datasets/index.ts";
import { importCorpus } from "../../datasets/import.ts";
import { listDatanets } from "../../cells/datanet/catalog.ts";

/** `npm start`: the demo on real data. For now: import the corpora that are missing and list the Datanets. */
export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("run the demo on the real corpora (imports them on first use)")
    .action(async (_opts: unknown, command: Command) => {
      await withWorkspace(command, async (ws) => {
        const present = new Set((await listDatanets(ws)).map((d) => d.name));
        for (const corpus of corpora.values()) {
          if (present.has(corpus.name)) continue;
          const bar = progressBar(`importing ${corpus.name}`);
          try {
            const s = await importCorpus(ws, corpus, { onProgress: (_phase, done, total) => bar.update(done, total) });
            bar.stop();
            console.log(`Imported ${s.datanet}: ${s.rowsRead} rows, ${s.contributionsAdded} contributions, ${s.duplicates} duplicates recorded`);
          } finally {
            bar.stop();
          }
        }
        console.log(formatTable((await listDatanets(ws)).map(({ created_at: _c, ...r }) => r)));
        console.log(`\nWorkspace: ${ws.dbPath}\nExplore: npx tracebook datanet show mail-spam · npx tracebook sql "select label, count(*) from contributions group by label"`);
      });
    });
}

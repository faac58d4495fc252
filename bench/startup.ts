// What a command costs before it does its work, on real mail: each command below spawned as a
// user types it (node bin/tracebook.js …), a few times, its wall time from spawn to exit. The
// commands that load the pipeline file (status, show, a run with nothing stale) are the ones a
// heavy import at the top of the engine makes slow (TF.js alone was 0.8 s of them). Written to
// bench/results/startup.json.
//
//   npx tsx bench/startup.ts [--from <workspace dir where the mail pipeline ran>] [--times n]
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import fs from "node:fs";
import { argument, mailWorkspace } from "./mail.ts";
import { runBench, secondsSince, writeBenchReport } from "./report.ts";

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "bin", "tracebook.js");

const COMMANDS: Record<string, string[]> = {
  help: ["--help"],
  sql: ["sql", "select 1"],
  // A cell's output as a table: the pipeline file loaded and its status taken, for the stale note.
  "sql on a cell": ["sql", "select count(*) from mail.influence"],
  "model list": ["model", "list"],
  "curate queue": ["curate", "queue", "mail-spam", "--limit", "1"],
  rewards: ["rewards", "mail"],
  status: ["status", "mail"],
  // The run log reads the runs table only: no pipeline file, no artifact.
  log: ["log", "mail"],
  show: ["show", "mail", "contributors"],
  "run (nothing stale)": ["run", "mail"],
};

runBench(async () => {
  const { ws, home } = await mailWorkspace("tb-bench-startup-");
  ws.close();
  const times = Number(argument("--times") ?? 5);
  try {
    const commands: Record<string, { min_seconds: number; median_seconds: number; runs: number }> = {};
    for (const [name, args] of Object.entries(COMMANDS)) {
      const seconds: number[] = [];
      for (let i = 0; i < times; i++) {
        const t0 = performance.now();
        const r = spawnSync(process.execPath, [BIN, "--workspace", home, ...args], { encoding: "utf8" });
        seconds.push(secondsSince(t0));
        if (r.status !== 0) throw new Error(`tracebook ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
      }
      seconds.sort((a, b) => a - b);
      commands[name] = { min_seconds: seconds[0]!, median_seconds: seconds[Math.floor(seconds.length / 2)]!, runs: times };
      console.log(`${name.padEnd(22)} ${seconds.join(" ")}`);
    }
    await writeBenchReport("startup", {
      what: "commands spawned as typed, on a workspace where the mail pipeline is up to date: wall seconds from spawn to exit",
      commands,
    });
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

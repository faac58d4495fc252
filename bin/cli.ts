import { Command, CommanderError } from "commander";
import fs from "node:fs";
import { openWhenFree, ReadOnlyWorkspaceError, resolveWorkspaceHome, workspaceDbPath, WorkspaceBusyError, type Workspace } from "../cells/store/workspace.ts";
import { InputError } from "../cells/datanet/errors.ts";
import { PipelineError } from "../cells/graph/cell.ts";
import { asCommand } from "../cells/graph/runs.ts";
type Register = (program: Command) => void;

/**
 * The modules that define the commands, in the order help lists them, with the top-level commands
 * each defines (a test checks these against what they define). A command loads only its own
 * module: every module at once loaded TF.js, onnxruntime, DuckDB, Plot and linkedom for any
 * command, 2.5 s before `tracebook sql` could start. Within a module, what trains, serves, traces
 * or renders is imported where it is used (test/command-weight.test.ts keeps the rest light).
 */
export const COMMAND_MODULES: [string[], () => Promise<Register>][] = [
  [["datanet"], async () => (await import("./commands/datanet.ts")).registerDatanet],
  [["curate"], async () => (await import("./commands/curate.ts")).registerCurate],
  [["new"], async () => (await import("./commands/new.ts")).registerNew],
  [["run", "status", "show"], async () => (await import("./commands/run.ts")).registerRun],
  [["log"], async () => (await import("./commands/log.ts")).registerLog],
  [["model"], async () => (await import("./commands/model.ts")).registerModel],
  [["infer", "rewards"], async () => (await import("./commands/usage.ts")).registerUsage],
  [["explain"], async () => (await import("./commands/explain.ts")).registerExplain],
  [["receipt"], async () => (await import("./commands/receipt.ts")).registerReceipt],
  [["proof"], async () => (await import("./commands/proof.ts")).registerProof],
  [["report"], async () => (await import("./commands/report.ts")).registerReport],
  [["what-if"], async () => (await import("./commands/whatif.ts")).registerWhatIf],
  [["dev", "build-notebooks"], async () => (await import("./commands/dev.ts")).registerDev],
  [["sql"], async () => (await import("./commands/sql.ts")).registerSql],
  [["gc"], async () => (await import("./commands/gc.ts")).registerGc],
  [["demo"], async () => (await import("./commands/demo.ts")).registerDemo],
];

/** Global options that take a value: the word after one is not the command. */
const VALUED = new Set(["--workspace", "--wait"]);

/** The command words name: the first that is not a global option (or the value of one). */
function commandOf(words: readonly string[]): string | null {
  for (let i = 0; i < words.length; i++) {
    if (VALUED.has(words[i]!)) i++;
    else if (!words[i]!.startsWith("-")) return words[i]!;
  }
  return null;
}

/**
 * The program with the command `words` name defined, or every command (for help, a mistyped
 * command's suggestions, or no words: the tests walk the whole tree).
 */
export async function buildProgram(words?: readonly string[]): Promise<Command> {
  const program = new Command("tracebook")
    .description("Proof of attribution: Datanets, fine-tunes, TracIn influence and reward splits")
    .option("--workspace <dir>", "workspace directory (default: $TRACEBOOK_HOME, else ./.tracebook)")
    .option("--read-only", "open the workspace without changing it (as when its folder cannot be written): commands that would change it are refused")
    .option("--wait <seconds>", "while another process holds the workspace (a pipeline run, the notebook server's watcher), wait this long for it (0: fail at once)", "60")
    .showHelpAfterError()
    .exitOverride();
  const named = words ? commandOf(words) : null;
  const own = COMMAND_MODULES.find(([names]) => named !== null && names.includes(named));
  for (const [, load] of own ? [own] : COMMAND_MODULES) (await load())(program);
  return program;
}

/** The workspace folder a command names, refused (exit 2) when no workspace is there. */
export function existingWorkspace(workspace: string | undefined): string {
  const home = resolveWorkspaceHome(workspace);
  if (!fs.existsSync(workspaceDbPath(home))) {
    throw new InputError(`no workspace at ${home} (check --workspace or TRACEBOOK_HOME; \`tracebook datanet import\`, \`tracebook demo\` or \`tracebook model import\` makes one)`);
  }
  return home;
}

/** Open the workspace named by the global --workspace option, run `fn`, always close it. */
export async function withWorkspace<T>(command: Command, fn: (ws: Workspace) => Promise<T>, options: { creates?: boolean } = {}): Promise<T> {
  const { workspace, readOnly, wait } = command.optsWithGlobals<{ workspace?: string; readOnly?: boolean; wait?: string }>();
  // Only the commands that put something into a workspace make one: elsewhere a mistyped
  // --workspace or TRACEBOOK_HOME would answer "nothing here" from a new, empty workspace.
  const home = options.creates ? resolveWorkspaceHome(workspace) : existingWorkspace(workspace);
  const ws = await openWaiting({ home, readOnly }, waitSeconds(wait));
  try {
    return await fn(ws);
  } finally {
    ws.close();
  }
}

function waitSeconds(raw: string | undefined): number {
  const seconds = Number(raw ?? 60);
  if (raw?.trim() === "" || !Number.isFinite(seconds) || seconds < 0) throw new InputError(`--wait ${raw}: give a number of seconds ≥ 0`);
  return seconds;
}

/**
 * Open the workspace, waiting while another process holds it: DuckDB lets one process at a time
 * have the file, and a pipeline run or a watcher's recompute holds it for a minute on mail. A
 * curator's decision typed meanwhile waits its turn (saying so once) rather than failing. Ctrl-C
 * while waiting quits at once: nothing is open yet.
 */
export async function openWaiting(options: { home: string; readOnly?: boolean }, seconds: number): Promise<Workspace> {
  const deadline = Date.now() + seconds * 1000;
  let quit: (() => void) | null = null;
  try {
    return await openWhenFree(options, (tries, err) => {
      if (seconds === 0) return null;
      if (Date.now() >= deadline) throw new WorkspaceBusyError(`${err.message} (waited ${seconds} s; --wait <seconds> waits longer)`);
      if (!quit) {
        process.stderr.write(`tracebook: the workspace is busy (another process holds it: a pipeline run, the notebook server's watcher); waiting up to ${seconds} s for it\n`);
        quit = () => process.exit(130);
        process.once("SIGINT", quit);
      }
      return Math.min(100 * 2 ** tries, 2000, Math.max(0, deadline - Date.now()));
    });
  } finally {
    if (quit) process.off("SIGINT", quit);
  }
}

/**
 * Run `fn` with a signal that Ctrl-C aborts, so a long command (a pipeline run, a what-if retrain)
 * cancels cleanly and records it; a second Ctrl-C quits at once. Either way the exit is 130, and
 * the error a cancelled step throws is the cancellation, not a failure to report.
 */
export async function withCtrlC<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T | undefined> {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write("\ntracebook: cancelling (Ctrl-C again to quit at once)\n");
    controller.abort();
  };
  process.on("SIGINT", onSigint);
  try {
    return await fn(controller.signal);
  } catch (err) {
    if (!controller.signal.aborted) throw err;
    process.exitCode = 130;
    return undefined;
  } finally {
    process.off("SIGINT", onSigint);
  }
}

/**
 * The command as the run log keeps it: its words and the options given, with their values when
 * they read as names (`--cell rewards`, `--epoch 2026-12`), never its arguments (an input's text
 * is contributed data) nor free text (a reason, a query). The notebook server names itself to the
 * watchers it spawns.
 */
function startedBy(action: Command): string {
  if (process.env.TRACEBOOK_STARTED_BY) return process.env.TRACEBOOK_STARTED_BY;
  const words: string[] = [];
  for (let c: Command | null = action; c?.parent; c = c.parent) words.unshift(c.name());
  const name = (v: unknown) => typeof v === "string" && /^[\w.:@/-]{1,40}$/.test(v);
  const given = action.options.filter((o) => action.getOptionValueSource(o.attributeName()) === "cli").map((o) => {
    const flag = o.long ?? o.short ?? o.name(), value: unknown = action.getOptionValue(o.attributeName());
    const values = Array.isArray(value) ? value : [value];
    return values.every(name) ? [flag, ...values].join(" ") : flag;
  });
  // A Set: an option and its --no- form share one value, and both would say it.
  return ["tracebook", ...words, ...new Set(given)].join(" ");
}

function ignoreClosedPipe(err: NodeJS.ErrnoException): void {
  if (err.code !== "EPIPE") throw err;
}

/** Run the CLI; returns the exit code. Errors are printed as one line, never as a stack dump. */
export async function main(argv: string[]): Promise<number> {
  // Output piped into `head` (or any reader that stops early) closes the pipe: what is left to
  // print goes nowhere, and the command still finishes what it was doing (a decision is recorded
  // whole) instead of dying with a stack dump.
  // Once per process: main called again in one process (the tests) would add one each time.
  if (!process.stdout.listeners("error").includes(ignoreClosedPipe)) process.stdout.on("error", ignoreClosedPipe);
  const program = await buildProgram(argv.slice(2));
  program.commands.forEach(function exit(c: Command): void {
    c.exitOverride();
    c.commands.forEach(exit);
  });
  try {
    await asCommand((say) => {
      program.hook("preAction", (_program, action) => say(startedBy(action)));
      return program.parseAsync(argv);
    });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    // Help and --version exit 0; a usage error (unknown option, missing argument) is the caller's, like
    // bad input and a pipeline that is not there or does not load (a file of theirs): 2.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`tracebook: ${message}\n`);
    if (process.env.TRACEBOOK_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return err instanceof InputError || err instanceof ReadOnlyWorkspaceError || err instanceof PipelineError ? 2 : 1;
  }
}

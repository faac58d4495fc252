import { Command, CommanderError } from "commander";
import fs from "node:fs";
import { openWorkspace, resolveWorkspaceHome, workspaceDbPath, type Workspace } from "../cells/store/workspace.ts";
import { InputError } from "../cells/datanet/errors.ts";
import { registerDatanet } from "./commands/datanet.ts";
import { registerCurate } from "./commands/curate.ts";
import { registerSql } from "./commands/sql.ts";
import { registerDemo } from "./commands/demo.ts";
import { registerRun } from "./commands/run.ts";
import { registerModel } from "./commands/model.ts";
import { registerUsage } from "./commands/usage.ts";
import { registerReport } from "./commands/report.ts";
import { registerDev } from "./commands/dev.ts";
import { registerWhatIf } from "./commands/whatif.ts";
import { registerExplain } from "./commands/explain.ts";
import { registerGc } from "./commands/gc.ts";
import { registerReceipt } from "./commands/receipt.ts";
import { registerProof } from "./commands/proof.ts";
import { registerNew } from "./commands/new.ts";

export function buildProgram(): Command {
  const program = new Command("tracebook")
    .description("Proof of attribution: Datanets, fine-tunes, TracIn influence and reward splits")
    .option("--workspace <dir>", "workspace directory (default: $TRACEBOOK_HOME, else ./.tracebook)")
    .showHelpAfterError()
    .exitOverride();
  registerDatanet(program);
  registerCurate(program);
  registerNew(program);
  registerRun(program);
  registerModel(program);
  registerUsage(program);
  registerExplain(program);
  registerReceipt(program);
  registerProof(program);
  registerReport(program);
  registerWhatIf(program);
  registerDev(program);
  registerSql(program);
  registerGc(program);
  registerDemo(program);
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
  const { workspace } = command.optsWithGlobals<{ workspace?: string }>();
  // Only the commands that put something into a workspace make one: elsewhere a mistyped
  // --workspace or TRACEBOOK_HOME would answer "nothing here" from a new, empty workspace.
  const home = options.creates ? resolveWorkspaceHome(workspace) : existingWorkspace(workspace);
  const ws = await openWorkspace({ home });
  try {
    return await fn(ws);
  } finally {
    ws.close();
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

/** Run the CLI; returns the exit code. Errors are printed as one line, never as a stack dump. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.commands.forEach(function exit(c: Command): void {
    c.exitOverride();
    c.commands.forEach(exit);
  });
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    // Help and --version exit 0; a usage error (unknown option, missing argument) is the caller's, like bad input: 2.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`tracebook: ${message}\n`);
    if (process.env.TRACEBOOK_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return err instanceof InputError ? 2 : 1;
  }
}

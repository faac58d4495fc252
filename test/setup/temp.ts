import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * Every temp folder the suite makes (workspaces, reports, browser profiles, in the test processes
 * and the commands they spawn) goes under one folder, removed when the run ends: a run leaves
 * nothing behind in the system's temp directory (they used to pile up, run after run).
 * TRACEBOOK_KEEP_TEST_TMP=1 keeps it, to look at what a failing test left.
 */
export default function setup(): () => void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tracebook-test-"));
  const before = process.env.TMPDIR;
  process.env.TMPDIR = dir; // os.tmpdir() reads it; the test workers and their children inherit it
  return () => {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
    if (process.env.TRACEBOOK_KEEP_TEST_TMP === "1") console.log(`test temp files kept in ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  };
}

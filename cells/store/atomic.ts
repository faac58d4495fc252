import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { makeDir } from "./make-dir.ts";

/** A sibling temp name: same directory, so the final rename never crosses file systems. */
export function tempPathFor(target: string): string {
  const dir = path.dirname(target);
  return path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
}

/**
 * Produce `target` through `write(tmp)` and rename it into place only on success, so a crash
 * or an error never leaves a half-written file under the final name.
 */
export async function writeAtomically<T>(target: string, write: (tmp: string) => Promise<T> | T): Promise<T> {
  makeDir(path.dirname(target));
  const tmp = tempPathFor(target);
  try {
    const result = await write(tmp);
    fsyncFile(tmp);
    fs.renameSync(tmp, target);
    return result;
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** Flush a written file to disk, before the rename that makes it visible. */
export function fsyncFile(file: string): void {
  const fd = fs.openSync(file, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Write bytes or text to `target` atomically (temp file + rename). */
export function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  return writeAtomically(target, (tmp) => fs.writeFileSync(tmp, data));
}

import fs from "node:fs";
import path from "node:path";

/**
 * `mkdir -p`: the folder and its missing parents, one level at a time. Node's own recursive mkdir
 * never returns where a folder cannot be made under an existing one that refuses it with ENOENT
 * (`/proc/x`: `tracebook model export mail.model /proc/x` spun at 100% CPU until killed); here the
 * first refusal is the error, naming the folder.
 */
export function makeDir(dir: string): void {
  const missing: string[] = [];
  let at = path.resolve(dir);
  for (let parent = path.dirname(at); !fs.existsSync(at) && parent !== at; parent = path.dirname(at)) {
    missing.push(at);
    at = parent;
  }
  if (!fs.statSync(at).isDirectory()) throw new Error(`cannot make folder ${dir}: ${at} is not a folder`);
  for (const folder of missing.reverse()) {
    try {
      fs.mkdirSync(folder);
    } catch (err) {
      const { code, message } = err as NodeJS.ErrnoException;
      // Made meanwhile by another process: fine, if it is a folder.
      if (code === "EEXIST" && fs.statSync(folder).isDirectory()) continue;
      const why = /^[A-Z]+: ([^,]+),/.exec(message)?.[1] ?? message;
      throw new Error(`cannot make folder ${folder}${folder === path.resolve(dir) ? "" : ` (for ${dir})`}: ${why}${code ? ` (${code})` : ""}`);
    }
  }
}

import fs from "node:fs";
import path from "node:path";

/**
 * Compare `actual` with the golden file `<dir>/<name>`: true when equal (or just generated, outside
 * CI). On a mismatch `<name>-changed.<ext>` is written beside it, to open and compare.
 */
export function golden(dir: string, name: string, actual: string, normalise: (s: string) => string = (s) => s): boolean {
  const file = path.join(dir, name);
  const changed = file.replace(/(\.[a-z]+)$/, "-changed$1");
  if (!fs.existsSync(file)) {
    if (process.env.CI === "true") throw new Error(`missing golden file ${file}`);
    console.warn(`! generating ${file}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(file, actual);
    return true;
  }
  const equal = normalise(fs.readFileSync(file, "utf8")) === normalise(actual);
  if (equal) fs.rmSync(changed, { force: true });
  else {
    console.warn(`! generating ${changed}`);
    fs.writeFileSync(changed, actual);
  }
  return equal;
}

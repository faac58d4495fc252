import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { sha256 } from "../../cells/graph/fingerprint.ts";

const RENDER_DIR = path.dirname(fileURLToPath(import.meta.url));

let cached: string | null = null;

/**
 * A hash of the renderer's own source (every file under reports/render/). `report verify`
 * renders report.json again to check index.html only when this matches: a page written by an
 * older template is not a tampered page. Computed, not declared, so no one has to remember to bump it.
 */
export function rendererVersion(): string {
  if (cached) return cached;
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts")) files.push(p);
    }
  };
  walk(RENDER_DIR);
  cached = sha256(files.map((f) => `${path.relative(RENDER_DIR, f)}\n${fs.readFileSync(f, "utf8")}`).join("\u0000")).slice(0, 16);
  return cached;
}

import path from "node:path";
import { spawnSync } from "node:child_process";

/**
 * Run a module script in a fresh Node process (the compute backend is chosen once per process)
 * with `env` over this one's, and parse the JSON line it prints last.
 */
export function childJson<T>(script: string, env: Record<string, string | undefined>): T {
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    encoding: "utf8", env: { ...process.env, ...env }, cwd: path.resolve("."), maxBuffer: 16 * 2 ** 20,
  });
  const line = r.stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`no JSON from the child (exit ${r.status}): ${r.stdout}\n${r.stderr}`);
  }
}

import { spawn } from "node:child_process";
import { WorkspaceBusyError } from "../store/workspace.ts";
import { ApiError, requestFields } from "./api.ts";
import { canonicalRemoval } from "../quality/removal.ts";
import type { WhatIfAnswer, WhatIfRequest } from "./wire.ts";

export type { WhatIfAnswer, WhatIfRequest } from "./wire.ts";

const FIELDS = ["pipeline", "contributors", "datanets", "ids", "seedCheck", "onlyTrained", "focus"];
const MAX_NAMES = 1000;

/** Check a what-if request before anything runs; every error names the field at fault. */
export function parseWhatIfRequest(body: unknown, served: ReadonlySet<string>): WhatIfRequest {
  const b = requestFields(body, FIELDS, "{pipeline, contributors, datanets, ids}", served);
  const names = (field: "contributors" | "datanets" | "ids"): string[] | undefined => {
    const v = b[field];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length > MAX_NAMES || v.some((s) => typeof s !== "string" || !s.trim() || s.length > 1024)) {
      throw new ApiError(400, field, `${field}: give a list of at most ${MAX_NAMES} non-empty names`);
    }
    return v as string[];
  };
  const out: WhatIfRequest = { pipeline: b.pipeline as string, contributors: names("contributors"), datanets: names("datanets"), ids: names("ids") };
  if (![out.contributors, out.datanets, out.ids].some((l) => l?.length)) throw new ApiError(400, "contributors", "contributors: say what to leave out (contributors, datanets or ids)");
  try {
    canonicalRemoval(out); // an id that is no contribution id is refused here, before anything runs
  } catch (err) {
    const m = /without\.(\w+):? (.*)$/s.exec((err as Error).message);
    throw new ApiError(400, m?.[1] ?? null, m ? `${m[1]}: ${m[2]}` : (err as Error).message);
  }
  if (b.seedCheck !== undefined) {
    if (typeof b.seedCheck !== "number" || !Number.isSafeInteger(b.seedCheck) || b.seedCheck < 0) throw new ApiError(400, "seedCheck", "seedCheck: a seed is a non-negative integer");
    out.seedCheck = b.seedCheck;
  }
  if (b.onlyTrained !== undefined) {
    if (typeof b.onlyTrained !== "boolean") throw new ApiError(400, "onlyTrained", "onlyTrained: true or false");
    out.onlyTrained = b.onlyTrained;
  }
  if (b.focus !== undefined) {
    if (typeof b.focus !== "string" || !b.focus.trim() || b.focus.length > 1024) throw new ApiError(400, "focus", "focus: an inference id");
    out.focus = b.focus;
  }
  return out;
}

/**
 * Answer with `tracebook what-if … --json` in a child process, as the watchers run pipelines:
 * the retrain keeps this server's event loop free, and the question is the same cached cell the
 * CLI asks. An error of the question (a name that contributed nothing) is the caller's (400).
 */
export async function askInChild(req: WhatIfRequest, o: { home: string; bin: string; cwd?: string; attempts?: number }): Promise<WhatIfAnswer> {
  // The server's own short reads (the catalog) may hold the workspace a moment: try again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await askOnce(req, o);
    } catch (err) {
      if (!(err instanceof WorkspaceBusyError) || attempt >= (o.attempts ?? 8)) throw err;
      await new Promise((r) => setTimeout(r, 250 * attempt));
    }
  }
}

function askOnce(req: WhatIfRequest, o: { home: string; bin: string; cwd?: string }): Promise<WhatIfAnswer> {
  // `--flag=value`: a name that starts with "-" stays a value.
  const args = [o.bin, "--workspace", o.home, "what-if", req.pipeline, "--json",
    ...(req.contributors ?? []).map((c) => `--contributor=${c}`), ...(req.datanets ?? []).map((d) => `--datanet=${d}`), ...(req.ids ?? []).map((i) => `--id=${i}`),
    ...(req.seedCheck === undefined ? [] : [`--seed-check=${req.seedCheck}`]), ...(req.onlyTrained ? ["--only-trained"] : []),
    ...(req.focus === undefined ? [] : [`--focus=${req.focus}`])];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: process.env, cwd: o.cwd });
    let out = "", err = "";
    child.stdout!.on("data", (c: Buffer) => (out += c.toString("utf8")));
    child.stderr!.on("data", (c: Buffer) => (err += c.toString("utf8")));
    child.on("error", reject);
    child.on("exit", (code) => {
      const message = err.split("\n").filter((l) => l.startsWith("tracebook: ")).map((l) => l.slice("tracebook: ".length)).join("; ") || err.trim() || `exit ${code}`;
      if (code === 0) {
        try {
          return resolve(JSON.parse(out) as WhatIfAnswer);
        } catch (e) {
          return reject(new Error(`tracebook what-if printed no answer: ${(e as Error).message}`));
        }
      }
      if (code === 2) return reject(new ApiError(400, fieldOf(message), message));
      if (/is open in another process/.test(message)) return reject(new WorkspaceBusyError(message));
      reject(new Error(message));
    });
  });
}

function fieldOf(message: string): string | null {
  if (/^inference|^"[^"]*": give an inference id/.test(message)) return "focus";
  if (/^(--)?contributor/.test(message)) return "contributors";
  if (/^(--)?datanet|^Datanet/i.test(message)) return "datanets";
  if (/^(--)?id|^contribution|id prefix/.test(message)) return "ids";
  if (/seed/.test(message)) return "seedCheck";
  return null;
}

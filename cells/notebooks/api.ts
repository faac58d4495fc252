import crypto from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { ReadOnlyWorkspaceError, WorkspaceBusyError } from "../store/workspace.ts";

/** The dev server's JSON API: only what a notebook page may change (curators' decisions) or ask to compute (what-if retrains, explanations). */
export const API_DECISIONS = "/@tracebook/api/decisions";
export const API_WHAT_IF = "/@tracebook/api/what-if";
export const API_EXPLAIN = "/@tracebook/api/explain";
export const API_MODELS = "/@tracebook/api/models";
export const API_RUNS = "/@tracebook/api/runs";
export const API_STATUS = "/@tracebook/api/status";
/** The header the page sends the server's token in; the token is in the page's `<meta name="tracebook-token">`. */
export const TOKEN_HEADER = "x-tracebook-token";
const MAX_BODY = 64 * 1024;
/** An explanation's body carries whole messages: real mail runs to 190 KB, and a text may be 1 MiB (limits.ts). */
const MAX_EXPLAIN_BODY = 2 * 1024 * 1024;
const LOOPBACK_HOST = /^(?:127\.0\.0\.1|localhost|\[::1\]):\d{1,5}$/;

export interface NotebookApi {
  /** Random per server start: a page of this server has it, a page of another origin cannot read it. */
  token: string;
  /** Check and record a decision; throws ApiError for what the caller got wrong. */
  decide(body: unknown): Promise<unknown>;
  /** Check a what-if question and answer it (a retrain): throws ApiError for what the caller got wrong. */
  whatIf(body: unknown): Promise<unknown>;
  /** Check an explain request and answer it (TracIn for inputs nobody paid for; nothing is recorded). */
  explain(body: unknown): Promise<unknown>;
  /** A model cell's history and two of its models compared (`tracebook model list`, `model diff`); nothing is recorded. */
  models(body: unknown): Promise<unknown>;
  /** A pipeline's run log (`tracebook log`); nothing is recorded. */
  runs(body: unknown): Promise<unknown>;
  /** Every cell of a pipeline now (`tracebook status`); nothing is recorded. */
  status(body: unknown): Promise<unknown>;
}

/** An error the caller can fix: an HTTP status, the field at fault (or null), and a message naming it. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly field: string | null, message: string) {
    super(message);
    this.name = "ApiError";
  }
}

export function newToken(): string {
  return crypto.randomBytes(24).toString("hex");
}

/** What each POST route does, and how its answers word what happened. */
const ROUTES: Record<string, { answer(api: NotebookApi, body: unknown): Promise<unknown>; verb: string; asks: string; busy: string; failed: string; maxBody?: number }> = {
  [API_DECISIONS]: { answer: (api, body) => api.decide(body), verb: "records a decision", asks: "decisions", busy: "nothing was recorded", failed: "the decision was not recorded" },
  [API_WHAT_IF]: { answer: (api, body) => api.whatIf(body), verb: "asks a what-if question", asks: "what-if questions", busy: "nothing was retrained", failed: "the question was not answered" },
  [API_EXPLAIN]: { answer: (api, body) => api.explain(body), verb: "explains inputs", asks: "explanations", busy: "nothing was explained", failed: "the inputs were not explained", maxBody: MAX_EXPLAIN_BODY },
  [API_MODELS]: { answer: (api, body) => api.models(body), verb: "compares models", asks: "model comparisons", busy: "nothing was compared", failed: "the models were not compared" },
  [API_RUNS]: { answer: (api, body) => api.runs(body), verb: "reads the run log", asks: "run logs", busy: "nothing was read", failed: "the run log was not read" },
  [API_STATUS]: { answer: (api, body) => api.status(body), verb: "tells the cells' states", asks: "cell states", busy: "nothing was read", failed: "the cells' states were not read" },
};

/**
 * A request body as a JSON object with only the fields a route knows (`shape` shows the main
 * ones in the error), and, where `served` is given, a `pipeline` this server serves.
 */
export function requestFields(body: unknown, fields: readonly string[], shape: string, served?: ReadonlySet<string>): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new ApiError(400, null, `body: expected a JSON object ${shape}`);
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!fields.includes(k)) throw new ApiError(400, k, `${k}: unknown field (expected ${fields.join(", ")})`);
  if (served && (typeof b.pipeline !== "string" || !served.has(b.pipeline))) {
    throw new ApiError(400, "pipeline", `pipeline: ${JSON.stringify(b.pipeline ?? null)} is not a pipeline this server serves (${[...served].join(", ") || "none"})`);
  }
  return b;
}

/** Whether a path is one of the API's routes. */
export function isApiRoute(pathname: string): boolean {
  return Object.hasOwn(ROUTES, pathname);
}

/** A POST to an API route: same-origin checks, the JSON body, the route's answer as JSON. */
export async function handleApi(route: string, req: IncomingMessage, res: ServerResponse, api: NotebookApi): Promise<void> {
  const words = ROUTES[route]!;
  try {
    if (req.method !== "POST") throw new ApiError(405, null, `${req.method} ${route}: only POST ${words.verb}`);
    checkSameOrigin(req, api.token, words.asks);
    const type = req.headers["content-type"] ?? "";
    if (!/^application\/json\s*(;|$)/i.test(type)) throw new ApiError(415, null, `content-type: send application/json (got ${JSON.stringify(type)})`);
    const body = await readJson(req, words.maxBody ?? MAX_BODY);
    sendJson(res, 200, await words.answer(api, body));
  } catch (err) {
    if (err instanceof ApiError) return sendJson(res, err.status, { error: err.message, field: err.field }, err.status === 405 ? { allow: "POST" } : {});
    // Nothing was written: the caller can send the same request again.
    if (err instanceof ReadOnlyWorkspaceError) return sendJson(res, 403, { error: err.message, field: null });
    if (err instanceof WorkspaceBusyError) return sendJson(res, 503, { error: `the workspace is busy (another process holds it), ${words.busy}; try again: ${err.message}`, field: null }, { "retry-after": "5" });
    sendJson(res, 500, { error: `${words.failed}: ${(err as Error).message}`, field: null });
    throw err; // logged by the plugin
  }
}

/**
 * A decision changes the workspace, and a what-if question or an explanation spends the machine,
 * so only this server's own pages may ask (`asks` names what, in the refusal). The server
 * listens on 127.0.0.1 and Vite refuses other Host names (DNS rebinding); here the Origin must be
 * exactly this server's (a page on another local port is another origin), the browser must
 * call it same-origin where it says so (Sec-Fetch-Site), and the token proves the caller read
 * one of this server's pages, which other origins cannot (no CORS on this server).
 */
export function checkSameOrigin(req: IncomingMessage, token: string, asks: string): void {
  const host = req.headers.host ?? "";
  if (!LOOPBACK_HOST.test(host)) throw new ApiError(403, "host", `host: ${JSON.stringify(host)} is not this server's address (127.0.0.1 or localhost with its port)`);
  const origin = req.headers.origin;
  if (!origin) throw new ApiError(403, "origin", `origin: the request has no Origin header: ${asks} are accepted only from this server's notebook pages`);
  if (origin !== `http://${host}`) throw new ApiError(403, "origin", `origin: ${origin} is not this server (http://${host}): ${asks} are accepted only from its own pages`);
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined && site !== "same-origin") throw new ApiError(403, "origin", `origin: a ${site} request (Sec-Fetch-Site): ${asks} are accepted only from this server's own pages`);
  const given = req.headers[TOKEN_HEADER];
  if (typeof given !== "string" || !sameSecret(given, token)) throw new ApiError(403, "token", `token: missing or wrong ${TOKEN_HEADER} header: reload the notebook page (the server gives each start a new token)`);
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

/** A request's body as text; past `max` bytes, the error `tooLarge` makes. */
export async function readBody(req: IncomingMessage, max: number, tooLarge: () => Error): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

async function readJson(req: IncomingMessage, max: number): Promise<unknown> {
  const text = await readBody(req, max, () => new ApiError(413, null, `body: larger than ${max / 1024} KiB`));
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ApiError(400, null, `body: not JSON (${(err as Error).message})`);
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? Number(v) : v));
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", "x-content-type-options": "nosniff", ...headers });
  res.end(body);
}

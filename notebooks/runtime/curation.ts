import type { DecisionRequest, DecisionResult } from "../../cells/notebooks/wire.ts";

export type { Action, DecisionRequest, DecisionResult, Verdict } from "../../cells/notebooks/wire.ts";

/** The server refused a decision: `field` names what to fix (null when it is not one field). */
export class DecisionError extends Error {
  constructor(message: string, readonly field: string | null, readonly status: number) {
    super(message);
    this.name = "DecisionError";
  }
}

export interface Curation {
  /** Whether this page can record decisions: served by `tracebook dev` (a static build is read-only). */
  readonly available: boolean;
  /** Record a decision on the workspace's validation trail; rejects with a DecisionError naming the field at fault. */
  decide(request: DecisionRequest): Promise<DecisionResult>;
}

/**
 * The `curation` builtin: curators' decisions through the dev server's JSON API. The server
 * accepts them only from its own pages: same Origin, and the token it wrote into this page.
 */
export function curation(base: string): Curation {
  const api = endpoint<DecisionRequest, DecisionResult>(base, "decisions", "record decisions");
  return { available: api.available, decide: api.post };
}

/**
 * One route of the dev server's JSON API, as a page calls it: `available` when the server wrote
 * its token into this page; `post` refuses at once in a static build (saying what the page
 * cannot: `does`), else sends the request same-origin with the token.
 */
export function endpoint<Req, Res>(base: string, route: string, does: string): { available: boolean; post(request: Req): Promise<Res> } {
  const token = document.querySelector<HTMLMetaElement>('meta[name="tracebook-token"]')?.content ?? null;
  return {
    available: token !== null,
    async post(request) {
      if (token === null) throw new DecisionError(`this page is read-only (a static build): run \`tracebook dev\` to ${does}`, null, 0);
      return postJson<Res>(base, route, token, request);
    },
  };
}

/** POST JSON to the dev server's API, same-origin with the page's token; a refusal is a DecisionError naming the field. */
async function postJson<T>(base: string, route: string, token: string, body: unknown): Promise<T> {
  const res = await fetch(`${base.replace(/\/$/, "")}/api/${route}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-tracebook-token": token },
    body: JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  const answer = (await res.json().catch(() => ({ error: `${res.status} ${res.statusText}`, field: null }))) as T & { error?: string; field?: string | null };
  if (!res.ok) throw new DecisionError(answer.error ?? `${res.status} ${res.statusText}`, answer.field ?? null, res.status);
  return answer;
}

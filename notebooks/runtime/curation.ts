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
  const token = document.querySelector<HTMLMetaElement>('meta[name="tracebook-token"]')?.content ?? null;
  return {
    available: token !== null,
    async decide(request) {
      if (token === null) throw new DecisionError("this page is read-only (a static build): run `tracebook dev` to record decisions", null, 0);
      const res = await fetch(`${base.replace(/\/$/, "")}/api/decisions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-tracebook-token": token },
        body: JSON.stringify(request),
        credentials: "same-origin",
        cache: "no-store",
      });
      const body = (await res.json().catch(() => ({ error: `${res.status} ${res.statusText}`, field: null }))) as DecisionResult & { error?: string; field?: string | null };
      if (!res.ok) throw new DecisionError(body.error ?? `${res.status} ${res.statusText}`, body.field ?? null, res.status);
      return body;
    },
  };
}

/**
 * Who contributed a message of the SpamAssassin corpus. The corpus keeps the delivery headers,
 * so contributors are derived from the corpus itself:
 *
 * - ham: the mailing list it came through (`List-Id`, else `X-Mailing-List` / `Mailing-List`,
 *   else a `Delivered-To: mailing list ...` line) as `list:<id>`; mail that came through no
 *   list is credited to the mailbox it was delivered to (last `Delivered-To`) as `mailbox:<addr>`;
 * - spam: the spam-trap mailbox it was delivered to (first `Delivered-To`) as `mailbox:<addr>`;
 * - no usable header: the corpus batch, `batch:<group>` (e.g. `batch:spam-2`);
 * - then any contributor with fewer than MIN_MESSAGES messages in the whole corpus is folded
 *   into `misc:ham` or `misc:spam`, a collective for the long tail.
 *
 * A mailbox that received both ham and spam is one contributor with both labels.
 */
export const CONTRIBUTOR_RULE =
  "ham: mailing list (List-Id, X-Mailing-List, Mailing-List, 'Delivered-To: mailing list'), else delivery mailbox (last Delivered-To); " +
  "spam: delivery mailbox (first Delivered-To); else corpus batch; contributors with < 10 messages fold into misc:ham / misc:spam";

export const MIN_MESSAGES = 10;

type Header = { key: string; value: string };

export function rawContributor(group: string, headers: readonly Header[]): string {
  const all = (name: string) => headers.filter((h) => h.key === name).map((h) => h.value.trim());
  if (group.includes("ham")) {
    const list =
      angle(all("list-id")[0]) ?? angle(all("x-mailing-list")[0]) ?? angle(all("mailing-list")[0]) ??
      all("delivered-to").map((v) => /^mailing list\s+(\S+)/i.exec(v)?.[1]).find(Boolean);
    if (list) return `list:${normalise(list)}`;
    const box = all("delivered-to").map(mailbox).filter(Boolean).at(-1);
    if (box) return `mailbox:${box}`;
  } else {
    const box = all("delivered-to").map(mailbox).find(Boolean);
    if (box) return `mailbox:${box}`;
  }
  return `batch:${group}`;
}

/** Fold contributors below MIN_MESSAGES into misc:<label>. */
export function foldLongTail(raw: readonly string[], labels: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const c of raw) counts.set(c, (counts.get(c) ?? 0) + 1);
  return raw.map((c, i) => ((counts.get(c) ?? 0) < MIN_MESSAGES ? `misc:${labels[i]}` : c));
}

export function displayName(id: string): string {
  const [kind, rest] = [id.slice(0, id.indexOf(":")), id.slice(id.indexOf(":") + 1)];
  switch (kind) {
    case "list": return `${rest} (mailing list)`;
    case "mailbox": return `${rest} (mailbox)`;
    case "batch": return `${rest} (corpus batch)`;
    default: return `other ${rest} sources (long tail)`;
  }
}

/** A list's identity: the `<...>` part (List-Id), else the first address ("list x@y; contact ..."), else the first word. */
function angle(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const inner = /<([^>]+)>/.exec(value)?.[1] ?? /[^\s<>";]+@[^\s<>";]+/.exec(value)?.[0];
  return (inner ?? value.split(/\s+/)[0])?.trim() || undefined;
}

function mailbox(value: string): string | undefined {
  const m = /([^\s<>"]+@[^\s<>"]+)/.exec(value);
  return m ? normalise(m[1]!) : undefined;
}

function normalise(s: string): string {
  return s.toLowerCase().replace(/[<>"]/g, "");
}

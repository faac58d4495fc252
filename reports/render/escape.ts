/**
 * Markup that is already safe. Only `html` and `trusted` make one, so a string can reach the
 * page only through `html`'s interpolation, which escapes it: forgetting to escape is not
 * something a template can do.
 */
export class Safe {
  constructor(readonly markup: string) {}
  toString(): string {
    return this.markup;
  }
}

export type Interpolation = Safe | string | number | boolean | null | undefined | readonly Interpolation[];

/**
 * Characters that change how text is shown rather than what it says: C0/C1 controls (but tab
 * and newline), and the bidirectional overrides and isolates that can make a line read
 * differently from what it is ("Trojan Source"). Shown as U+FFFD, so a reviewer sees something
 * was there.
 */
const INVISIBLE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\ufeff]/g;

/** Contributed text made safe to show: well-formed Unicode (lone surrogates → U+FFFD), no control or bidi characters. */
export function clean(text: string): string {
  return text.toWellFormed().replace(INVISIBLE, "\ufffd");
}

/** Escape text for an HTML text node or a double- or single-quoted attribute value. */
export function escapeHtml(text: string): string {
  return clean(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function render(v: Interpolation): string {
  if (v === null || v === undefined || v === false) return "";
  if (v instanceof Safe) return v.markup;
  if (Array.isArray(v)) return v.map(render).join("");
  return escapeHtml(String(v));
}

/** A template whose interpolations are escaped unless they are already Safe. */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): Safe {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1]!;
  });
  return new Safe(out);
}

/** Markup produced by code we control (the chart renderer, checked by `assertInert`). */
export function trusted(markup: string): Safe {
  return new Safe(markup);
}


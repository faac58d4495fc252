import PostalMime from "postal-mime";
import { convert } from "html-to-text";

export interface DecodedMail {
  subject: string;
  /** Plain text: the text/plain part, else a rendering of the HTML part. */
  text: string;
  /** The raw HTML part, kept as sent (untrusted: escape before display). */
  html: string | null;
  date: Date | null;
  headers: { key: string; value: string }[];
  /** How the text was obtained, for the import log. */
  textFrom: "plain" | "html" | "none";
  /** True when undeclared 8-bit text was re-read as windows-1252. */
  charsetFallback: boolean;
}

const REPLACEMENT = "\uFFFD";

/**
 * Decode one raw RFC 822 message: MIME multipart, quoted-printable and base64, declared
 * charsets (via postal-mime). Mail of the corpus's era often carries 8-bit text with no
 * charset at all; read as UTF-8 that becomes U+FFFD, so a single-part message without a
 * declared charset is re-read as windows-1252, the de facto charset of such mail.
 */
export async function decodeMail(raw: Uint8Array): Promise<DecodedMail> {
  let email = await PostalMime.parse(raw);
  let charsetFallback = false;
  if (hasReplacement(email.text, email.html)) {
    const patched = declareLegacyCharset(raw);
    if (patched) {
      const retry = await PostalMime.parse(patched);
      if (!hasReplacement(retry.text, retry.html)) {
        email = retry;
        charsetFallback = true;
      }
    }
  }
  const html = email.html?.trim() ? fixC1(email.html) : null;
  let text = email.text?.trim() ? fixC1(email.text) : "";
  let textFrom: DecodedMail["textFrom"] = text ? "plain" : "none";
  if (!text && html) {
    text = htmlToPlainText(html);
    textFrom = "html";
  }
  const date = email.date ? new Date(email.date) : null;
  return {
    subject: fixC1(subjectOf(raw, email.subject ?? "")).trim(),
    text: text.trim(),
    html,
    date: date && !Number.isNaN(date.getTime()) ? date : null,
    headers: email.headers.map((h) => ({ key: h.key, value: h.value })),
    textFrom,
    charsetFallback,
  };
}

/**
 * A Subject header of raw 8-bit bytes (not RFC 2047 encoded words) reads as U+FFFD through
 * UTF-8. Mail clients read such bytes in the message's declared charset, else windows-1252.
 */
function subjectOf(raw: Uint8Array, parsed: string): string {
  if (!parsed.includes(REPLACEMENT)) return parsed;
  const text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("latin1");
  const end = headerEnd(text);
  const header = end < 0 ? text : text.slice(0, end);
  const line = /^subject:[ \t]*([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)/im.exec(header)?.[1];
  if (line === undefined || /=\?[^?]+\?[bq]\?/i.test(line)) return parsed;
  const bytes = Buffer.from(line.replace(/\r?\n[ \t]+/g, " "), "latin1");
  const declared = /charset\s*=\s*"?(?:3d)?([a-z0-9_.:-]+)/i.exec(text)?.[1];
  for (const label of [declared, "windows-1252"]) {
    if (!label) continue;
    try {
      const decoded = new TextDecoder(label, { fatal: true }).decode(bytes);
      return decoded;
    } catch {
      // unknown label or bytes invalid in it: try the next
    }
  }
  return parsed;
}

/** Readable text from HTML: no wrapping, links and images reduced to their words. */
export function htmlToPlainText(html: string): string {
  return convert(html, {
    wordwrap: false,
    selectors: [
      { selector: "a", options: { ignoreHref: true } },
      { selector: "img", format: "skip" },
      { selector: "style", format: "skip" },
      { selector: "script", format: "skip" },
    ],
  });
}

/** The windows-1252 characters at 0x80-0x9F; undefined bytes stay as they are. */
const CP1252_C1 = "\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f" +
  "\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178";

/**
 * The WHATWG Encoding Standard decodes both iso-8859-1 and windows-1252 labels as windows-1252,
 * but Node 20's TextDecoder yields C1 control characters for bytes 0x80-0x9F. Mail never means
 * those controls: they are Outlook's curly quotes, dashes and euro signs.
 */
export function fixC1(s: string): string {
  return s.replace(/[\u0080-\u009f]/g, (c) => CP1252_C1[c.charCodeAt(0) - 0x80]!);
}

function hasReplacement(...parts: (string | undefined)[]): boolean {
  return parts.some((p) => p?.includes(REPLACEMENT));
}

/**
 * For a single-part message whose Content-Type declares no charset, return a copy whose header
 * declares windows-1252; otherwise null (multipart bodies declare charsets per part).
 */
export function declareLegacyCharset(raw: Uint8Array): Uint8Array | null {
  const bytes = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const text = bytes.toString("latin1");
  const end = headerEnd(text);
  if (end < 0) return null;
  const header = text.slice(0, end);
  const ct = /^content-type:[ \t]*([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)/im.exec(header);
  if (ct && /charset\s*=|multipart\//i.test(ct[1] ?? "")) return null;
  const patchedHeader = ct
    ? header.slice(0, ct.index + ct[0].length) + "; charset=windows-1252" + header.slice(ct.index + ct[0].length)
    : header + (header.includes("\r\n") ? "\r\n" : "\n") + "Content-Type: text/plain; charset=windows-1252";
  return Buffer.from(patchedHeader + text.slice(end), "latin1");
}

function headerEnd(text: string): number {
  const m = /\r?\n\r?\n/.exec(text);
  return m ? m.index : -1;
}

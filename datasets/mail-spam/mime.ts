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
  const html = email.html?.trim() ? email.html : null;
  let text = email.text?.trim() ? email.text : "";
  let textFrom: DecodedMail["textFrom"] = text ? "plain" : "none";
  if (!text && html) {
    text = htmlToPlainText(html);
    textFrom = "html";
  }
  const date = email.date ? new Date(email.date) : null;
  return {
    subject: (email.subject ?? "").trim(),
    text: text.trim(),
    html,
    date: date && !Number.isNaN(date.getTime()) ? date : null,
    headers: email.headers.map((h) => ({ key: h.key, value: h.value })),
    textFrom,
    charsetFallback,
  };
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

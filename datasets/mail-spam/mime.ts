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
  /** True when text that did not decode in its declared charset (or UTF-8) was re-read in a fallback one. */
  charsetFallback: boolean;
}

const REPLACEMENT = "\uFFFD";

/**
 * Decode one raw RFC 822 message: MIME multipart, quoted-printable and base64, declared
 * charsets (via postal-mime). Mail of the corpus's era often carries 8-bit text with no
 * charset at all, or bytes its declared charset does not have; read as UTF-8 (or as declared)
 * those become U+FFFD, so such a message is re-read with each offending part in the charset a
 * mail client would fall back to (declareLegacyCharset). Only a re-reading free of U+FFFD is
 * kept, so a message that decoded cleanly, or one no fallback mends, reads as before.
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
 * Where a first decoding left U+FFFD, return a copy of the message in which every text part
 * whose bytes do not decode in its declared charset (UTF-8 when none is declared) declares the
 * charset a mail client falls back to (see fallbackCharset); null when no part has one to offer.
 * Parts are found by the MIME structure, nested multiparts included: in mail of the corpus's era
 * one part of a multipart/alternative often carries undeclared windows-1252 beside a clean one.
 */
export function declareLegacyCharset(raw: Uint8Array): Uint8Array | null {
  const text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("latin1");
  if (headerEnd(text) < 0) return null;
  const patched = patchEntity(text, "text/plain");
  return patched === text ? null : Buffer.from(patched, "latin1");
}

/**
 * One MIME entity (the message, or a part: headers, blank line, body) as latin1 text, one char a
 * byte, with the charset of each text part beneath it declared where fallbackCharset finds one.
 * defaultType is what RFC 2046 assumes without a Content-Type (message/rfc822 inside a digest).
 */
function patchEntity(entity: string, defaultType: string): string {
  // A part may have no headers at all: its body then starts at the blank line.
  const end = /^\r?\n/.test(entity) ? 0 : headerEnd(entity);
  if (end < 0) return entity;
  const header = entity.slice(0, end);
  const body = entity.slice(end);
  const ct = /^content-type:[ \t]*([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)/im.exec(header);
  const type = (ct ? /^\s*([^;\s]*)/.exec(ct[1]!)![1]! : defaultType).toLowerCase();
  if (type.startsWith("multipart/")) {
    const boundary = paramOf(ct![1]!, "boundary");
    return boundary ? header + patchParts(body, boundary, type === "multipart/digest" ? "message/rfc822" : "text/plain") : entity;
  }
  // Only text parts make the message's text; message/rfc822 parts are left as they are.
  if (!type.startsWith("text/")) return entity;
  const declared = ct ? paramOf(ct[1]!, "charset") : undefined;
  const cte = /^content-transfer-encoding:[ \t]*([^\s;]*)/im.exec(header)?.[1] ?? "";
  const label = fallbackCharset(transferDecoded(body, cte), declared);
  return label ? declareCharset(header, ct, label, /^\r?\n/.exec(body)![0]) + body : entity;
}

/** A multipart body with each of its parts patched; preamble, delimiters and epilogue as they were. */
function patchParts(body: string, boundary: string, defaultType: string): string {
  const delimiter = `--${boundary}`;
  const out: string[] = [];
  let part: string[] | null = null; // lines of the part being read; null outside parts
  for (const line of body.split(/(?<=\n)/)) {
    const bare = line.trimEnd();
    if (bare === delimiter || bare === `${delimiter}--`) {
      if (part) out.push(patchEntity(part.join(""), defaultType));
      out.push(line);
      part = bare === delimiter ? [] : null;
    } else if (part) part.push(line);
    else out.push(line);
  }
  // A multipart cut off before its closing delimiter still ends its last part.
  if (part) out.push(patchEntity(part.join(""), defaultType));
  return out.join("");
}

/** A Content-Type parameter's value, quoted or not. */
function paramOf(contentType: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|;)\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, "i").exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}

/**
 * The bytes a part's body stands for. Lenient, like mail readers: this only decides which charset
 * the part is in, and postal-mime does the decoding that counts.
 */
function transferDecoded(body: string, cte: string): Buffer {
  switch (cte.toLowerCase()) {
    case "base64":
      return Buffer.from(body.replace(/[^A-Za-z0-9+/]/g, ""), "base64");
    case "quoted-printable":
      return Buffer.from(
        body.replace(/=\r?\n/g, "").replace(/=([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
        "latin1");
    default:
      return Buffer.from(body, "latin1");
  }
}

/**
 * The charset to read a text part's bytes in when they are invalid in the one it declares (UTF-8
 * when none is declared), or undefined: the part then stays as it is.
 */
function fallbackCharset(bytes: Uint8Array, declared: string | undefined): string | undefined {
  const encoding = encodingOf(declared ?? "utf-8");
  if (!encoding || decodes(bytes, encoding)) return undefined;
  const fallback = FALLBACKS[encoding];
  return fallback && decodes(bytes, fallback) ? fallback : undefined;
}

/**
 * What a mail client reads instead, by the encoding that failed. Invalid UTF-8 (mostly: no charset
 * declared) is windows-1252, the de facto charset of such mail, which reads any byte. A Chinese
 * label is gb18030: GB2312 and GBK labels already get TextDecoder's gbk, which reads every GBK byte
 * pair but not GB18030's four-byte sequences; Big5 has no trail bytes 0x7F-0xA0, which GBK has, so
 * a big5-labelled part that fails is mostly GBK. (gb18030 reads every byte pair that big5 does, so
 * a big5 retry after it could never succeed.) Nothing else: re-reading, say, a broken Korean part
 * as windows-1252 would trade a few U+FFFD for a whole part of wrong characters.
 */
const FALLBACKS: Record<string, string> = {
  "utf-8": "windows-1252",
  gbk: "gb18030",
  big5: "gb18030",
};

/** The WHATWG encoding a charset label names (us-ascii is windows-1252), or undefined if unknown. */
function encodingOf(label: string): string | undefined {
  try {
    return new TextDecoder(label.trim()).encoding;
  } catch {
    return undefined;
  }
}

function decodes(bytes: Uint8Array, encoding: string): boolean {
  try {
    new TextDecoder(encoding, { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * An entity's header (up to, not including, the line end before its blank line) declaring charset
 * label: in place of the declared one, else added to its Content-Type, else in a Content-Type of its own.
 */
function declareCharset(header: string, ct: RegExpExecArray | null, label: string, eol: string): string {
  if (!ct) {
    const line = `Content-Type: text/plain; charset=${label}`;
    return header ? header + eol + line : line + eol;
  }
  const start = ct.index + ct[0].length - ct[1]!.length;
  const value = paramOf(ct[1]!, "charset") === undefined
    ? `${ct[1]!.replace(/[\s;]+$/, "")}; charset=${label}` // "text/plain;" is common
    : ct[1]!.replace(/(;\s*charset\s*=\s*)(?:"[^"]*"|[^;\s]+)/i, `$1${label}`);
  return header.slice(0, start) + value + header.slice(ct.index + ct[0].length);
}

function headerEnd(text: string): number {
  const m = /\r?\n\r?\n/.exec(text);
  return m ? m.index : -1;
}

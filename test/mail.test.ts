import { describe, expect, it } from "vitest";
import { decodeMail, declareLegacyCharset } from "../datasets/mail-spam/mime.ts";
import { foldLongTail, MIN_MESSAGES, rawContributor } from "../datasets/mail-spam/contributors.ts";

const crlf = (s: string) => Buffer.from(s.replace(/\n/g, "\r\n"), "latin1");

describe("decodeMail", () => {
  it("decodes quoted-printable in a declared charset and encoded-word subjects", async () => {
    const m = await decodeMail(crlf(
      "Subject: =?iso-8859-1?Q?Caf=E9_au_lait?=\nContent-Type: text/plain; charset=iso-8859-1\n" +
      "Content-Transfer-Encoding: quoted-printable\n\nCaf=E9 cr=E8me, a soft=\nbreak.\n"));
    expect(m.subject).toBe("Café au lait");
    expect(m.text).toBe("Café crème, a softbreak.");
    expect(m.textFrom).toBe("plain");
  });

  it("decodes base64 UTF-8 and keeps the text part of multipart/alternative, with the raw HTML", async () => {
    const body = Buffer.from("Grüße aus Köln ✓", "utf8").toString("base64");
    const m = await decodeMail(crlf(
      'Subject: hi\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="b1"\n\n' +
      `--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n${body}\n` +
      "--b1\nContent-Type: text/html; charset=utf-8\n\n<p>Gr&uuml;&szlig;e <b>bold</b></p>\n--b1--\n"));
    expect(m.text).toBe("Grüße aus Köln ✓");
    expect(m.html).toContain("<b>bold</b>");
  });

  it("renders HTML-only mail to plain text without markup, scripts or styles", async () => {
    const m = await decodeMail(crlf(
      "Subject: offer\nContent-Type: text/html\n\n<html><head><style>p{color:red}</style><script>alert(1)</script></head>" +
      '<body><p>Buy <a href="http://x.example">now</a></p><img src="a.gif"><p>Second&nbsp;line</p></body></html>\n'));
    expect(m.textFrom).toBe("html");
    expect(m.text).toBe("Buy now\n\nSecond\u00a0line");
    expect(m.text).not.toMatch(/alert|color|http/);
  });

  it("reads a raw 8-bit subject in the declared charset, else windows-1252", async () => {
    const gb = Buffer.from([0xc4, 0xe3, 0xba, 0xc3]); // "你好" in GB2312
    const declared = Buffer.concat([Buffer.from("Subject: "), gb, Buffer.from("\r\nContent-Type: text/plain; charset=gb2312\r\n\r\nbody\r\n")]);
    expect((await decodeMail(declared)).subject).toBe("你好");
    const undeclared = Buffer.from("Subject: Caf\xe9 \x96 menu\r\n\r\nbody\r\n", "latin1");
    expect((await decodeMail(undeclared)).subject).toBe("Café – menu");
  });

  it("re-reads undeclared 8-bit text as windows-1252", async () => {
    const raw = Buffer.concat([Buffer.from("Subject: x\r\n\r\nna\xefve \x93quoted\x94\r\n", "latin1")]);
    const m = await decodeMail(raw);
    expect(m.charsetFallback).toBe(true);
    expect(m.text).toBe("naïve \u201cquoted\u201d");
    expect(declareLegacyCharset(crlf("Content-Type: text/plain; charset=utf-8\n\nx"))).toBeNull();
    expect(declareLegacyCharset(crlf('Content-Type: multipart/mixed; boundary="q"\n\nx'))).toBeNull();
  });

  it("re-reads only the multipart part whose undeclared 8-bit text is not UTF-8, as windows-1252", async () => {
    const html = Buffer.from("<p>caf\u00e9 \u2713</p>", "utf8").toString("base64");
    const m = await decodeMail(crlf(
      'Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="b1"\n\n' +
      "--b1\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n" +
      "Tea =96 =93Earl Grey=94, caf=E9 au=\n lait\n" +
      `--b1\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n${html}\n--b1--\n`));
    expect(m.charsetFallback).toBe(true);
    expect(m.text).toBe("Tea \u2013 \u201cEarl Grey\u201d, caf\u00e9 au lait");
    // The UTF-8 part decoded as declared: it is not re-read with the other.
    expect(m.html).toBe("<p>caf\u00e9 \u2713</p>");
  });

  it("re-reads windows-1252 bytes declared as UTF-8, in a nested multipart and a part without headers", async () => {
    const raw = Buffer.from(
      'Subject: x\r\nContent-Type: multipart/mixed; boundary="outer"\r\n\r\npreamble\r\n' +
      '--outer\r\nContent-Type: multipart/alternative;\r\n\tboundary="outer-alt"\r\n\r\n' +
      '--outer-alt\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\nna\xefve \x85 done\r\n--outer-alt--\r\n' +
      "--outer\r\n\r\nsecond \x80 part\r\n--outer--\r\n", "latin1");
    const m = await decodeMail(raw);
    expect(m.text).toBe("na\u00efve \u2026 done\n\nsecond \u20ac part");
    const patched = Buffer.from(declareLegacyCharset(raw)!).toString("latin1");
    expect(patched).toContain("Content-Type: text/plain; charset=windows-1252\r\n\r\nna");
    expect(patched).toContain("--outer\r\nContent-Type: text/plain; charset=windows-1252\r\n\r\nsecond");
  });

  it("re-reads a Chinese-labelled part its label's decoder rejects as gb18030", async () => {
    const chinese = (charset: string, bytes: number[]) => crlf(
      'Subject: x\nContent-Type: multipart/alternative; boundary="b1"\n\n' +
      `--b1\nContent-Type: text/plain; charset="${charset}"\nContent-Transfer-Encoding: base64\n\n` +
      `${Buffer.from(bytes).toString("base64")}\n--b1--\n`);
    // 0x81 0x40 is GBK only (TextDecoder's gb2312 is gbk, so it reads it); 0x81 0x39 0xEE 0x39 is
    // GB18030's U+3400, which gbk does not read.
    const gb = await decodeMail(chinese("gb2312", [0xc4, 0xe3, 0x81, 0x40, 0x81, 0x39, 0xee, 0x39]));
    expect(gb.charsetFallback).toBe(true);
    expect(gb.text).toBe("\u4f60\u4e02\u3400");
    // GBK's 們 (0x82 0x83) has a trail byte Big5 lacks: GBK mislabelled as Big5.
    const big5 = await decodeMail(chinese("big5", [0xc4, 0xe3, 0x82, 0x83]));
    expect(big5.charsetFallback).toBe(true);
    expect(big5.text).toBe("\u4f60\u5011");
  });

  it("keeps U+FFFD where no fallback is sound: broken Korean or Big5, a literal U+FFFD in UTF-8", async () => {
    const part = (charset: string, bytes: number[]) => Buffer.concat([
      Buffer.from(`Subject: x\r\nContent-Type: text/plain; charset=${charset}\r\n\r\nok `), Buffer.from(bytes), Buffer.from("\r\n")]);
    // A lead byte cut off by the line end: re-reading all of the part as windows-1252 would garble the rest.
    for (const raw of [part("euc-kr", [0xc7, 0xd1, 0xb1]), part("big5", [0xa4, 0x40, 0xa4]), part("utf-8", [0xef, 0xbf, 0xbd])]) {
      const m = await decodeMail(raw);
      expect(m.charsetFallback).toBe(false);
      expect(m.text).toContain("\ufffd");
      expect(declareLegacyCharset(raw)).toBeNull();
    }
  });
});

describe("mail contributor rule", () => {
  const h = (pairs: [string, string][]) => pairs.map(([key, value]) => ({ key, value }));
  it("credits ham to its mailing list, else its mailbox, else its batch", () => {
    expect(rawContributor("easy-ham-1", h([["list-id", "Friends of Rohit <fork.xent.com>"], ["delivered-to", "a@b.c"]]))).toBe("list:fork.xent.com");
    expect(rawContributor("easy-ham-1", h([["mailing-list", "list zzzzteana@yahoogroups.com; contact x-owner@yahoogroups.com"]]))).toBe("list:zzzzteana@yahoogroups.com");
    expect(rawContributor("easy-ham-2", h([["delivered-to", "mailing list Foo@Lists.example"]]))).toBe("list:foo@lists.example");
    expect(rawContributor("hard-ham-1", h([["delivered-to", "first@x.org"], ["delivered-to", "Last@X.org"]]))).toBe("mailbox:last@x.org");
    expect(rawContributor("hard-ham-1", h([]))).toBe("batch:hard-ham-1");
  });
  it("credits spam to the first delivery mailbox, ignoring list headers", () => {
    expect(rawContributor("spam-2", h([["list-id", "<a.list>"], ["delivered-to", "trap@x.org"], ["delivered-to", "b@y.org"]]))).toBe("mailbox:trap@x.org");
    expect(rawContributor("spam-1", h([]))).toBe("batch:spam-1");
  });
  it(`folds contributors with fewer than ${MIN_MESSAGES} messages into misc:<label>`, () => {
    const raw = [...Array(MIN_MESSAGES).fill("list:big"), "list:small", "mailbox:tiny"];
    const labels = [...Array(MIN_MESSAGES).fill("ham"), "ham", "spam"];
    expect(foldLongTail(raw, labels).slice(-3)).toEqual(["list:big", "misc:ham", "misc:spam"]);
  });
});

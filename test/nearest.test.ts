import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { didYouMean, nearest } from "../cells/graph/nearest.ts";
import { noSuchCell, type Pipeline } from "../cells/graph/pipeline.ts";
import { noPipeline, resolvePipelineFile } from "../cells/graph/loader.ts";
import { tempDir } from "./helpers/workspace.ts";

describe("nearest", () => {
  it("names what a typo most likely meant, and nothing when no name is close", () => {
    expect(nearest("influence_top", ["influence", "influence_topk", "receipts"])).toBe("influence_topk");
    expect(nearest("mial", ["digits", "mail", "mail-quality"])).toBe("mail");
    expect(nearest("MAIL-spam", ["digits", "mail-spam"])).toBe("mail-spam"); // case as people type it
    expect(nearest("2026-13", ["2026-11", "2026-12-02"])).toBe("2026-11");
    expect(nearest("rewards", ["usage", "receipts"])).toBeUndefined();
    // A third of the name may be off, never all of a short one.
    expect(nearest("abc", ["xyz"])).toBeUndefined();
    expect(nearest("ab", ["ax"])).toBe("ax");
    expect(nearest("x", ["n"])).toBeUndefined();
    expect(nearest("contributors", ["contributor_influence"])).toBeUndefined();
    // Nothing to suggest: no names, or only the name itself.
    expect(nearest("mail", [])).toBeUndefined();
    expect(nearest("mail", ["mail"])).toBeUndefined();
    expect(nearest("", ["a"])).toBeUndefined();
  });

  it("opens an error's parenthesis", () => {
    expect(didYouMean("modle", ["base", "model"])).toBe('did you mean "model"? ');
    expect(didYouMean("zzz", ["base", "model"])).toBe("");
  });

  it("is named by the errors for a cell and a pipeline the caller mistyped", () => {
    const p = { name: "mail", cells: new Map([["influence", {}], ["influence_topk", {}], ["receipts", {}]]), order: [] } as unknown as Pipeline;
    expect(noSuchCell(p, "influence_top").message).toBe('pipeline "mail" has no cell "influence_top" (did you mean "influence_topk"? cells: influence, influence_topk, receipts)');
    expect(noSuchCell(p, "nothing").message).toBe('pipeline "mail" has no cell "nothing" (cells: influence, influence_topk, receipts)');
    // A pipeline the workspace ran from another folder is among those known.
    const cwd = tempDir("tb-nearest-");
    fs.mkdirSync(path.join(cwd, "pipelines"));
    fs.writeFileSync(path.join(cwd, "pipelines", "reviews.pipeline.ts"), "");
    expect(() => resolvePipelineFile("reveiws", cwd)).toThrow(/^no pipeline "reveiws" \(did you mean "reviews"\? looked for .*; known: .*\breviews\b/);
    expect(noPipeline("ownpp", cwd, ["ownp"]).message).toMatch(/^no pipeline "ownpp" \(did you mean "ownp"\? looked for .*; known: .*\bownp\b/);
  });
});

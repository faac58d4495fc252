import { beforeAll, describe, expect, it, vi } from "vitest";
import { CommanderError } from "commander";
import { buildProgram } from "../bin/cli.ts";
import { InputError } from "../cells/datanet/errors.ts";
import { openWorkspace } from "../cells/store/workspace.ts";
import { ingest } from "../cells/datanet/ingest.ts";
import { parseRuleSet } from "../cells/curation/ruleset.ts";
import { tempDir } from "./helpers/workspace.ts";

/**
 * Run `tracebook …` in-process (bin/cli.ts registers the curate group), capturing
 * stdout and stderr; the exit code as main() maps it (InputError → 2).
 */
async function tracebook(home: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const program = await buildProgram();
  program.commands.forEach(function exit(c): void { c.exitOverride(); c.commands.forEach(exit); });
  const out: string[] = [], err: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => { out.push(a.map(String).join(" ")); });
  const write = vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => { err.push(String(s)); return true; });
  const stdout = vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => { out.push(String(s)); return true; });
  try {
    await program.parseAsync(["node", "tracebook", "--workspace", home, ...args]);
    return { code: 0, out: out.join("\n"), err: err.join("") };
  } catch (e) {
    if (e instanceof CommanderError) return { code: e.exitCode, out: out.join("\n"), err: err.join("") };
    return { code: e instanceof InputError ? 2 : 1, out: out.join("\n"), err: (e as Error).message };
  } finally {
    log.mockRestore();
    write.mockRestore();
    stdout.mockRestore();
  }
}

const HOSTILE = "evil\u001b[2J\u001b[31m<script>x</script>";

describe("tracebook curate", () => {
  let home: string;
  let ids: string[];
  beforeAll(async () => {
    home = tempDir("tb-curate-cli-");
    const ws = await openWorkspace({ home });
    const at = new Date("2024-01-01T00:00:00Z");
    const rows = [
      { text: "a message with enough words to be an example", label: "ham", contributor: "ann", submittedAt: at, source: "t" },
      { text: "a message with enough words to be an example", label: "spam", contributor: HOSTILE, submittedAt: at, source: "t" },
      { text: "short", label: "ham", contributor: "bob", submittedAt: at, source: "t" },
      { text: "another ordinary message of a reasonable size", label: "ham", contributor: "bob", submittedAt: at, source: "t" },
    ];
    await ingest(ws, { name: "notes", kind: "text", description: "", source: "t", labels: ["ham", "spam"], contributorRule: "t", splitSeed: 0, testFraction: 0.2 }, rows,
      { mode: "create", status: "approved", validator: "test", importer: "t@1" });
    ids = (await ws.rows<{ id: string }>("select id from contributions order by id")).map((r) => r.id);
    ws.close();
  });

  it("has --help on every command", async () => {
    for (const args of [["curate"], ["curate", "queue"], ["curate", "approve"], ["curate", "reject"], ["curate", "quarantine"], ["curate", "reputation"], ["curate", "rules"]]) {
      const r = await tracebook(home, ...args, "--help");
      expect(r.code, args.join(" ")).toBe(0);
      expect(r.out).toMatch(/Usage: tracebook curate/);
    }
  });

  it("lists flagged contributions with reasons, and never lets contributed text drive the terminal", async () => {
    const r = await tracebook(home, "curate", "queue", "notes");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/Review queue of notes: 4 contributions to review, 3 flagged by rules notes@1 \(defaults/);
    expect(r.out).toMatch(/\[exact-duplicate\] same payload as [0-9a-f]{8}…/);
    expect(r.out).toMatch(/\[empty\] payload is 5 characters/);
    expect(r.out).not.toMatch(/\u001b/);
    expect(r.out).toMatch(/evil�\[2J/);
    const json = JSON.parse((await tracebook(home, "curate", "queue", "notes", "--json")).out) as { items: { contribution: string; severity: string; flags: unknown[] }[] };
    expect(json.items.map((i) => i.severity)).toEqual(["error", "conflict", "conflict", null]);
  });

  it("decides from the queue and in bulk, with a dry run that changes nothing", async () => {
    const dry = await tracebook(home, "curate", "quarantine", "--datanet", "notes", "--where", "contributor = 'bob'", "--reason", "check bob", "--dry-run");
    expect(dry.code, dry.err).toBe(0);
    expect(dry.out).toMatch(/would quarantine 2 contributions \(rule: where: contributor = 'bob'\)/);
    const rej = await tracebook(home, "curate", "reject", "--datanet", "notes", "--flagged", "empty", "--reason", "no body", "--curator", "ann");
    expect(rej.code, rej.err).toBe(0);
    expect(rej.out).toMatch(/rejected [0-9a-f]{8}… \(notes\): approved → rejected\n1 decision recorded \(rule: notes@1\/empty\)/);
    const q = JSON.parse((await tracebook(home, "curate", "queue", "notes", "--json")).out) as { items: { contribution: string; status: string }[] };
    expect(q.items).toHaveLength(3);
    const keep = await tracebook(home, "curate", "keep", q.items[0]!.contribution.slice(0, 10), "--reason", "reviewed: fine", "--curator", "ann");
    expect(keep.code, keep.err).toBe(0);
    expect(keep.out).toMatch(new RegExp(`^kept ${q.items[0]!.contribution.slice(0, 8)}… \\(notes\\): ${q.items[0]!.status} \\(stands\\)\n1 decision recorded`));
    expect((JSON.parse((await tracebook(home, "curate", "queue", "notes", "--json")).out) as { items: unknown[] }).items).toHaveLength(2);
    const again = await tracebook(home, "curate", "reject", ids[0]!, ids[1]!, "--reason", `hostile ${HOSTILE}`, "--json");
    expect(again.code, again.err).toBe(0);
    expect((JSON.parse(again.out) as unknown[]).length + (again.err.match(/skipped/g)?.length ?? 0)).toBe(2);
    const ws = await openWorkspace({ home });
    try {
      const [rec] = await ws.rows<{ reason: string; validator: string }>("select reason, validator from validations where reason like 'hostile%' limit 1");
      expect(rec!.reason).toBe(`hostile ${HOSTILE}`); // stored as given; shown escaped
    } finally {
      ws.close();
    }
  });

  it("refuses bad input with exit code 2 and a one-line reason", async () => {
    expect(await tracebook(home, "curate", "reject", ids[3]!)).toMatchObject({ code: 2, err: expect.stringMatching(/reject needs --reason/) });
    for (const command of ["queue", "reputation", "rules"]) {
      expect(await tracebook(home, "curate", command, "nope"), command).toMatchObject({ code: 2, err: `unknown Datanet "nope" (known: notes)` });
    }
    expect(await tracebook(home, "datanet", "export", "notes", "notes.txt")).toMatchObject({ code: 2, err: expect.stringMatching(/cannot tell the export format from "\.txt"; use \.parquet, \.arrow, \.csv or \.jsonl/) });
    expect(await tracebook(home, "curate", "approve", "--where", "true", "--reason", "r")).toMatchObject({ code: 2, err: expect.stringMatching(/--where needs --datanet/) });
    expect(await tracebook(home, "curate", "approve", "--datanet", "notes", "--where", "nonsense ((", "--reason", "r")).toMatchObject({ code: 2, err: expect.stringMatching(/--where is not a valid selection/) });
    expect(await tracebook(home, "curate", "queue", "notes", "--limit", "-1")).toMatchObject({ code: 2 });
  });

  it("records a keep by id with tracebook datanet keep: the status stands, one record", async () => {
    const kept = await tracebook(home, "datanet", "keep", ids[3]!.slice(0, 10), "--reason", "reviewed: fine", "--validator", "cy");
    expect(kept).toMatchObject({ code: 0, out: `kept ${ids[3]!.slice(0, 8)}… (notes): approved (stands)` });
    const ws = await openWorkspace({ home });
    try {
      expect(await ws.rows("select verdict, validator, reason from validations where contribution = ? and validator = 'cy'", [ids[3]!])).toEqual([{ verdict: "approved", validator: "cy", reason: "reviewed: fine" }]);
      expect(await ws.rows("select status from contributions where id = ?", [ids[3]!])).toEqual([{ status: "approved" }]);
    } finally {
      ws.close();
    }
    expect(await tracebook(home, "datanet", "keep", ids[3]!)).toMatchObject({ code: 2, err: expect.stringMatching(/keep needs --reason/) });
  });

  it("prints reputation and the rule set in force", async () => {
    const rep = JSON.parse((await tracebook(home, "curate", "reputation", "notes", "--json")).out) as { contributor: string; reputation: number }[];
    expect(rep[0]).toMatchObject({ contributor: expect.any(String) });
    expect(rep.find((r) => r.contributor === "ann")!.reputation).toBeCloseTo(2 / 3, 12);
    const rules = await tracebook(home, "curate", "rules", "notes");
    expect(parseRuleSet(JSON.parse(rules.out)).name).toBe("notes");
    expect(rules.err).toMatch(/rule set notes@1 from defaults/);
  });
});

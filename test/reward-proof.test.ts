import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { merkleRoot, merkleTree, rootFromPath } from "../cells/graph/fingerprint.ts";
import { parseProof, rewardProof, rewardProofs, verifyProof, verifyProofSet, type RewardProof } from "../cells/rewards/proof.ts";
import { closeEpoch } from "../cells/rewards/closures.ts";
import { recordInferences } from "../cells/rewards/ledger.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { payWorkspace } from "./helpers/pay.ts";
import { tempDir } from "./helpers/workspace.ts";

const BIN = path.resolve("bin/tracebook.js");
const leaf = (s: string) => createHash("sha256").update(s).digest("hex");

describe("Merkle paths", () => {
  it("lead every leaf to merkleRoot, and nothing else does", () => {
    fc.assert(fc.property(fc.uniqueArray(fc.string(), { minLength: 1, maxLength: 40 }), fc.nat(), (names, pick) => {
      const leaves = names.map(leaf);
      const root = merkleRoot(leaves);
      const tree = merkleTree(leaves);
      expect(tree.root).toBe(root);
      const paths = tree.paths(leaves);
      leaves.forEach((l, i) => expect(rootFromPath(l, paths[i]!)).toBe(root));
      // Another leaf, a changed sibling or a flipped side leads elsewhere.
      const i = pick % leaves.length, p = paths[i]!;
      expect(rootFromPath(leaf(`not ${names[i]}`), p)).not.toBe(root);
      if (p.length) {
        const k = pick % p.length;
        expect(rootFromPath(leaves[i]!, p.map((s, j) => (j === k ? { ...s, hash: leaf(s.hash) } : s)))).not.toBe(root);
        expect(rootFromPath(leaves[i]!, p.map((s, j) => (j === k ? { ...s, side: s.side === "left" ? "right" as const : "left" as const } : s)))).not.toBe(root);
      }
    }), { numRuns: 200, seed: 3 });
    expect(() => merkleTree([leaf("a")]).paths([leaf("b")])).toThrow(/is not one of the leaves/);
  });
});

describe("a recipient's proof of a closed epoch", () => {
  let ws: Workspace;
  let proof: RewardProof;
  let dir: string;
  beforeAll(async () => {
    ws = await payWorkspace();
    await closeEpoch(ws, "pay", "e1", { by: "ops:alice", at: "2026-11-30 00:00:00" });
    dir = tempDir("tb-proof-");
  }, 120_000);
  afterAll(() => ws?.close());

  it("holds every line the recipient was paid, with the receipts they cite, and checks out with nothing but itself", async () => {
    const [top] = await ws.rows<{ recipient: string; amount: string; n: bigint }>(
      "select recipient, sum(amount)::varchar as amount, count(*) as n from rewards where epoch = 'e1' and role = 'contributor' group by 1 order by sum(amount) desc limit 1");
    proof = await rewardProof(ws, "pay", top!.recipient, "e1");
    const [closure] = await ws.rows<{ lines_root: string; lines: number }>("select lines_root, lines from epoch_closures where epoch = 'e1'");
    expect(proof.closure.lines_root).toBe(closure!.lines_root);
    expect([proof.total, proof.lines.length]).toEqual([top!.amount, Number(top!.n)]);
    expect(proof.lines.every((l) => l.recipient === top!.recipient)).toBe(true);
    // Only this recipient's lines: the paths stand in for the others.
    expect(proof.lines.length).toBeLessThan(closure!.lines);
    const v = verifyProof(proof, { root: closure!.lines_root });
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    expect(v.checks.map((c) => c.name)).toEqual([
      "lines lead to the closure's root", "the root is the one you hold", "every line pays the recipient", "the total is the sum of the lines",
      "the receipts recompute and name their inferences", "a contributor is paid only where its receipt gives it a share",
    ]);
  });

  it("fails when a line, the total, a receipt or the root is not what the closure holds", () => {
    const changed = (f: (p: RewardProof) => void) => {
      const p = structuredClone(proof);
      f(p);
      return verifyProof(p, { root: proof.closure.lines_root }).checks.filter((c) => !c.ok).map((c) => c.name);
    };
    expect(changed((p) => { p.lines[0]!.amount = (BigInt(p.lines[0]!.amount) + 1n).toString(); p.total = (BigInt(p.total) + 1n).toString(); }))
      .toEqual(["lines lead to the closure's root"]);
    expect(changed((p) => { p.total = "1"; })).toEqual(["the total is the sum of the lines"]);
    expect(changed((p) => { p.lines[0]!.recipient = "someone-else"; })).toEqual(["lines lead to the closure's root", "every line pays the recipient"]);
    const hash = proof.lines[0]!.receipt_hash;
    expect(changed((p) => { p.receipts[hash] = p.receipts[hash]!.replace(/"score":/, '"score":1e-9+'); })).toEqual(["the receipts recompute and name their inferences"]);
    expect(changed((p) => { delete p.receipts[hash]; })).toEqual(["the receipts recompute and name their inferences"]);
    expect(changed((p) => { p.closure.lines_root = "0".repeat(64); })).toEqual(["lines lead to the closure's root", "the root is the one you hold"]);
    expect(verifyProof(proof, { root: "f".repeat(64) }).checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(["the root is the one you hold"]);
  });

  it("for every recipient at once, shares the epoch's lines out among them, each proof holding", async () => {
    const all = await rewardProofs(ws, "pay", "e1", "all");
    const [closure] = await ws.rows<{ lines_root: string; lines: number }>("select lines_root, lines from epoch_closures where epoch = 'e1'");
    expect(all.map((p) => p.recipient)).toEqual((await ws.rows<{ r: string }>("select distinct recipient as r from rewards where epoch = 'e1' order by 1")).map((x) => x.r));
    const keys = all.flatMap((p) => p.lines.map((l) => `${l.policy}/${l.inference_id}/${l.recipient}/${l.role}`));
    expect([keys.length, new Set(keys).size]).toEqual([closure!.lines, closure!.lines]);
    for (const p of all) expect(verifyProof(p, { root: closure!.lines_root }).checks.filter((c) => !c.ok)).toEqual([]);
    // The protocol's and the creator's amounts follow from the fee: their proofs carry no receipt.
    expect(Object.keys(all.find((p) => p.recipient === "protocol")!.receipts)).toEqual([]);
    expect(all.find((p) => p.recipient === proof.recipient)).toEqual(proof);
    // Together: one epoch, every line once, each policy paying out the fees.
    const failed = (set: RewardProof[]) => verifyProofSet(set).filter((c) => !c.ok).map((c) => c.name);
    expect(failed(all)).toEqual([]);
    expect(failed(all.slice(1))).toEqual(["the proofs cover every line of the epoch", "each policy's lines pay out the epoch's fees"]);
    expect(failed([...all, all[0]!])).toEqual(["no line is in two proofs", "each policy's lines pay out the epoch's fees"]);
    const moved = structuredClone(all);
    moved[1]!.lines.push(moved[0]!.lines.pop()!); // a line shown under another recipient's name
    expect(failed(moved)).toEqual([]); // the set still covers the epoch once: only that proof's own checks see it
    expect(verifyProof(moved[1]!).checks.filter((c) => !c.ok).map((c) => c.name)).toContain("every line pays the recipient");
  });

  it("is refused for an open epoch, an epoch the pipeline never had, and a name the epoch did not pay", async () => {
    await expect(rewardProof(ws, "pay", proof.recipient, "2026-11")).rejects.toThrow("pipeline pay has no epoch 2026-11 (closed: e1; open: none)");
    await expect(rewardProof(ws, "pay", proof.recipient, "E1 ")).rejects.toThrow('pipeline pay has no epoch E1  (did you mean "e1"? closed: e1; open: none)');
    const [model] = await ws.rows<{ model_id: string; model_kind: string }>("select model_id, model_kind from inferences limit 1");
    await recordInferences(ws, [{ id: "open-1", pipeline: "pay", modelId: model!.model_id, modelKind: model!.model_kind, payload: { text: "later" }, prediction: "spam",
      confidence: 0.9, fee: 1n, caller: "cli:kate", epoch: "e7", source: "cli", executedAt: new Date("2026-12-01T00:00:00Z") }]);
    await expect(rewardProof(ws, "pay", proof.recipient, "e7")).rejects.toThrow(/^epoch e7 of pipeline pay is not closed: its lines can still change/);
    await expect(rewardProof(ws, "pay", "nobody", "e1")).rejects.toThrow(/^"nobody" has no reward line in closed epoch e1 of pipeline pay \(`tracebook rewards/);
    await expect(rewardProof(ws, "pay", `${proof.recipient}x`, "e1")).rejects.toThrow(`has no reward line in closed epoch e1 of pipeline pay (did you mean "${proof.recipient}"? \``);
  });

  it("is written by the command line and verified there without a workspace", () => {
    const file = path.join(dir, "c.proof.json");
    const env = { ...process.env, TRACEBOOK_HOME: ws.home };
    ws.close();
    const written = spawnSync(process.execPath, [BIN, "proof", "pay", "--recipient", proof.recipient, "--epoch", "e1", "--out", file], { encoding: "utf8", env });
    expect(written.status, written.stderr).toBe(0);
    expect(written.stdout).toContain(`tracebook proof verify`);
    expect((JSON.parse(fs.readFileSync(file, "utf8")) as RewardProof).closure.lines_root).toBe(proof.closure.lines_root);
    const folder = path.join(dir, "all");
    const everyone = spawnSync(process.execPath, [BIN, "proof", "pay", "--all", "--epoch", "e1", "--out", folder], { encoding: "utf8", env });
    expect(everyone.status, everyone.stderr).toBe(0);
    expect(fs.readdirSync(folder).sort()).toContain("protocol.proof.json");
    expect(fs.readFileSync(path.join(folder, `${proof.recipient}.proof.json`), "utf8")).toBe(fs.readFileSync(file, "utf8"));
    const set = spawnSync(process.execPath, [BIN, "proof", "verify", folder, "--root", proof.closure.lines_root], { encoding: "utf8", env: { ...process.env, TRACEBOOK_HOME: path.join(dir, "none") } });
    expect(set.status, set.stdout + set.stderr).toBe(0);
    expect(set.stdout).toContain("proofs hold, and together they cover every line of the epoch once");
    // Verified where no workspace is: another folder, TRACEBOOK_HOME unset.
    const elsewhere = { ...process.env, TRACEBOOK_HOME: path.join(dir, "none") };
    const verify = (...args: string[]) => spawnSync(process.execPath, [BIN, "proof", "verify", ...args], { encoding: "utf8", env: elsewhere, cwd: dir });
    const ok = verify(file, "--root", proof.closure.lines_root);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/checks pass$/m);
    // Against a report of the epoch: its root, and the total it states for the recipient.
    const reports = path.join(dir, "reports");
    const report = spawnSync(process.execPath, [BIN, "report", "pay", "--epoch", "e1", "--no-pdf", "--out", reports], { encoding: "utf8", env });
    expect(report.status, report.stderr).toBe(0);
    const folder1 = path.join(reports, "pay", fs.readdirSync(path.join(reports, "pay"))[0]!);
    const published = verify(file, "--report", folder1);
    expect(published.status, published.stdout).toBe(0);
    expect(published.stdout).toContain("✓ the report pays the recipient what its lines sum to");
    const doc = JSON.parse(fs.readFileSync(path.join(folder1, "report.json"), "utf8")) as { facts: { statement: { lines: { recipient: string; amount: { units: string } }[] }[] } };
    doc.facts.statement[0]!.lines.find((l) => l.recipient === proof.recipient)!.amount.units = "1";
    fs.writeFileSync(path.join(folder1, "report.json"), JSON.stringify(doc));
    const edited = verify(file, "--report", folder1, "--json");
    expect(edited.status).toBe(1);
    expect((JSON.parse(edited.stdout) as { checks: { name: string; ok: boolean }[] }).checks.filter((c) => !c.ok).map((c) => c.name))
      .toEqual(["run id is the hash of the facts", "the report pays the recipient what its lines sum to"]);
    const unrooted = verify(file);
    expect(unrooted.stdout).toContain("the root was not compared with one you hold");
    const wrong = verify(file, "--root", "a".repeat(64));
    expect(wrong.status).toBe(1);
    expect(wrong.stdout).toContain("✗ the root is the one you hold");
    const tampered = path.join(dir, "t.proof.json");
    const body = JSON.parse(fs.readFileSync(file, "utf8")) as RewardProof;
    body.lines[0]!.amount = "999999999999";
    fs.writeFileSync(tampered, JSON.stringify(body));
    const bad = verify(tampered, "--root", proof.closure.lines_root, "--json");
    expect(bad.status).toBe(1);
    expect((JSON.parse(bad.stdout) as { checks: { name: string; ok: boolean }[] }).checks.filter((c) => !c.ok).map((c) => c.name))
      .toEqual(["lines lead to the closure's root", "the total is the sum of the lines"]);
    // A malformed proof is the caller's mistake: exit 2, naming the file and the field.
    body.lines[0]!.path[0] = { side: "up", hash: "x" } as never;
    fs.writeFileSync(tampered, JSON.stringify(body));
    const malformed = verify(tampered);
    expect(malformed.status).toBe(2);
    expect(malformed.stderr).toContain(`${tampered}, field "lines[0].path[0].side": must be "left" or "right"`);
  }, 120_000);
});

describe("parseProof", () => {
  it("names the field a malformed proof gets wrong", () => {
    expect(() => parseProof("{", "p.json")).toThrow(/^p\.json: not JSON/);
    expect(() => parseProof(JSON.stringify({ format: "x" }), "p.json")).toThrow(/^p\.json, field "format": must be "tracebook\.proof\/1"/);
    expect(() => parseProof(JSON.stringify({ format: "tracebook.proof/1", closure: {}, lines: [] }), "p.json")).toThrow(/field "lines": must be a non-empty list/);
  });
});

// The dev server's decisions API, without a browser: a real server (no watchers) over a small
// workspace; requests made with node:http so every header (Origin, Host) is the test's to set.
import fs from "node:fs";
import http from "node:http";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { tableFromIPC } from "apache-arrow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openWorkspace, type Workspace } from "../cells/store/workspace.ts";
import { defaultPipelines, startNotebookServer, type NotebookServer } from "../cells/notebooks/server.ts";
import { busyNotices, Watchers } from "../cells/notebooks/watchers.ts";
import { PipelineAdoption } from "../cells/notebooks/adopt.ts";
import { NotebookData } from "../cells/notebooks/data.ts";
import { buildNotebooks } from "../cells/notebooks/build.ts";
import { loadPipeline } from "../cells/graph/loader.ts";
import type { StatusAnswer } from "../cells/notebooks/wire.ts";
import { smallDatanet } from "./helpers/datanets.ts";
import { holdWorkspace, openWorkspaceRetrying, tempDir } from "./helpers/workspace.ts";
import { decide } from "../cells/datanet/decisions.ts";
import { datanet, pipeline, runPipeline, sql } from "../cells/index.ts";

interface Reply { status: number; body: { error?: string; field?: string | null; decided?: { id: string; from: string; to: string; seq: number }[]; unchanged?: unknown[]; watching?: boolean } }

describe("the notebook server's decisions API", () => {
  let home: string;
  let server: NotebookServer;
  let origin: string;
  let token: string;
  let ids: string[];

  /** POST /@tracebook/api/decisions as this server's page would, with `headers` changed (null removes one). */
  function post(body: unknown, headers: Record<string, string | null> = {}, method = "POST", route = "/@tracebook/api/decisions"): Promise<Reply> {
    const url = new URL(route, server.url);
    const all: Record<string, string | null> = { "content-type": "application/json", origin, "x-tracebook-token": token, "sec-fetch-site": "same-origin", ...headers };
    const sent = Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => e[1] !== null));
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method, headers: sent }, (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (c) => (text += c)).on("end", () => {
          try {
            resolve({ status: res.statusCode!, body: JSON.parse(text) as Reply["body"] });
          } catch {
            reject(new Error(`${res.statusCode}: not JSON: ${text.slice(0, 200)}`));
          }
        });
      });
      req.on("error", reject);
      req.end(typeof body === "string" ? body : JSON.stringify(body));
    });
  }

  /** A request to `route` the server must refuse with this status, naming this field, saying this. */
  const refusedAt = (route: string) => async (body: unknown, status: number, field: string | null, message: RegExp, headers: Record<string, string | null> = {}, method = "POST") => {
    const r = await post(body, headers, method, route);
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    expect(r.body.field ?? null).toBe(field);
    expect(r.body.error).toMatch(message);
  };

  const validations = async () => {
    const ws = await openWorkspace({ home });
    try {
      return await ws.rows<{ contribution: string; validator: string; verdict: string; rule: string; reason: string }>(
        "select contribution, validator, verdict, rule, reason from validations where rule <> 'import' order by seq");
    } finally {
      ws.close();
    }
  };

  beforeAll(async () => {
    home = tempDir("tb-api-ws-");
    let ws: Workspace | undefined;
    try {
      ws = await openWorkspace({ home });
      await smallDatanet(ws, "notes", 12);
      ids = (await ws.rows<{ id: string }>("select id from contributions order by id")).map((r) => r.id);
    } finally {
      ws?.close();
    }
    server = await startNotebookServer({ home, port: 0, watch: false, writeAttempts: 3, cacheDir: path.join(home, "vite-cache"), log: () => undefined });
    origin = server.url.replace(/\/$/, "");
    // The token, as a page gets it: from the notebook page's HTML.
    const html = await (await fetch(`${server.url}curation-queue`)).text();
    token = /<meta name="tracebook-token" content="([0-9a-f]+)">/.exec(html)?.[1] ?? "";
    expect(token).toMatch(/^[0-9a-f]{48}$/);
  }, 120_000);

  afterAll(async () => {
    await server?.close();
  });

  it("records a decision through decide(), one validation record, and says what changed", async () => {
    const reply = await post({ ids: [ids[0]!.slice(0, 12)], status: "rejected", reason: "spam in <b>ham</b>", curator: "ann" });
    expect(reply.status).toBe(200);
    expect(reply.body.decided).toEqual([expect.objectContaining({ id: ids[0], from: "approved", to: "rejected", seq: expect.any(Number) })]);
    expect(reply.body.watching).toBe(false);
    // In bulk, a contribution already in the verdict's status is left as it is (decide()'s rule).
    const bulk = await post({ ids: [ids[0], ids[1]], status: "rejected", reason: "same", curator: "ann", datanet: "notes" });
    expect(bulk.status).toBe(200);
    expect(bulk.body.decided!.map((d) => d.id)).toEqual([ids[1]]);
    expect(bulk.body.unchanged).toEqual([{ id: ids[0], datanet: "notes", status: "rejected" }]);
    expect(await validations()).toEqual([
      { contribution: ids[0], validator: "ann", verdict: "rejected", rule: "manual", reason: "spam in <b>ham</b>" },
      { contribution: ids[1], validator: "ann", verdict: "rejected", rule: "manual", reason: "same" },
    ]);
  });

  it("refuses bad input with 400 and a message naming the field, and writes nothing", async () => {
    const good = { ids: [ids[2]], status: "rejected", reason: "r", curator: "ann" };
    const cases: [unknown, string | null, RegExp][] = [
      [{ ...good, ids: [] }, "ids", /^ids: give a non-empty list/],
      [{ ...good, ids: "abc" }, "ids", /^ids: give a non-empty list/],
      [{ ...good, ids: ["zz"] }, "ids", /^ids\[0\]: "zz" is not a contribution id/],
      [{ ...good, ids: ["0123456789abcdef".repeat(4)] }, "ids", /^ids: no contribution matches id "0123456789abcdef/],
      [{ ...good, ids: [ids[2]!.slice(0, 12)], datanet: "nope" }, "datanet", /^datanet: unknown Datanet "nope"/],
      [{ ...good, status: "deleted" }, "status", /^status: must be one of approved, rejected, quarantined, keep \(got "deleted"\)/],
      [{ ...good, status: undefined }, "status", /^status: must be one of/],
      [{ ...good, reason: "   " }, "reason", /^reason: a decision needs a reason/],
      [{ ...good, reason: 7 }, "reason", /^reason: must be a string/],
      [{ ...good, reason: "x".repeat(2001) }, "reason", /^reason: the reason is 2001 characters long/],
      [{ ...good, curator: undefined }, "curator", /^curator: a decision needs a curator/],
      [{ ...good, verdict: "rejected" }, "verdict", /^verdict: unknown field/],
      [{ ...good, pipeline: 3 }, "pipeline", /^pipeline: must be a pipeline's name/],
      ["[1, 2]", null, /^body: expected a JSON object/],
      ["{not json", null, /^body: not JSON/],
    ];
    for (const [body, field, message] of cases) {
      const reply = await post(body);
      expect({ status: reply.status, field: reply.body.field }, JSON.stringify(body)).toEqual({ status: 400, field });
      expect(reply.body.error).toMatch(message);
    }
    // A change decide() refuses is a conflict with the contribution's status.
    const again = await post({ ...good, ids: [ids[0]] });
    expect(again).toEqual({ status: 409, body: { error: expect.stringMatching(/^status: .* is already rejected/), field: "status" } });
    expect((await validations()).length).toBe(2);
  });

  it("accepts decisions only from this server's own pages", async () => {
    const good = { ids: [ids[3]], status: "rejected", reason: "r", curator: "mallory" };
    const port = new URL(server.url).port;
    const refused: [Record<string, string | null>, number, string | null, RegExp][] = [
      [{ origin: null }, 403, "origin", /no Origin header: decisions are accepted only from this server's notebook pages/],
      [{ origin: "http://evil.example" }, 403, "origin", /is not this server/],
      [{ origin: "http://127.0.0.1:1" }, 403, "origin", /is not this server/], // another local port is another origin
      [{ origin: "https://127.0.0.1:" + port }, 403, "origin", /is not this server/],
      [{ "sec-fetch-site": "cross-site" }, 403, "origin", /cross-site request/],
      [{ "x-tracebook-token": null }, 403, "token", /missing or wrong x-tracebook-token/],
      [{ "x-tracebook-token": "0".repeat(48) }, 403, "token", /missing or wrong/],
      [{ "content-type": "text/plain" }, 415, null, /^content-type: send application\/json/], // what a cross-site form could send
    ];
    for (const [headers, status, field, message] of refused) {
      const reply = await post(good, headers);
      expect({ status: reply.status, field: reply.body.field }, JSON.stringify(headers)).toEqual({ status, field });
      expect(reply.body.error).toMatch(message);
    }
    const get = await post("", {}, "GET");
    expect(get.status).toBe(405);
    // Vite's host check comes first: a rebound DNS name never reaches the API.
    const rebound = await new Promise<number>((resolve, reject) => {
      http.request(new URL("/@tracebook/api/decisions", server.url), { method: "POST", headers: { host: `attacker.example:${port}`, origin: `http://attacker.example:${port}`, "content-type": "application/json" } },
        (res) => resolve(res.resume().statusCode!)).on("error", reject).end(JSON.stringify(good));
    });
    expect(rebound).toBe(403);
    // No CORS: another origin cannot read this server's pages (and so its token).
    const page = await fetch(`${server.url}curation-queue`, { headers: { origin: "http://127.0.0.1:1" } });
    expect(page.headers.get("access-control-allow-origin")).toBeNull();
    expect((await validations()).length).toBe(2);
  });

  it("checks a what-if question before retraining anything: the same origin rules, every error naming its field", async () => {
    const refused = refusedAt("/@tracebook/api/what-if");
    await refused({ pipeline: "nope", contributors: ["c0"] }, 400, "pipeline", /"nope" is not a pipeline this server serves \(.*mail.*\)/);
    await refused({ pipeline: "mail" }, 400, "contributors", /say what to leave out/);
    await refused({ pipeline: "mail", contributors: ["c0", ""] }, 400, "contributors", /non-empty names/);
    await refused({ pipeline: "mail", datanets: "notes" }, 400, "datanets", /a list/);
    await refused({ pipeline: "mail", contributors: ["c0"], seedCheck: -1 }, 400, "seedCheck", /non-negative integer/);
    await refused({ pipeline: "mail", contributors: ["c0"], extra: 1 }, 400, "extra", /unknown field/);
    await refused({ pipeline: "mail", ids: ["xyz"] }, 400, "ids", /^ids: "xyz" is not a contribution id/);
    await refused({ pipeline: "mail", ids: ["0123abcd"], onlyTrained: "yes" }, 400, "onlyTrained", /true or false/);
    await refused({ pipeline: "mail", ids: ["0123abcd"], focus: 7 }, 400, "focus", /^focus: an inference id/);
    await refused({ pipeline: "mail", contributors: ["c0"] }, 403, "token", /token/, { "x-tracebook-token": "0".repeat(48) });
    await refused({ pipeline: "mail", contributors: ["c0"] }, 403, "origin", /what-if questions are accepted only from its own pages/, { origin: "http://127.0.0.1:1" });
    await refused({ pipeline: "mail", contributors: ["c0"] }, 405, null, /only POST asks a what-if question/, {}, "PUT");
  });

  it("checks an explain request before loading anything, every error naming its field; a pipeline never run says what to run", async () => {
    const refused = refusedAt("/@tracebook/api/explain");
    await refused({ pipeline: "nope", inputs: ["hi"] }, 400, "pipeline", /"nope" is not a pipeline this server serves/);
    await refused({ pipeline: "mail" }, 400, "inputs", /give 1 to 20 inputs/);
    await refused({ pipeline: "mail", inputs: Array(21).fill("hi") }, 400, "inputs", /give 1 to 20 inputs/);
    await refused({ pipeline: "mail", inputs: ["hi", " "] }, 400, "inputs", /^inputs\[1\]: a non-empty text/);
    await refused({ pipeline: "mail", inputs: [[0.5, null]] }, 400, "inputs", /^inputs\[0\]: .*finite numbers/);
    await refused({ pipeline: "mail", inputs: ["x".repeat(1024 * 1024 + 1)] }, 400, "inputs", /^inputs\[0\]: a text is at most 1024 KiB/);
    await refused({ pipeline: "mail", inputs: ["x".repeat(2 * 1024 * 1024)] }, 413, null, /body: larger than 2048 KiB/);
    await refused({ pipeline: "mail", inputs: ["hi"], top: 0 }, 400, "top", /top: a count from 1 to 100/);
    await refused({ pipeline: "mail", inputs: ["hi"], as: "" }, 400, "as", /as: a non-empty name/);
    await refused({ pipeline: "mail", inputs: ["hi"], extra: 1 }, 400, "extra", /unknown field/);
    await refused({ pipeline: "mail", inputs: ["hi"] }, 403, "token", /token/, { "x-tracebook-token": "0".repeat(48) });
    await refused({ pipeline: "mail", inputs: ["hi"] }, 403, "origin", /^origin: a cross-site request \(Sec-Fetch-Site\): explanations are accepted only from this server's own pages$/, { "sec-fetch-site": "cross-site" });
    // mail never ran in this workspace.
    await refused({ pipeline: "mail", inputs: ["hi"] }, 400, "pipeline", /pipeline "mail" has no outputs in this workspace: run `tracebook run mail` first/);
  });

  it("checks a models request before opening anything, every error naming its field; a cell that trained nothing says so", async () => {
    const refused = refusedAt("/@tracebook/api/models");
    await refused({ pipeline: "nope" }, 400, "pipeline", /"nope" is not a pipeline this server serves/);
    await refused({ pipeline: "mail", cell: "a b" }, 400, "cell", /^cell: the name of a model cell/);
    await refused({ pipeline: "mail", a: "xyz" }, 400, "a", /^a: a model id, or a unique prefix of at least 8 hex/);
    await refused({ pipeline: "mail", b: 12 }, 400, "b", /^b: a model id/);
    await refused({ pipeline: "mail", model: "model" }, 400, "model", /unknown field/);
    await refused({ pipeline: "mail" }, 403, "token", /token/, { "x-tracebook-token": "0".repeat(48) });
    // mail never ran in this workspace.
    await refused({ pipeline: "mail" }, 400, "cell", /^cell: "model" of pipeline mail has trained no model in this workspace/);
  });

  it("reads the run log for a page, every error naming its field; a served pipeline that never ran has an empty log", async () => {
    const refused = refusedAt("/@tracebook/api/runs");
    await refused({ pipeline: "nope" }, 400, "pipeline", /"nope" is not a pipeline this server serves/);
    await refused({ pipeline: "mail", cell: "a b" }, 400, "cell", /^cell: the name of a cell of the pipeline$/);
    await refused({ pipeline: "mail", limit: 0 }, 400, "limit", /^limit: a whole number of pipeline runs from 1 to 200$/);
    await refused({ pipeline: "mail", limit: 2.5 }, 400, "limit", /^limit: /);
    await refused({ pipeline: "mail", since: 1 }, 400, "since", /unknown field/);
    await refused({ pipeline: "mail" }, 403, "token", /token/, { "x-tracebook-token": "0".repeat(48) });
    await refused({ pipeline: "mail" }, 403, "origin", /run logs are accepted only from its own pages/, { origin: "http://127.0.0.1:1" });
    await refused({ pipeline: "mail" }, 405, null, /only POST reads the run log/, {}, "GET");
    const r = await post({ pipeline: "mail" }, {}, "POST", "/@tracebook/api/runs");
    expect([r.status, r.body]).toEqual([200, { pipeline: "mail", cell: null, total: 0, cells: [], runs: [] }]);
  });

  it("tells every cell's state for a page from the pipeline's file, as tracebook status does, a Datanet not imported included", async () => {
    const refused = refusedAt("/@tracebook/api/status");
    await refused({ pipeline: "nope" }, 400, "pipeline", /"nope" is not a pipeline this server serves/);
    await refused({ pipeline: "mail", cell: "model" }, 400, "cell", /^cell: unknown field \(expected pipeline\)$/);
    await refused({ pipeline: "mail" }, 403, "origin", /cell states are accepted only from its own pages/, { origin: "http://127.0.0.1:1" });
    await refused({ pipeline: "mail" }, 405, null, /only POST tells the cells' states/, {}, "GET");
    const r = await post({ pipeline: "mail" }, {}, "POST", "/@tracebook/api/status");
    expect(r.status).toBe(200);
    const answer = r.body as StatusAnswer;
    expect(answer).toMatchObject({ pipeline: "mail", file: path.resolve("pipelines/mail.pipeline.ts"), unread: null, watched: false });
    expect(answer.cells.map((c) => c.cell)).toEqual((await loadPipeline("mail")).pipeline.order);
    // Its Datanet was never imported here: the cell that reads it cannot be planned, and what follows is blocked.
    expect(answer.cells[0]).toMatchObject({ cell: "mail", state: "failed", reason: 'unknown Datanet "mail-spam"; import it first (tracebook datanet import mail-spam)', rows: null, data_version: null, finished_at: null });
    expect(answer.cells.filter((c) => c.state === "fresh")).toEqual([]);
    expect(answer.cells.find((c) => c.cell === "model")).toMatchObject({ state: "blocked", reason: expect.stringMatching(/^input \w+ is (failed|blocked)$/) });
  });

  it("records concurrent decisions one after the other, none lost", async () => {
    const replies = await Promise.all(ids.slice(4, 10).map((id, i) => post({ ids: [id], status: i % 2 ? "quarantined" : "rejected", reason: `r${i}`, curator: "bob" })));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const records = (await validations()).filter((v) => v.validator === "bob");
    expect(records.map((r) => r.contribution).sort()).toEqual(ids.slice(4, 10).sort());
  });

  it("answers 503 when another process holds the workspace, and records nothing", async () => {
    // Another process, e.g. `tracebook run` in a terminal.
    const release = await holdWorkspace(home);
    try {
      const reply = await post({ ids: [ids[10]], status: "rejected", reason: "r", curator: "carl" });
      expect(reply.status).toBe(503);
      expect(reply.body.error).toMatch(/^the workspace is busy \(another process holds it\), nothing was recorded; try again/);
    } finally {
      await release();
    }
    expect((await validations()).some((v) => v.validator === "carl")).toBe(false);
  }, 60_000);

  it("records a keep: the status stands, one record with that status as the verdict", async () => {
    const reply = await post({ ids: [ids[3]], status: "keep", reason: "checked: not a duplicate", curator: "ann", pipeline: "nbtest" });
    expect(reply.status).toBe(200);
    expect(reply.body.decided).toEqual([expect.objectContaining({ id: ids[3], from: "approved", to: "approved", seq: expect.any(Number) })]);
    expect(reply.body.unchanged).toEqual([]);
    expect(reply.body.watching).toBe(false); // this server watches nothing, so no page's pipeline recomputes
    expect((await validations()).at(-1)).toEqual({ contribution: ids[3], validator: "ann", verdict: "approved", rule: "manual", reason: "checked: not a duplicate" });
  });

  it("serves a workspace opened read-only as it is: no watcher, and a decision or a what-if is refused with 403", async () => {
    const ro = await startNotebookServer({ home, port: 0, readOnly: true, cacheDir: path.join(home, "vite-cache"), log: () => undefined });
    try {
      expect(ro.readOnly).toBe("opened with --read-only");
      expect(ro.pipelines.watched).toEqual([]);
      const page = await (await fetch(`${ro.url}curation-queue`)).text();
      const headers = { "content-type": "application/json", origin: ro.url.replace(/\/$/, ""), "x-tracebook-token": /<meta name="tracebook-token" content="([0-9a-f]+)">/.exec(page)![1]!, "sec-fetch-site": "same-origin" };
      const before = await validations();
      const decision = await fetch(new URL("/@tracebook/api/decisions", ro.url), { method: "POST", headers, body: JSON.stringify({ ids: [ids[11]], status: "rejected", reason: "r", curator: "dana" }) });
      expect(decision.status).toBe(403);
      expect(((await decision.json()) as { error: string }).error).toMatch(/^this server has the workspace open read-only \(opened with --read-only\): a curator's decision changes it$/);
      const whatIf = await fetch(new URL("/@tracebook/api/what-if", ro.url), { method: "POST", headers, body: JSON.stringify({ pipeline: "nbtest", contributors: ["c0"] }) });
      expect(whatIf.status).toBe(403);
      expect(await validations()).toEqual(before);
    } finally {
      await ro.close();
    }
  }, 60_000);

  it("answers the catalog of a pipeline that never ran with what to run, not a 404", async () => {
    const res = await fetch(`${server.url}@tracebook/catalog/never-run.json`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ pipeline: "never-run", cells: [], missing: expect.stringMatching(/^pipeline "never-run" has no runs in workspace .*: run `tracebook run never-run` first$/) });
    expect((await fetch(`${server.url}@tracebook/data/never-run/x.arrow`)).status).toBe(404);
    // The index lists a notebook's pipeline that never ran here with what to run: a note, not an error.
    const index = await (await fetch(server.url)).text();
    expect(index).toMatch(/Pipeline mail-quality<\/h2><p class="tb-meta pipeline-missing">pipeline &#34;mail-quality&#34; has no runs in workspace .*: run `tracebook run mail-quality` first<\/p>/);
    expect(index).not.toMatch(/class="tb-error"/);
  });

  it("lists a pipeline first run after it started, served as it is (this server watches nothing)", async () => {
    const ws = await openWorkspace({ home });
    try {
      await runPipeline(ws, pipeline("later", { notes: datanet("notes") }));
    } finally {
      ws.close();
    }
    await new Promise((r) => setTimeout(r, 1100)); // the run log's pipelines are re-read at most once a second
    expect(await (await fetch(server.url)).text()).toMatch(/Pipeline later<\/h2><p class="tb-meta pipeline-live">served as it is/);
    expect(server.pipelines.served).toContain("later");
    expect(server.pipelines.watched).toEqual([]);
  });

  it("refuses a pipeline named to serve or build that is nowhere: no file, no runs", async () => {
    const nowhere = /no pipeline "latr" .*, and this workspace has run no pipeline of that name \(it has run: later\)$/;
    await expect(startNotebookServer({ home, port: 0, pipelines: ["latr"], watch: false, log: () => undefined })).rejects.toThrow(nowhere);
    // One the workspace has run is served as it is, though no file of it is found.
    const asIs = await startNotebookServer({ home, port: 0, pipelines: ["later"], watch: false, cacheDir: path.join(home, "vite-cache"), log: () => undefined });
    await asIs.close();
    const outDir = path.join(tempDir("tb-api-site-"), "site");
    await expect(buildNotebooks({ home, outDir, pipelines: ["latr"] })).rejects.toThrow(/^no pipeline "latr" has run in workspace .* \(it has run: later\)$/);
    expect(fs.existsSync(outDir)).toBe(false);
  }, 60_000);

  it("serves the columns a page names (?columns=), and answers 400 naming a column the output lacks", async () => {
    const url = `${server.url}@tracebook/data/later/notes.arrow`;
    const whole = tableFromIPC(new Uint8Array(await (await fetch(url)).arrayBuffer()));
    const res = await fetch(`${url}?columns=label&columns=id`);
    expect(res.status).toBe(200);
    const some = tableFromIPC(new Uint8Array(await res.arrayBuffer()));
    expect(some.schema.fields.map((f) => f.name)).toEqual(["id", "label"]);
    expect(some.numRows).toBe(whole.numRows);
    const bad = await fetch(`${url}?columns=id&columns=${encodeURIComponent("no such")}`);
    expect([bad.status, await bad.text()]).toEqual([400, `later.notes: no column "no such" (it has ${whole.schema.fields.map((f) => f.name).join(", ")})`]);
    expect((await fetch(`${url}?columns=`)).status).toBe(400);
  });
});

describe("what tracebook dev serves and watches by default", () => {
  const nb = (pipeline: string | null, watch = true) => ({ name: `nb-${pipeline}`, file: "x.md", title: "t", pipeline, watch });
  it("serves the notebooks' pipelines and those the workspace ran; watches all but run-by-hand ones and lost files", () => {
    const cwd = tempDir("tb-dev-defaults-");
    fs.mkdirSync(path.join(cwd, "pipelines"));
    fs.writeFileSync(path.join(cwd, "pipelines", "notes.pipeline.ts"), "export default {};\n");
    const out = defaultPipelines([nb("mail"), nb("mail-quality", false), nb(null)], ["digits", "mail", "mail-quality", "notes", "gone"], cwd);
    expect(out.specs).toEqual(["mail", "mail-quality", "digits", "notes", "gone"]);
    // digits resolves from the project's pipelines/, notes from cwd's; "gone" has runs but no file.
    expect(out.watched).toEqual(["mail", "digits", "notes"]);
    // A watch: false notebook does not stop a pipeline another notebook reads live.
    expect(defaultPipelines([nb("mail", false), nb("mail")], [], cwd).watched).toEqual(["mail"]);
    // A pipeline kept elsewhere is watched from the file it was last run from, while that file exists.
    const elsewhere = path.join(cwd, "exp.pipeline.ts");
    fs.writeFileSync(elsewhere, "export default {};\n");
    const recorded = (p: string) => ({ gone: elsewhere, lost: path.join(cwd, "deleted.pipeline.ts"), notes: elsewhere })[p];
    const withFiles = defaultPipelines([nb("mail")], ["gone", "lost", "notes"], cwd, recorded);
    expect(withFiles.watched).toEqual(["mail", "gone", "notes"]);
    expect(withFiles.watchSpecs).toEqual(["mail", elsewhere, "notes"]); // found by name first
    // A pipeline that has run a quality evaluation (minutes of retraining) is served, not watched.
    const evaluations = defaultPipelines([nb("mail")], ["gone", "notes"], cwd, recorded, new Set(["notes"]));
    expect(evaluations.specs).toEqual(["mail", "gone", "notes"]);
    expect(evaluations.watched).toEqual(["mail", "gone"]);
  });
});

describe("a pipeline first run while tracebook dev is up", () => {
  it("is adopted from where it was run: listed on the index, watched, and its pages follow a curator's rejection", async () => {
    const home = tempDir("tb-adopt-ws-");
    const cwd = tempDir("tb-adopt-cwd-");
    // Kept in the data scientist's own folder, not pipelines/: found again where it was run from.
    fs.mkdirSync(path.join(cwd, "experiments"));
    fs.writeFileSync(path.join(cwd, "package.json"), '{"type":"module"}\n');
    const file = path.join(cwd, "experiments", "late.pipeline.ts");
    fs.writeFileSync(file, `import { datanet, pipeline, sql } from ${JSON.stringify(path.resolve("cells/index.ts"))};
export default pipeline("late", {
  notes: datanet("notes"),
  counts: sql\`select status, count(*) as n from \${"notes"} group by status order by status\`,
});
`);
    const ws = await openWorkspace({ home });
    const ids = await (async () => {
      try {
        await smallDatanet(ws, "notes", 12);
        return (await ws.rows<{ id: string }>("select id from contributions where status = 'approved' order by id")).map((r) => r.id);
      } finally {
        ws.close();
      }
    })();
    const lines: string[] = [];
    // No notebooks: at start nothing is served or watched.
    const server = await startNotebookServer({
      home, cwd, port: 0, notebooksDir: tempDir("tb-adopt-nb-"), cacheDir: path.join(home, "vite-cache"), log: (l) => lines.push(l),
    });
    try {
      expect(server.pipelines).toEqual({ served: [], watched: [] });
      const run = spawnSync(process.execPath, [path.resolve("bin/tracebook.js"), "--workspace", home, "run", "experiments/late.pipeline.ts"], { cwd, encoding: "utf8" });
      expect(run.status, run.stderr).toBe(0);

      const catalog = await (await fetch(`${server.url}@tracebook/catalog/late.json`)).json() as { watched?: boolean; cells: { cell: string }[] };
      expect(catalog).toMatchObject({ watched: true, cells: [{ cell: "notes" }, { cell: "counts" }] });
      expect(server.pipelines).toEqual({ served: ["late"], watched: ["late"] });
      expect(lines).toContain("late: first ran after tracebook dev started; watching it now (open pages on it follow its outputs)");
      expect(await (await fetch(server.url)).text()).toMatch(/Pipeline late<\/h2><p class="tb-meta pipeline-live">live:/);

      // The adopted watcher's first cycle finds it fresh; a rejection then recomputes it.
      const seen = (match: (e: Record<string, unknown>) => boolean) => (server.events as unknown as Record<string, unknown>[]).some(match);
      const until = async (match: (e: Record<string, unknown>) => boolean) => {
        for (let i = 0; i < 600 && !seen(match); i++) await new Promise((r) => setTimeout(r, 100));
        expect(seen(match)).toBe(true);
      };
      await until((e) => e.event === "watch-cycle" && e.pipeline === "late");
      const w = await openWorkspaceRetrying(home);
      try {
        await decide(w, { ids: [ids[0]!], verdict: "rejected", validator: "ann", reason: "spam" });
      } finally {
        w.close();
      }
      await until((e) => e.event === "output-changed" && e.pipeline === "late" && e.cell === "counts");
    } finally {
      await server.close();
    }
  }, 120_000);
});

/** A workspace holding a four-row Datanet "notes", and then whatever `then` does in it, closed again. */
async function notesHome(prefix: string, then?: (ws: Workspace) => Promise<unknown>): Promise<string> {
  const home = tempDir(prefix);
  const ws = await openWorkspace({ home });
  try {
    await smallDatanet(ws, "notes", 4);
    await then?.(ws);
  } finally {
    ws.close();
  }
  return home;
}

describe("adopting a pipeline right after the run log was read", () => {
  it("re-reads the run log for a name it lacks, so a page asked for within a second of the last read is adopted", async () => {
    const home = await notesHome("tb-adopt-soon-");
    // The run log is read once and then answered from memory for a minute.
    const data = new NotebookData({ home, refreshMs: 60_000 });
    const served = new Set<string>();
    const watchers = new Watchers({ specs: [], home, bin: path.resolve("bin/tracebook.js"), log: () => undefined, onEvent: () => undefined });
    const adoption = new PipelineAdoption({ data, watchers, served, watch: false, named: new Set(), log: () => undefined });
    try {
      expect(await adoption.pipelines()).toEqual([]);
      const w = await openWorkspace({ home });
      try {
        await runPipeline(w, pipeline("soon", { notes: datanet("notes") }));
      } finally {
        w.close();
      }
      // The index keeps its once-a-refresh answer; a page asking for the new name gets it served.
      expect(await adoption.pipelines()).toEqual([]);
      expect(await adoption.adopt("soon")).toBe(false); // false: watch is off, so served as it is
      expect([...served]).toEqual(["soon"]);
      expect(await adoption.adopt("nosuch")).toBe(false);
      expect([...served]).toEqual(["soon"]);
    } finally {
      await watchers.close();
      data.close();
    }
  });
});

describe("a cell taken out of a watched pipeline's file", () => {
  it("leaves the catalog at the watcher's next whole cycle: the index stops listing it, pages stop reading it", async () => {
    const home = await notesHome("tb-forget-", (ws) => runPipeline(ws, pipeline("p", { notes: datanet("notes"), counted: sql`select count(*) as n from notes` })));
    const data = new NotebookData({ home, refreshMs: 60_000 });
    try {
      await data.readRunLog(["p"]);
      data.watch("p");
      const names = async () => (await data.catalog("p")).cells.map((c) => c.cell);
      expect(await names()).toEqual(["notes", "counted"]);
      const cycle = (cells: string[], cancelled = false) => ({ event: "watch-cycle" as const, pipeline: "p", trigger: "pipeline-file", at: "2026-12-02T00:00:00.000Z",
        summary: { ran: [], fresh: cells, failed: [], blocked: [], cancelled, changed: [] } });
      // A cancelled cycle did not reach every cell: it proves nothing gone.
      data.applyEvent(cycle(["notes"], true));
      expect(await names()).toEqual(["notes", "counted"]);
      data.applyEvent(cycle(["notes"]));
      expect(await names()).toEqual(["notes"]);
      await expect(data.arrow("p", "counted")).rejects.toThrow('pipeline "p" has no cell "counted"');
      expect((await data.arrow("p", "notes")).bytes.byteLength).toBeGreaterThan(0);
    } finally {
      data.close();
    }
  });
});

describe("the dev server's word on a busy workspace", () => {
  it("says nothing of the expected meetings, once of a stretch that lasts, and again only after a cycle got through", () => {
    const notice = busyNotices(10_000);
    const at = (s: number) => new Date(Date.UTC(2026, 10, 30, 12, 0, s)).toISOString();
    const busy = (s: number) => ({ event: "watch-error" as const, pipeline: "/p/mail.pipeline.ts", trigger: "start", error: "workspace x is open in another process (the workspace is busy: trying again)", at: at(s) });
    const cycle = (s: number) => ({ event: "watch-cycle" as const, pipeline: "mail", trigger: "workspace", summary: { ran: [], fresh: [], failed: [], blocked: [], cancelled: false, changed: [] }, at: at(s) });
    // Two watchers starting together: one try finds it busy, the next gets through.
    expect([busy(0), cycle(1)].map((e) => notice("mail", e))).toEqual([null, null]);
    // A run in a terminal holds it: said once, when it has lasted 10 s.
    const said = [busy(2), busy(3), busy(5), busy(9), busy(12), busy(20), busy(50)].map((e) => notice("mail", e));
    expect(said.filter(Boolean)).toEqual(["mail: the workspace has been busy for 10 s (another process holds it): still trying"]);
    expect(said.indexOf(said.find(Boolean)!)).toBe(4);
    // Each pipeline's stretch is its own; a cycle that gets through starts the count again.
    expect(notice("digits", busy(50))).toBeNull();
    notice("mail", cycle(51));
    expect([busy(52), busy(61), busy(62)].map((e) => notice("mail", e))).toEqual([null, null, "mail: the workspace has been busy for 10 s (another process holds it): still trying"]);
    // Another error is not this function's to say.
    expect(notice("mail", { ...busy(70), error: "pipeline file does not load" })).toBeNull();
  });
});

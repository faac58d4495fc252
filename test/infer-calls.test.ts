// `tracebook infer --from calls.jsonl`: a file of calls, one JSON object a line, run through the
// model and recorded in one batch, each with its own id, caller, fee and epoch where it names them.
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openCalls, parsePayloads } from "../bin/payloads.ts";
import type { Call } from "../cells/rewards/ledger.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { openWorkspace } from "../cells/store/workspace.ts";
import { payWorkspace } from "./helpers/pay.ts";
import { tempDir } from "./helpers/workspace.ts";

const BIN = path.resolve("bin/tracebook.js");
const FILE = path.resolve("test/fixtures/pay.pipeline.ts");

/** A file of calls checked whole, then read `size` calls at a time, as the CLI reads it. */
async function readBatches(from: string, scratch: string, features: number | null, model: string, size = 5000): Promise<Call[][]> {
  const file = await openCalls(from, scratch, features, model);
  try {
    const batches: Call[][] = [];
    for await (const batch of file.batches(size)) batches.push(batch);
    return batches;
  } finally {
    file.close();
  }
}

/** Every call of a file. */
const readCalls = async (...args: Parameters<typeof readBatches>) => (await readBatches(...args)).flat();

describe("a file of calls", () => {
  // A calls file on disk, read as the CLI reads it.
  const batches = (content: string | Buffer, size?: number, features: number | null = null, name = "calls.jsonl") => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, name), content);
    return readBatches(path.join(dir, name), dir, features, "abcdef0123456789", size);
  };
  const read = async (content: string | Buffer, features: number | null = null, name = "calls.jsonl") => (await batches(content, undefined, features, name)).flat();

  it("is read again in batches of the size asked, every call once and in order, after every line was checked", async () => {
    const lines = Array.from({ length: 23 }, (_, i) => JSON.stringify({ text: `message ${i}`, ...(i % 5 === 0 ? { id: `c-${i}` } : {}) }));
    const whole = await read(lines.join("\n\n"));
    expect(whole.map((c) => [c.payload.text, c.id])).toEqual(lines.map((_, i) => [`message ${i}`, i % 5 === 0 ? `c-${i}` : undefined]));
    for (const size of [1, 2, 7, 23, 100]) {
      const read = await batches(lines.join("\n\n"), size);
      expect(read.flat()).toEqual(whole);
      expect(read.map((b) => b.length)).toEqual([...Array(Math.floor(23 / size)).fill(size), ...(23 % size ? [23 % size] : [])]);
    }
    // A bad line at the very end is refused when the file is opened, before any batch is read.
    await expect(batches([...lines, '{"text": "last", "fee": 1}'].join("\n"), 1)).rejects.toThrow('calls.jsonl, row 24, field "fee"');
    // An id is compared with its first line wherever the batches cut; the same facts again is a replay.
    await expect(batches([...lines, JSON.stringify({ text: "other", id: "c-0" })].join("\n"), 1)).rejects.toThrow(`row 24, field "id": id "c-0" is line 1's too, with another input`);
    expect(await batches([...lines, JSON.stringify({ text: "message 0", id: "c-0" })].join("\n"), 5)).toHaveLength(5);
  });

  it("is read line by line, each error naming the file, the line and the field", async () => {
    const calls = await read('{"text": "casino winner"}\n\n{"title": "Re: notes", "text": "meeting", "id": "c-1", "caller": "agent:a", "fee": "0.5", "epoch": "e9"}\n');
    expect(calls).toEqual([{ payload: { text: "casino winner" } }, { payload: { title: "Re: notes", text: "meeting" }, id: "c-1", caller: "agent:a", fee: 5n * 10n ** 17n, epoch: "e9" }]);
    expect(await read('{"features": [1, 2.5]}', 2)).toEqual([{ payload: { features: [1, 2.5] } }]);
    const bad: [string, string, number | null][] = [
      ['{"text": "a"}\n{"txt": "b"}', 'calls.jsonl, row 2, field "txt": unknown field (a call has text, title, features, id, caller, fee, epoch)', null],
      ['{"text": "a", "fee": 0.01}', 'calls.jsonl, row 1, field "fee": expected a string of tokens such as "0.002" (a JSON number would round)', null],
      ['{"text": "a", "fee": "1e-3"}', 'calls.jsonl, row 1, field "fee": invalid amount "1e-3": exponent notation is not accepted, write the digits out', null],
      ['{"text": "a"}\n{text: 1}', "calls.jsonl, row 2: invalid JSON", null],
      ['["a"]', "calls.jsonl, row 1: expected a JSON object, got an array", null],
      ['{"id": "x"}', "calls.jsonl, row 1: no input", null],
      ['{"text": "a", "caller": " "}', 'calls.jsonl, row 1, field "caller": cannot be blank', null],
      ['{"features": [1]}', 'calls.jsonl, row 1, field "features": model abcdef012345 reads text', null],
      ['{"text": "a"}', 'calls.jsonl, row 1, field "text": model abcdef012345 reads 2 features, not text', 2],
      ['{"features": [1, "2"]}', 'calls.jsonl, row 1, field "features": model abcdef012345 reads 2 features: give a JSON array of numbers', 2],
      ['{"features": [1, 2, 3]}', 'calls.jsonl, row 1, field "features": 3 numbers; model abcdef012345 reads 2', 2],
      ['{"text": "a", "id": "d"}\n{"text": "b", "id": "d"}', 'calls.jsonl, row 2, field "id": id "d" is line 1\'s too, with another input', null],
      ['{"text": "a", "id": "d", "fee": "1"}\n{"text": "a", "id": "d", "fee": "2"}', 'calls.jsonl, row 2, field "id": id "d" is line 1\'s too, with another fee', null],
      ["\n\n", "calls.jsonl: empty file", null],
    ];
    for (const [content, message, features] of bad) await expect(read(content, features), content).rejects.toThrow(message);
    expect(await read('\ufeff{"text": "a"}\r\n{"text": "b"}\r\n')).toEqual([{ payload: { text: "a" } }, { payload: { text: "b" } }]);
    // The same id twice with the same facts is a replay, not an error.
    expect(await read('{"text": "a", "id": "d"}\n{"text": "a", "id": "d"}')).toHaveLength(2);
  });

  it("takes command-line inputs as texts, or as JSON arrays of exactly the model's numbers, naming the input", () => {
    expect(parsePayloads(["casino winner", "notes"], null, "abcdef0123456789")).toEqual([{ text: "casino winner" }, { text: "notes" }]);
    expect(parsePayloads(["[1, 2.5]"], 2, "abcdef0123456789")).toEqual([{ features: [1, 2.5] }]);
    expect(() => parsePayloads(["[1, 2]", "[1, 2, 3]"], 2, "abcdef0123456789")).toThrow(/^input 2: 3 numbers; model abcdef012345 reads 2$/);
    expect(() => parsePayloads(["[1, \"2\"]"], 2, "abcdef0123456789")).toThrow("input 1: model abcdef012345 reads 2 features; give a JSON array of numbers (not an array of numbers)");
    expect(() => parsePayloads(["nope"], 2, "abcdef0123456789")).toThrow(/^input 1: model abcdef012345 reads 2 features; give a JSON array of numbers \(Unexpected token/);
  });

  it("is refused when it cannot be read as UTF-8 text, naming the file and the line", async () => {
    const dir = tempDir();
    await expect(readCalls(path.join(dir, "missing.jsonl"), dir, null, "m")).rejects.toThrow(`${path.join(dir, "missing.jsonl")}: file not found`);
    await expect(readCalls(dir, dir, null, "m")).rejects.toThrow(`${dir}: not a regular file`);
    await expect(read(Buffer.concat([Buffer.from('{"text": "ok"}\n{"text": "caf'), Buffer.from([0xe9]), Buffer.from('"}\n')]), null, "latin1.jsonl"))
      .rejects.toThrow(/latin1\.jsonl, row 2: invalid UTF-8 \(byte 0xe9 at offset 28\)$/);
    expect(await read('{"text": "café 😀"}\n')).toEqual([{ payload: { text: "café 😀" } }]);
  });

  describe("from the command line", () => {
    let ws: Workspace;
    let home: string;
    beforeAll(async () => {
      ws = await payWorkspace();
      home = ws.home;
      ws.close();
    }, 120_000);
    afterAll(() => ws?.close());
    const env = () => ({ ...process.env, TRACEBOOK_HOME: home });
    const count = async (where = "true") => {
      const w = await openWorkspace({ home });
      try {
        return Number((await w.rows<{ n: bigint }>(`select count(*) as n from inferences where ${where}`))[0]!.n);
      } finally {
        w.close();
      }
    };

    it("runs every call through the model, records each with its own facts, and settles them", async () => {
      const texts = ["casino winner pills tonight", "team meeting notes for monday", "cheap pills jackpot", "notes from the review"];
      const lines = Array.from({ length: 30 }, (_, i) => JSON.stringify({ text: texts[i % 4], ...(i % 3 === 0 ? { id: `file-${i}`, caller: `agent:${i % 2}`, fee: "0.25" } : {}) }));
      const file = path.join(tempDir(), "calls.jsonl");
      fs.writeFileSync(file, lines.join("\n") + "\n");
      const before = await count();
      const run = spawnSync(process.execPath, [BIN, "infer", FILE, "--model", "model", "--from", file, "--fee", "0.125", "--epoch", "e7", "--caller", "cli:ops", "--settle", "--json"], { encoding: "utf8", env: env() });
      expect(run.status, run.stderr).toBe(0);
      const executed = JSON.parse(run.stdout) as { id: string; label: string; fee: string; caller: string; epoch: string }[];
      expect(executed).toHaveLength(30);
      expect(executed.filter((e) => e.id.startsWith("file-")).map((e) => [e.fee, e.caller])).toEqual(Array.from({ length: 10 }, (_, k) => [String(25n * 10n ** 16n), `agent:${(3 * k) % 2}`]));
      expect(new Set(executed.filter((e) => !e.id.startsWith("file-")).map((e) => `${e.fee} ${e.caller} ${e.epoch}`))).toEqual(new Set([`${125n * 10n ** 15n} cli:ops e7`]));
      expect(await count()).toBe(before + 30);
      expect(await count("epoch = 'e7' and source = 'cli' and caller = 'agent:0' and fee = 250000000000000000")).toBe(5);
      // Settled at once: the epoch's statement pays out exactly the file's fees (10 × 0.25 + 20 × 0.125).
      const r = spawnSync(process.execPath, [BIN, "rewards", "pay", "--epoch", "e7"], { encoding: "utf8", env: env() });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/30 inferences paid 5 in fees; statement pays out 5 \(reconciles to the base unit\)/);
      // The same file again: the calls that name an id are replays; the others are new executions.
      const again = spawnSync(process.execPath, [BIN, "infer", FILE, "--model", "model", "--from", file, "--fee", "0.125", "--epoch", "e7", "--caller", "cli:ops"], { encoding: "utf8", env: env() });
      expect(again.status, again.stderr).toBe(0);
      expect(again.stdout).toMatch(/^30 calls: 20 recorded, 10 already in the ledger \(a replay records nothing\); fees recorded 2\.5; predictions .*; the first 20 above, all with --json$/m);
      expect(await count()).toBe(before + 50);
    }, 120_000);

    it("records a file a batch at a time in one transaction: a call the ledger refuses in a later batch leaves none recorded", async () => {
      const dir = tempDir();
      const solo = path.join(dir, "solo.jsonl");
      fs.writeFileSync(solo, '{"text": "cheap pills", "id": "solo-1", "fee": "1"}\n');
      expect(spawnSync(process.execPath, [BIN, "infer", FILE, "--model", "model", "--from", solo, "--epoch", "e9"], { encoding: "utf8", env: env() }).status).toBe(0);
      const lines = Array.from({ length: 11 }, (_, i) => JSON.stringify({ text: `batch call ${i % 3 ? "notes" : "jackpot"} ${i}`, ...(i === 1 || i === 8 ? { id: "batch-dup", text: "same message" } : {}) }));
      const file = path.join(dir, "calls.jsonl");
      // Line 10 names solo-1 with another fee: the file alone cannot tell, the ledger refuses it in the third batch of 4.
      fs.writeFileSync(file, [...lines.slice(0, 9), '{"text": "cheap pills", "id": "solo-1", "fee": "2"}', ...lines.slice(9)].join("\n") + "\n");
      const before = await count();
      const refused = spawnSync(process.execPath, [BIN, "infer", FILE, "--model", "model", "--from", file, "--batch", "4", "--epoch", "e9", "--json"], { encoding: "utf8", env: env() });
      expect([refused.status, refused.stdout]).toEqual([2, ""]);
      expect(refused.stderr).toBe("tracebook: inference solo-1 is already recorded with a different fee; an inference id names one execution\n");
      expect(await count()).toBe(before);
      // Without it: 11 calls in batches of 4, the id repeated across batches recorded once, every call printed as one JSON array.
      fs.writeFileSync(file, lines.join("\n") + "\n");
      const run = spawnSync(process.execPath, [BIN, "infer", FILE, "--model", "model", "--from", file, "--batch", "4", "--epoch", "e9", "--json"], { encoding: "utf8", env: env() });
      expect(run.status, run.stderr).toBe(0);
      const executed = JSON.parse(run.stdout) as { id: string; label: string; probabilities: number[]; recorded: boolean }[];
      expect(executed.map((e) => [e.id === "batch-dup", e.recorded])).toEqual(lines.map((_, i) => [i === 1 || i === 8, i !== 8]));
      expect(run.stdout).toBe(`${JSON.stringify(executed, null, 2)}\n`); // as toJson prints an array
      expect(await count()).toBe(before + 10);
      expect(spawnSync(process.execPath, [BIN, "infer", FILE, "--model", "model", "--from", file, "--batch", "0"], { encoding: "utf8", env: env() }).status).toBe(2);
    }, 60_000);

    it("refuses a file with a bad line before anything runs, and reads standard input", async () => {
      const file = path.join(tempDir(), "calls.jsonl");
      fs.writeFileSync(file, '{"text": "casino"}\n{"text": "notes", "fee": "0.1.2"}\n');
      const before = await count();
      const bad = spawnSync(process.execPath, [BIN, "infer", FILE, "--model", "model", "--from", file], { encoding: "utf8", env: env() });
      expect([bad.status, bad.stderr]).toEqual([2, `tracebook: ${file}, row 2, field "fee": invalid amount "0.1.2": expected plain decimal notation such as "0.002"\n`]);
      const both = spawnSync(process.execPath, [BIN, "infer", FILE, "--model", "model", "--from", file, "casino"], { encoding: "utf8", env: env() });
      expect([both.status, both.stderr]).toEqual([2, "tracebook: give inputs or --from a file of calls, not both\n"]);
      expect(await count()).toBe(before);
      const piped = spawnSync(process.execPath, [BIN, "infer", FILE, "--model", "model", "--from", "-", "--epoch", "e8"], { encoding: "utf8", env: env(), input: '{"text": "casino jackpot", "id": "piped-1"}\n' });
      expect(piped.status, piped.stderr).toBe(0);
      expect(piped.stdout).toMatch(/^1 call: 1 recorded, 0 already in the ledger/m);
      expect(await count("id = 'piped-1' and epoch = 'e8'")).toBe(1);
      // A bad line on standard input is named there, not in the file it was spooled to.
      const pipedBad = spawnSync(process.execPath, [BIN, "infer", FILE, "--model", "model", "--from", "-"], { encoding: "utf8", env: env(), input: '{"text": "casino"}\n{"txt": "x"}\n' });
      expect([pipedBad.status, pipedBad.stderr]).toEqual([2, 'tracebook: standard input, row 2, field "txt": unknown field (a call has text, title, features, id, caller, fee, epoch)\n']);
    }, 60_000);
  });
});

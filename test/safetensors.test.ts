import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { decodeSafetensors, encodeSafetensors, readSafetensors, writeSafetensors, type SafeTensor } from "../cells/factory/safetensors.ts";
import { tempDir } from "./helpers/workspace.ts";

/** The reference implementation, when this machine has it (CI may not). */
const HAS_PYTHON_SAFETENSORS = spawnSync("python3", ["-c", "import safetensors.numpy, numpy"], { encoding: "utf8" }).status === 0;

function python(script: string): string {
  const r = spawnSync("python3", ["-c", script], { encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr}`);
  return r.stdout;
}

function sample(): Record<string, SafeTensor> {
  return {
    "layer.kernel": { dtype: "F32", shape: [2, 3], data: Float32Array.from([1.5, -2, 3.25, 0, 1e-30, -7]) },
    "layer.bias": { dtype: "F64", shape: [3], data: Float64Array.from([Math.PI, -0, 1e300]) },
    counts: { dtype: "I32", shape: [2, 1, 2], data: Int32Array.from([1, -2, 2147483647, -2147483648]) },
    steps: { dtype: "I64", shape: [2], data: BigInt64Array.from([9007199254740993n, -5n]) },
    scale: { dtype: "F32", shape: [], data: Float32Array.from([0.5]) },
    empty: { dtype: "F64", shape: [0, 4], data: new Float64Array(0) },
  };
}

/** Build a file by hand from a header object and a buffer, to feed the reader corrupt input. */
function rawFile(header: unknown, buffer: Uint8Array, headerLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + buffer.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(buffer, 8 + json.length);
  return out;
}

describe("safetensors", () => {
  it("round-trips every dtype, a scalar and an empty tensor, with metadata", () => {
    const tensors = sample();
    const bytes = encodeSafetensors(tensors, { producer: "tracebook", step: "7" });
    const back = decodeSafetensors(bytes);
    expect(back.metadata).toEqual({ producer: "tracebook", step: "7" });
    expect(Object.keys(back.tensors).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const got = back.tensors[name]!;
      expect(got.dtype, name).toBe(t.dtype);
      expect(got.shape, name).toEqual(t.shape);
      expect(got.data.constructor, name).toBe(t.data.constructor);
      expect(Array.from(got.data as ArrayLike<number | bigint>), name).toEqual(Array.from(t.data as ArrayLike<number | bigint>));
    }
    expect(Object.is(back.tensors["layer.bias"]!.data[1], -0)).toBe(true);
  });

  it("writes exactly the bytes of the spec for a tiny file", () => {
    const bytes = encodeSafetensors({ x: { dtype: "F32", shape: [2], data: Float32Array.from([1, 2]) } });
    // 54 bytes of JSON; 8 + 54 = 62, so two spaces pad the data start to offset 64.
    const json = '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  ';
    expect(json.length).toBe(56);
    const expected = [
      56, 0, 0, 0, 0, 0, 0, 0,
      ...Array.from(json, (ch) => ch.charCodeAt(0)),
      0x00, 0x00, 0x80, 0x3f, // 1.0f little-endian
      0x00, 0x00, 0x00, 0x40, // 2.0f little-endian
    ];
    expect(Array.from(bytes)).toEqual(expected);
  });

  it("is deterministic: key order does not change the bytes", () => {
    const a = sample();
    const b = Object.fromEntries(Object.entries(a).reverse());
    const ea = encodeSafetensors(a, { b: "2", a: "1" });
    const eb = encodeSafetensors(b, { a: "1", b: "2" });
    expect(Buffer.from(ea).equals(Buffer.from(eb))).toBe(true);
    expect((8 + Number(new DataView(ea.buffer).getBigUint64(0, true))) % 8).toBe(0);
  });

  it("decodes into aligned copies even when the data sits at odd offsets", () => {
    // An unpadded header (odd length) and the file itself at an odd address: a view would be misaligned.
    const f = Float32Array.from([3, 4]);
    const buf = new Uint8Array(new Float32Array([0, 3, 4]).buffer).subarray(0, 12);
    const bytes = rawFile({ a: { dtype: "I32", shape: [1], data_offsets: [0, 4] }, b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, buf);
    const shifted = new Uint8Array(bytes.length + 1).subarray(1); // the whole file at an odd address
    shifted.set(bytes);
    const back = decodeSafetensors(shifted);
    expect(Array.from(back.tensors.b!.data as Float32Array)).toEqual(Array.from(f));
    expect(back.tensors.b!.data.byteOffset).toBe(0);
    expect(back.tensors.b!.data.buffer).not.toBe(shifted.buffer);
  });

  it("rejects corrupt files, naming the tensor and the file", async () => {
    const dir = tempDir("tb-st-");
    const good = encodeSafetensors({ a: { dtype: "F32", shape: [2], data: Float32Array.from([1, 2]) }, b: { dtype: "I32", shape: [1], data: Int32Array.from([3]) } });

    const truncated = path.join(dir, "truncated.safetensors");
    fs.writeFileSync(truncated, good.subarray(0, good.length - 2));
    await expect(readSafetensors(truncated)).rejects.toThrow(/truncated\.safetensors: .*tensor "b": data_offsets \[8, 12\] run past the 10-byte data buffer/);

    const huge = good.slice();
    new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
    expect(() => decodeSafetensors(huge, "huge.st")).toThrow(/huge\.st: header length 1099511627776 is larger than/);
    const past = good.slice();
    new DataView(past.buffer).setBigUint64(0, 500n, true);
    expect(() => decodeSafetensors(past, "past.st")).toThrow(/past\.st: header length 500 runs past the end of the file/);
    expect(() => decodeSafetensors(new Uint8Array(5), "tiny.st")).toThrow(/tiny\.st: .*too short/);
    expect(() => decodeSafetensors(rawFile({}, new Uint8Array(0), 1n), "json.st")).toThrow(/json\.st: header is not valid UTF-8 JSON/);

    const data = new Uint8Array(12);
    const cases: Array<[unknown, RegExp]> = [
      [{ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "I32", shape: [1], data_offsets: [4, 8] } }, /tensor "b": data_offsets \[4, 8\] overlap the previous tensor, which ends at 8/],
      [{ a: { dtype: "F32", shape: [2], data_offsets: [4, 12] }, b: { dtype: "I32", shape: [0], data_offsets: [0, 0] } }, /tensor "a": data_offsets \[4, 12\] leave a hole: bytes 0\.\.4/],
      [{ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] }, b: { dtype: "I32", shape: [1], data_offsets: [8, 12] } }, /tensor "a": data_offsets \[0, 8\] span 8 bytes but F32 \[3\] needs 12/],
      [{ a: { dtype: "BF16", shape: [2], data_offsets: [0, 4] } }, /tensor "a": unsupported dtype "BF16"/],
      [{ a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, /tensor "a": shape \[-1\] must hold non-negative integers/],
      [{ a: { dtype: "F32", shape: [1], data_offsets: [4, 0] } }, /tensor "a": data_offsets \[4, 0\] end before they begin/],
      [{ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, /the data buffer has 12 bytes but the tensors cover only 8/],
      [{ __metadata__: { n: 1 }, a: { dtype: "F32", shape: [3], data_offsets: [0, 12] } }, /__metadata__\.n must be a string/],
    ];
    for (const [header, message] of cases) {
      expect(() => decodeSafetensors(rawFile(header, data), "bad.st"), JSON.stringify(header)).toThrow(message);
    }
  });

  it("refuses to encode data that does not match its dtype or shape", () => {
    expect(() => encodeSafetensors({ w: { dtype: "F32", shape: [3], data: Float32Array.from([1, 2]) } })).toThrow(/tensor "w": shape \[3\] holds 3 values but data has 2/);
    expect(() => encodeSafetensors({ w: { dtype: "F64", shape: [1], data: Float32Array.from([1]) } })).toThrow(/tensor "w": dtype F64 needs a Float64Array/);
  });

  it("writes atomically and reads back from a file", async () => {
    const dir = tempDir("tb-st-");
    const file = path.join(dir, "nested", "model.safetensors");
    await writeSafetensors(file, sample(), { kind: "test" });
    expect(fs.readdirSync(path.dirname(file))).toEqual(["model.safetensors"]);
    const back = await readSafetensors(file);
    expect(back.metadata).toEqual({ kind: "test" });
    expect(Array.from(back.tensors.steps!.data as BigInt64Array)).toEqual([9007199254740993n, -5n]);
  });

  it.skipIf(!HAS_PYTHON_SAFETENSORS)("is read by python safetensors.numpy.load_file", async () => {
    const file = path.join(tempDir("tb-st-"), "ours.safetensors");
    await writeSafetensors(file, sample(), { producer: "tracebook" });
    const out = python(`
import json, sys
from safetensors.numpy import load_file
from safetensors import safe_open
t = load_file(${JSON.stringify(file)})
with safe_open(${JSON.stringify(file)}, framework="np") as f: meta = f.metadata()
print(json.dumps({"meta": meta, "tensors": {k: {"dtype": str(v.dtype), "shape": list(v.shape), "values": [str(x) for x in v.reshape(-1).tolist()]} for k, v in t.items()}}))
`);
    const got = JSON.parse(out) as { meta: Record<string, string>; tensors: Record<string, { dtype: string; shape: number[]; values: string[] }> };
    expect(got.meta).toEqual({ producer: "tracebook" });
    const numpyDtype = { F32: "float32", F64: "float64", I32: "int32", I64: "int64" };
    for (const [name, t] of Object.entries(sample())) {
      const g = got.tensors[name]!;
      expect(g.dtype, name).toBe(numpyDtype[t.dtype]);
      expect(g.shape, name).toEqual(t.shape);
      // Compare through float64/bigint parses of Python's repr, which is exact for these values.
      const ours = Array.from(t.data as ArrayLike<number | bigint>);
      const theirs = g.values.map((v, i) => (typeof ours[i] === "bigint" ? BigInt(v) : Number(v)));
      expect(theirs, name).toEqual(ours);
    }
  });

  it.skipIf(!HAS_PYTHON_SAFETENSORS)("reads a file written by python safetensors.numpy.save_file", async () => {
    const file = path.join(tempDir("tb-st-"), "theirs.safetensors");
    python(`
import numpy as np
from safetensors.numpy import save_file
save_file({
  "w": np.arange(12, dtype=np.float32).reshape(3, 4) / 8,
  "b": np.array([1.5, -2.25], dtype=np.float64),
  "i": np.array([[1, -2], [3, 2**31 - 1]], dtype=np.int32),
  "big": np.array([2**53 + 1, -(2**62)], dtype=np.int64),
  "s": np.array(3.5, dtype=np.float32),
}, ${JSON.stringify(file)}, metadata={"format": "np"})
`);
    const back = await readSafetensors(file);
    expect(back.metadata).toEqual({ format: "np" });
    const { w, b, i, big, s } = back.tensors;
    expect(w!.shape).toEqual([3, 4]);
    expect(Array.from(w!.data as Float32Array)).toEqual(Array.from({ length: 12 }, (_, k) => k / 8));
    expect(Array.from(b!.data as Float64Array)).toEqual([1.5, -2.25]);
    expect(i!.shape).toEqual([2, 2]);
    expect(Array.from(i!.data as Int32Array)).toEqual([1, -2, 3, 2147483647]);
    expect(Array.from(big!.data as BigInt64Array)).toEqual([2n ** 53n + 1n, -(2n ** 62n)]);
    expect(s!.shape).toEqual([]);
    expect(Array.from(s!.data as Float32Array)).toEqual([3.5]);
  });

  it.skipIf(!HAS_PYTHON_SAFETENSORS)("writes the same bytes as the reference writer (single dtype, metadata)", () => {
    // The reference orders tensors by dtype, then name; with one dtype that is name order, as here.
    const hex = python(`
import numpy as np
from safetensors.numpy import save
print(save({"b": np.array([1, 2], dtype=np.float32), "a": np.array([[3]], dtype=np.float32)}, metadata={"k": "v"}).hex())
`).trim();
    const ours = encodeSafetensors({ b: { dtype: "F32", shape: [2], data: Float32Array.from([1, 2]) }, a: { dtype: "F32", shape: [1, 1], data: Float32Array.from([3]) } }, { k: "v" });
    expect(Buffer.from(ours).toString("hex")).toBe(hex);
  });
});

import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { EXTERNAL_MLP_FORMAT, parseExternalMlp, readExternalMlp } from "../cells/factory/external.ts";
import { tempDir } from "./helpers/workspace.ts";

/** A layer whose weights encode their position, so layout mistakes show: w[i][j] = base + i + j / 10. */
function layer(inputs: number, outputs: number, base: number) {
  return {
    kernel: Array.from({ length: inputs }, (_, i) => Array.from({ length: outputs }, (_, j) => base + i + j / 10)),
    bias: Array.from({ length: outputs }, (_, j) => -base - j),
  };
}

/** A valid 3-layer model (4 → 3 → 5 → 2) with two checkpoints. */
function model(): any {
  return {
    format: EXTERNAL_MLP_FORMAT,
    classes: ["ham", "spam"],
    input: { kind: "features", size: 4 },
    checkpoints: [
      { step: 100, learning_rate: 0.01, layers: [layer(4, 3, 1), layer(3, 5, 2), layer(5, 2, 3)] },
      { step: 200, learning_rate: 0.005, layers: [layer(4, 3, 10), layer(3, 5, 20), layer(5, 2, 30)] },
    ],
  };
}

/** Parse a mutated copy of the valid model and return the error message. */
function errorOf(mutate: (m: any) => void): string {
  const m = model();
  mutate(m);
  try {
    parseExternalMlp(m, "model.json");
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("expected the model to be rejected");
}

describe("external MLP import", () => {
  it("keeps shapes, learning rates, steps and float32 values in row-major [in][out] order", () => {
    const mlp = parseExternalMlp(model(), "model.json");
    expect(mlp.classes).toEqual(["ham", "spam"]);
    expect(mlp.inputSize).toBe(4);
    expect(mlp.checkpoints.map((c) => [c.step, c.learningRate])).toEqual([[100, 0.01], [200, 0.005]]);
    for (const [c, base] of [[0, 1], [1, 10]] as const) {
      const layers = mlp.checkpoints[c]!.layers;
      expect(layers.map((l) => [l.inputs, l.outputs])).toEqual([[4, 3], [3, 5], [5, 2]]);
      const first = layers[0]!; // non-square 4 × 3
      expect(first.kernel).toBeInstanceOf(Float32Array);
      expect(first.kernel.length).toBe(12);
      for (let i = 0; i < 4; i++) {
        for (let j = 0; j < 3; j++) expect(first.kernel[i * 3 + j], `[${i}][${j}]`).toBe(Math.fround(base + i + j / 10));
      }
      expect(Array.from(first.bias)).toEqual([-base, -base - 1, -base - 2]);
    }
    // 0.1 is not a float32: the stored value is its float32 rounding.
    expect(mlp.checkpoints[0]!.layers[0]!.kernel[1]).toBe(Math.fround(1.1));
    expect(mlp.checkpoints[0]!.layers[0]!.kernel[1]).not.toBe(1.1);
  });

  it("defaults classes to 0..C-1 and infers the input size; step is optional", () => {
    const m = model();
    delete m.classes;
    delete m.input;
    delete m.checkpoints[0].step;
    const mlp = parseExternalMlp(m, "model.json");
    expect(mlp.classes).toEqual(["0", "1"]);
    expect(mlp.inputSize).toBe(4);
    expect(mlp.checkpoints[0]!.step).toBeNull();
    expect(mlp.checkpoints[1]!.step).toBe(200);
  });

  it("reads a file, and names the file when its JSON does not parse", async () => {
    const dir = tempDir("tb-ext-");
    const good = path.join(dir, "good.json");
    fs.writeFileSync(good, JSON.stringify(model()));
    expect((await readExternalMlp(good)).checkpoints).toHaveLength(2);
    const bad = path.join(dir, "bad.json");
    fs.writeFileSync(bad, '{"format": ');
    await expect(readExternalMlp(bad)).rejects.toThrow(new RegExp(`^${bad.replace(/[.\\/]/g, "\\$&")}: not valid JSON`));
    const wrong = path.join(dir, "wrong.json");
    fs.writeFileSync(wrong, JSON.stringify({ ...model(), checkpoints: [] }));
    await expect(readExternalMlp(wrong)).rejects.toThrow(/wrong\.json: checkpoints is empty/);
  });

  it("rejects a missing or unknown format", () => {
    expect(errorOf((m) => delete m.format)).toBe(`model.json: format is missing; expected "${EXTERNAL_MLP_FORMAT}"`);
    expect(errorOf((m) => (m.format = "keras/2"))).toBe(`model.json: format is "keras/2"; only "${EXTERNAL_MLP_FORMAT}" is supported`);
    expect(() => parseExternalMlp([1, 2], "model.json")).toThrow(/^model\.json: expected a JSON object/);
  });

  it("rejects empty checkpoints and empty layers", () => {
    expect(errorOf((m) => (m.checkpoints = []))).toBe("model.json: checkpoints is empty; at least one checkpoint is needed");
    expect(errorOf((m) => delete m.checkpoints)).toBe("model.json: checkpoints must be an array, got nothing");
    expect(errorOf((m) => (m.checkpoints[0].layers = []))).toBe("model.json: checkpoints[0].layers is empty; at least one layer is needed");
  });

  it("rejects a learning rate that is not a positive finite number", () => {
    expect(errorOf((m) => (m.checkpoints[1].learning_rate = 0))).toBe("model.json: checkpoints[1].learning_rate must be a positive finite number, got 0");
    expect(errorOf((m) => (m.checkpoints[0].learning_rate = -0.1))).toMatch(/^model\.json: checkpoints\[0\]\.learning_rate .* got -0\.1$/);
    expect(errorOf((m) => (m.checkpoints[0].learning_rate = "0.01"))).toMatch(/^model\.json: checkpoints\[0\]\.learning_rate .* got "0\.01"$/);
    expect(errorOf((m) => delete m.checkpoints[0].learning_rate)).toMatch(/^model\.json: checkpoints\[0\]\.learning_rate .* got nothing$/);
    expect(errorOf((m) => (m.checkpoints[0].learning_rate = 1e999))).toMatch(/^model\.json: checkpoints\[0\]\.learning_rate .* got Infinity$/);
  });

  it("rejects layer shapes that do not chain", () => {
    expect(errorOf((m) => m.checkpoints[0].layers[1].kernel.pop())).toBe("model.json: checkpoints[0].layers[1].kernel has 2 rows, expected 3 (the outputs of layers[0])");
    expect(errorOf((m) => m.checkpoints[0].layers[0].bias.pop())).toBe("model.json: checkpoints[0].layers[0].bias has 2 values, expected 3 (the outputs of its kernel)");
    expect(errorOf((m) => m.checkpoints[0].layers[0].kernel[3].pop())).toBe("model.json: checkpoints[0].layers[0].kernel[3] has 2 values, expected 3 (as in checkpoints[0].layers[0].kernel[0])");
    expect(errorOf((m) => (m.input.size = 5))).toBe("model.json: checkpoints[0].layers[0].kernel has 4 rows, expected 5 (input.size)");
  });

  it("rejects shapes that differ between checkpoints", () => {
    expect(errorOf((m) => m.checkpoints[1].layers[0].kernel[3].pop())).toBe("model.json: checkpoints[1].layers[0].kernel[3] has 2 values, expected 3 (as in checkpoints[0])");
    expect(errorOf((m) => m.checkpoints[1].layers[2].kernel.push([1, 2]))).toBe("model.json: checkpoints[1].layers[2].kernel has 6 rows, expected 5 (as in checkpoints[0])");
    expect(errorOf((m) => m.checkpoints[1].layers.pop())).toBe("model.json: checkpoints[1].layers has 2 layers, expected 3 (as in checkpoints[0])");
  });

  it("rejects numbers that are not finite float32 values", () => {
    expect(errorOf((m) => (m.checkpoints[1].layers[2].kernel[4][1] = null))).toBe("model.json: checkpoints[1].layers[2].kernel[4][1] is not a finite number: null");
    expect(errorOf((m) => (m.checkpoints[0].layers[0].bias[2] = "1"))).toBe('model.json: checkpoints[0].layers[0].bias[2] is not a finite number: "1"');
    // JSON.parse turns 1e999 into Infinity; 1e39 is a finite double but overflows float32.
    expect(errorOf((m) => (m.checkpoints[0].layers[1].kernel[0][0] = JSON.parse("1e999")))).toBe("model.json: checkpoints[0].layers[1].kernel[0][0] is not a finite number: Infinity");
    expect(errorOf((m) => (m.checkpoints[0].layers[1].bias[0] = 1e39))).toBe("model.json: checkpoints[0].layers[1].bias[0] = 1e+39 is outside the float32 range");
  });

  it("rejects classes that do not match the last layer or repeat", () => {
    expect(errorOf((m) => m.classes.push("eggs"))).toBe("model.json: classes has 3 entries, expected 2 (the outputs of the last layer)");
    expect(errorOf((m) => (m.classes = ["ham", "ham"]))).toBe('model.json: classes[1] "ham" duplicates classes[0]');
    expect(errorOf((m) => (m.classes = ["ham", 1]))).toBe("model.json: classes[1] must be a non-empty string, got 1");
  });

  it("rejects steps that are not non-decreasing integers >= 0", () => {
    expect(errorOf((m) => (m.checkpoints[1].step = 50))).toBe("model.json: checkpoints[1].step is 50, less than checkpoints[0].step 100; steps must not decrease");
    expect(errorOf((m) => (m.checkpoints[0].step = 1.5))).toBe("model.json: checkpoints[0].step must be an integer >= 0, got 1.5");
    expect(errorOf((m) => (m.checkpoints[0].step = -1))).toBe("model.json: checkpoints[0].step must be an integer >= 0, got -1");
    // Equal steps are allowed (non-decreasing), e.g. two snapshots taken at the same step.
    expect(() => parseExternalMlp({ ...model(), checkpoints: model().checkpoints.map((c: any) => ({ ...c, step: 7 })) }, "model.json")).not.toThrow();
  });
});

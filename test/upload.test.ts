import { describe, expect, it } from "vitest";
import { keptBuffer, type GpuBuffer, type WebgpuBackend } from "../cells/compute/upload.ts";

// hostTensor's kept buffers (its GPU path runs in webgpu.test.ts on a software adapter): one per
// byte size, reused, and the least recently used destroyed past 16 buffers or 256 MiB.
function fakeDevice() {
  const made: (GpuBuffer & { destroyed: boolean })[] = [];
  const device: WebgpuBackend["device"] = {
    createBuffer: ({ size }) => {
      const b = { size, destroyed: false, destroy() { b.destroyed = true; } };
      made.push(b);
      return b;
    },
    queue: { writeBuffer() {} },
  };
  return { device, made };
}

describe("kept upload buffers", () => {
  it("reuses the buffer of a size and makes one per new size", () => {
    const { device, made } = fakeDevice();
    const a = keptBuffer(device, 1024), b = keptBuffer(device, 2048);
    expect(keptBuffer(device, 1024)).toBe(a);
    expect(keptBuffer(device, 2048)).toBe(b);
    expect(made.map((m) => m.size)).toEqual([1024, 2048]);
  });

  it("destroys the least recently used past 16 buffers", () => {
    const { device, made } = fakeDevice();
    for (let i = 1; i <= 16; i++) keptBuffer(device, 4 * i);
    keptBuffer(device, 4); // the first, used again: now the most recent
    keptBuffer(device, 4 * 17);
    expect(made.filter((m) => m.destroyed).map((m) => m.size)).toEqual([8]);
    expect(keptBuffer(device, 4)).toBe(made[0]);
  });

  it("keeps at most 256 MiB, however few the buffers", () => {
    const { device, made } = fakeDevice();
    const MiB = 2 ** 20;
    keptBuffer(device, 100 * MiB);
    keptBuffer(device, 120 * MiB);
    keptBuffer(device, 64 * MiB); // 284 MiB in all: the 100 MiB one goes
    expect(made.filter((m) => m.destroyed).map((m) => m.size / MiB)).toEqual([100]);
    keptBuffer(device, 300 * MiB); // larger than the bound alone: kept, every other one goes
    expect(made.filter((m) => !m.destroyed).map((m) => m.size / MiB)).toEqual([300]);
  });
});

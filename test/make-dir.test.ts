import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeDir } from "../cells/store/make-dir.ts";
import { tempDir } from "./helpers/workspace.ts";

describe("makeDir", () => {
  it("makes a folder and its missing parents, and leaves an existing one be", () => {
    const root = tempDir();
    const deep = path.join(root, "a", "b", "c");
    makeDir(deep);
    expect(fs.statSync(deep).isDirectory()).toBe(true);
    makeDir(deep);
    makeDir(path.join(root, "a", "..", "a", "b"));
    expect(fs.readdirSync(path.join(root, "a"))).toEqual(["b"]);
  });

  it("fails at once, naming the folder, where the file system refuses it (Node's recursive mkdir spins on /proc)", () => {
    expect(() => makeDir("/proc/tracebook-x/y")).toThrow("cannot make folder /proc/tracebook-x (for /proc/tracebook-x/y): no such file or directory (ENOENT)");
    const root = tempDir();
    fs.writeFileSync(path.join(root, "f"), "");
    expect(() => makeDir(path.join(root, "f", "g"))).toThrow(`cannot make folder ${path.join(root, "f", "g")}: ${path.join(root, "f")} is not a folder`);
  });
});

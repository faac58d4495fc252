// Pack the GPU benchmark for a Linux x86-64 machine with an NVIDIA GPU and no package registry:
// one .tar.xz (under 60 MB) holding the Node binary, npm, the benchmark built into one module,
// its case file, the linux-x64 parts of the packages it loads at run time, and the Vulkan loader
// from Debian's libvulkan1 (with glvnd's GL dispatch libraries, which NVIDIA's Vulkan driver needs).
// On the GPU machine: tar xJf tracebook-gpu-bench.tar.xz && tracebook-gpu-bench/run.sh
// (README, "Benchmarking on an NVIDIA GPU").
//
//   tsx scripts/pack-gpu-bench.ts [--out FILE]   default dist/tracebook-gpu-bench.tar.xz
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { builtinModules, createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Command } from "commander";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(path.join(root, "package.json"));
const LIMIT = 60e6;
const NAME = "tracebook-gpu-bench";

/**
 * The packages the built benchmark loads at run time, read off the bundle: what it leaves
 * external (`--packages=external`: imports, dynamic imports) and what its modules require by
 * name on first use through createRequire (TF.js and its backends, onnx-proto). Their own
 * dependencies follow from their package.json files.
 */
export function packagesOf(bundle: string): string[] {
  const specs = [...bundle.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\d*\s*\(\s*|\)\s*\(\s*)["']([^"'./][^"']*)["']/g)].map((m) => m[1]!);
  const names = specs.filter((s) => !s.startsWith("node:") && !builtinModules.includes(s.split("/")[0]!)).map((s) => s.split("/").slice(0, s.startsWith("@") ? 2 : 1).join("/"));
  return [...new Set(names)].sort();
}

/** Per package, the files of other platforms (and what only a build or a browser reads), left out. */
const PLATFORM_ONLY: Record<string, (rel: string) => boolean> = {
  webgpu: (rel) => !rel.startsWith("dist/") || rel.startsWith("dist/linux-x64/"),
  "onnxruntime-node": (rel) => !rel.startsWith("bin/") || rel.startsWith("bin/napi-v6/linux/x64/"),
};
/** Left out of every package: source maps, type declarations, minified browser bundles, docs. */
const NEVER = /(\.map|\.d\.ts|\.min\.js|\.md|\.es2017\.js|\.fesm\.js|\.esm\.js|\/src\/.*\.ts)$/;

function closure(roots: string[]): string[] {
  const seen = new Set<string>(); // package folders
  const visit = (name: string, from: string) => {
    const req = createRequire(path.join(from, "package.json"));
    let pj: string;
    try {
      pj = req.resolve(`${name}/package.json`);
    } catch {
      // A package whose exports hide package.json: find its folder on the resolution path.
      pj = req.resolve.paths(name)!.map((p) => path.join(p, name, "package.json")).find((p) => fs.existsSync(p))!;
      if (!pj) throw new Error(`${name} (needed by ${from}) is not installed: run npm ci first`);
    }
    const dir = path.dirname(pj);
    if (seen.has(dir)) return;
    seen.add(dir);
    const meta = JSON.parse(fs.readFileSync(pj, "utf8")) as { dependencies?: Record<string, string> };
    for (const dep of Object.keys(meta.dependencies ?? {})) visit(dep, dir);
  };
  for (const name of roots) visit(name, root);
  return [...seen].sort();
}

function copyPackage(dir: string, dest: string) {
  const name = path.relative(path.join(root, "node_modules"), dir).split(path.sep).filter((p) => p !== "node_modules").slice(-2).join("/");
  const keep = PLATFORM_ONLY[name.startsWith("@") ? name : name.split("/").at(-1)!] ?? (() => true);
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.name === "node_modules") continue; // nested copies are packages of their own in the closure
      if (entry.isDirectory()) walk(r);
      else if (entry.isFile() && keep(r) && (!NEVER.test(`/${r}`) || r === "package.json")) {
        fs.mkdirSync(path.dirname(path.join(dest, r)), { recursive: true });
        fs.copyFileSync(path.join(dir, r), path.join(dest, r));
      }
    }
  };
  walk("");
}

/** Debian's package, downloaded once into bench/cases/debs and unpacked into `into`. */
function unpackDeb(pkg: string, into: string) {
  const cache = path.join(root, "bench", "cases", "debs");
  fs.mkdirSync(cache, { recursive: true });
  let deb = fs.readdirSync(cache).find((f) => f.startsWith(`${pkg}_`) && f.endsWith("_amd64.deb"));
  if (!deb) {
    execFileSync("apt-get", ["download", `${pkg}:amd64`], { cwd: cache, stdio: "inherit" });
    deb = fs.readdirSync(cache).find((f) => f.startsWith(`${pkg}_`) && f.endsWith("_amd64.deb"));
    if (!deb) throw new Error(`apt-get download ${pkg} wrote no .deb into ${cache}`);
  }
  execFileSync("dpkg-deb", ["-x", path.join(cache, deb), into]);
  return deb;
}

/** Debian's packages whose libraries travel: the Vulkan loader and glvnd's dispatch libraries. */
const DEBS = ["libvulkan1", "libglvnd0", "libglx0", "libegl1", "libgl1", "libopengl0", "libgles2"];

const RUN_SH = `#!/bin/sh
# Run the GPU benchmark on this machine: NVIDIA's Vulkan driver through the packed Vulkan loader
# and GL dispatch libraries (the driver's ICD, libGLX_nvidia, links against them). The driver's
# own libraries are found where the machine's linker cache has them.
# Results: app/bench/results/gpu-<gpu>.json, copied to $RESULTS_DIR when it is set.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
NV=\${NVIDIA_DIR:-/usr/local/nvidia}
export LD_LIBRARY_PATH="$HERE/vulkan/lib\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ -z "\${VK_DRIVER_FILES:-}\${VK_ICD_FILENAMES:-}" ]; then
  for f in "$NV/share/vulkan/icd.d/nvidia_icd.json" /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$f" ]; then export VK_DRIVER_FILES="$f"; break; fi
  done
fi
echo "node $("$HERE/bin/node" --version); VK_DRIVER_FILES=\${VK_DRIVER_FILES:-(none found)}"
export PATH="$HERE/bin:$PATH"
cd "$HERE/app"
status=0
npm run "\${1:-bench}" || status=$?
if [ -n "\${RESULTS_DIR:-}" ]; then mkdir -p "$RESULTS_DIR" && cp bench/results/*.json "$RESULTS_DIR"/ 2>/dev/null || true; fi
exit $status
`;

async function main() {
  const opts = new Command("pack-gpu-bench").option("--out <file>", "the archive to write", path.join(root, "dist", `${NAME}.tar.xz`)).parse().opts<{ out: string }>();
  if (process.platform !== "linux" || process.arch !== "x64") throw new Error(`packs the linux-x64 parts: run it on a linux x64 machine (this is ${process.platform}-${process.arch})`);
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), "tb-pack-gpu-"));
  const top = path.join(stage, NAME);
  try {
    // The case file, built here on the CPU backend (the GPU machine has no corpus or DuckDB).
    execFileSync(process.execPath, [require.resolve("tsx/cli"), "bench/gpu-case-build.ts"], { cwd: root, stdio: "inherit" });
    const app = path.join(top, "app");
    fs.mkdirSync(path.join(app, "bench", "cases"), { recursive: true });
    fs.mkdirSync(path.join(app, "bench", "results"), { recursive: true });
    execFileSync(path.join(root, "node_modules", ".bin", "esbuild"), [
      "bench/gpu.ts", "--bundle", "--platform=node", "--format=esm", "--target=node20", "--packages=external",
      `--outfile=${path.join(app, "bench", "gpu.mjs")}`, "--log-level=warning",
    ], { cwd: root, stdio: "inherit" });
    fs.copyFileSync(path.join(root, "bench", "cases", "tracin-gpu.safetensors"), path.join(app, "bench", "cases", "tracin-gpu.safetensors"));
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { version: string };
    fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({
      name: "tracebook-gpu-bench", version: pkg.version, private: true, type: "module",
      scripts: { bench: "node bench/gpu.mjs", "bench:gpu": "node bench/gpu.mjs" },
    }, null, 2) + "\n");
    const roots = packagesOf(fs.readFileSync(path.join(app, "bench", "gpu.mjs"), "utf8"));
    console.log(`the bundle loads ${roots.join(", ")}`);
    const packages = closure(roots);
    for (const dir of packages) copyPackage(dir, path.join(app, path.relative(root, dir)));

    // Node and npm: the very binary running this, and the npm that came with it.
    fs.mkdirSync(path.join(top, "bin"));
    fs.copyFileSync(process.execPath, path.join(top, "bin", "node"));
    fs.chmodSync(path.join(top, "bin", "node"), 0o755);
    const npmDir = [path.join(path.dirname(process.execPath), "..", "lib", "node_modules", "npm"), "/usr/lib/node_modules/npm", "/usr/local/lib/node_modules/npm"].find((d) => fs.existsSync(path.join(d, "bin", "npm-cli.js")));
    if (!npmDir) throw new Error("npm's own folder (lib/node_modules/npm) was not found beside node");
    fs.cpSync(npmDir, path.join(top, "lib", "npm"), { recursive: true, filter: (src) => !/\/(docs|man)(\/|$)/.test(src) });
    fs.writeFileSync(path.join(top, "bin", "npm"), `#!/bin/sh\nexec "$(dirname "$0")/node" "$(dirname "$0")/../lib/npm/bin/npm-cli.js" "$@"\n`, { mode: 0o755 });

    // The Vulkan loader and the GL dispatch libraries (glvnd), unpacked from Debian's packages;
    // only their shared objects travel. Measured on an H200: with the loader and libglvnd0 alone
    // NVIDIA's ICD gave "Could not get 'vkCreateInstance'"; with these it found the GPU.
    const debRoot = path.join(stage, "deb");
    const debs = DEBS.map((p) => unpackDeb(p, debRoot));
    fs.mkdirSync(path.join(top, "vulkan", "lib"), { recursive: true });
    const libs = path.join(debRoot, "usr", "lib", "x86_64-linux-gnu");
    for (const f of fs.readdirSync(libs)) fs.cpSync(path.join(libs, f), path.join(top, "vulkan", "lib", f), { verbatimSymlinks: true });

    fs.writeFileSync(path.join(top, "run.sh"), RUN_SH, { mode: 0o755 });
    fs.writeFileSync(path.join(top, "PACKED.json"), JSON.stringify({
      node: process.version, packages: packages.map((d) => path.relative(path.join(root, "node_modules"), d)), debs, at: new Date().toISOString(),
    }, null, 2) + "\n");

    fs.mkdirSync(path.dirname(opts.out), { recursive: true });
    const tmp = `${opts.out}.tmp`;
    execFileSync("tar", ["-C", stage, "-cf", tmp, "--use-compress-program=xz -T0 -9", NAME], { stdio: "inherit" });
    const size = fs.statSync(tmp).size;
    if (size > LIMIT) {
      fs.rmSync(tmp);
      throw new Error(`the archive is ${(size / 1e6).toFixed(1)} MB, over the ${LIMIT / 1e6} MB limit`);
    }
    fs.renameSync(tmp, opts.out);
    console.log(`packed ${opts.out}: ${(size / 1e6).toFixed(1)} MB (${packages.length} packages, node ${process.version}, ${debs.join(", ")})`);
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

// Imported by a test for packagesOf: packs only when run as the script.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: Error) => {
    console.error(`pack-gpu-bench: ${err.message}`);
    process.exitCode = 1;
  });
}

#!/usr/bin/env node
// Launcher: the CLI is TypeScript, loaded through tsx so a fresh clone needs no build step.
import { register as registerTypeScript } from "tsx/esm/api";
import { register } from "node:module";

registerTypeScript();
// Registered last, so it is asked first: "tracebook" in a pipeline file is this engine.
register("./self-import.mjs", import.meta.url);
const { main } = await import("./cli.ts");
process.exitCode = await main(process.argv);

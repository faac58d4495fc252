#!/usr/bin/env node
// Launcher: the CLI is TypeScript, loaded through tsx so a fresh clone needs no build step.
import { register } from "tsx/esm/api";

register();
const { main } = await import("./cli.ts");
process.exitCode = await main(process.argv);

#!/usr/bin/env node
// The npm entry point. The TypeScript sources are compiled to dist/ by `npm run build`
// (run by `prepare` on install and before publishing).
import { requireRecentNode } from "../dist/src/cli/node-floor.js";

// Before anything else is loaded: on an older Node.js the CLI's modules fail to load at all.
requireRecentNode();
const { main, exitWhenFlushed } = await import("../dist/src/cli/main.js");

await exitWhenFlushed(await main(process.argv.slice(2)));

#!/usr/bin/env node
// The npm entry point. The CLI and every dependency it has are one bundled file,
// dist/runmat-install.cjs (`npm run build`, run by `prepare` before packing), so the package
// declares no dependencies and `npx runmat-install` fetches this package alone.
import { createRequire } from "node:module";
import { requireRecentNode } from "../dist/src/cli/node-floor.js";

// Before anything else is loaded: on an older Node.js the bundle may not even parse.
requireRecentNode();
createRequire(import.meta.url)("../dist/runmat-install.cjs");

// npm run build (after tsc) — the CLI with every dependency inside, in one file:
// dist/runmat-install.cjs. The npm package runs it (bin/runmat-install.js), so `npx
// runmat-install` fetches one package and no dependencies; the single binaries embed it.

import { fileURLToPath } from "node:url";
import { build } from "esbuild";

export const BUNDLE = fileURLToPath(new URL("../dist/runmat-install.cjs", import.meta.url));

export async function bundle(): Promise<void> {
  await build({
    entryPoints: [fileURLToPath(new URL("../src/cli/bundle-entry.ts", import.meta.url))],
    outfile: BUNDLE,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20.18",
    minify: true,
    legalComments: "none",
    banner: { js: "#!/usr/bin/env node" },
    logLevel: "warning",
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await bundle();

// npm run build (after tsc) — the CLI with every dependency inside, in one file:
// dist/runmat-install.cjs. The npm package runs it (bin/runmat-install.js), so `npx
// runmat-install` fetches one package and no dependencies; the single binaries embed it.

import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";

export const BUNDLE = fileURLToPath(new URL("../dist/runmat-install.cjs", import.meta.url));

/**
 * commander loads Node's child_process (and with it net and stream) when it loads, for
 * executable subcommands, which this CLI has none of: about 10 ms of every start, --help's
 * included. Here it loads on first use instead. A commander that no longer has the line fails
 * the build rather than silently losing this.
 */
const commanderLoadsChildProcessLazily: Plugin = {
  name: "commander-loads-child-process-lazily",
  setup(build) {
    build.onLoad({ filter: /commander[\\/]lib[\\/]command\.js$/ }, async (args) => {
      const source = await readFile(args.path, "utf8");
      const eager = "const childProcess = require('node:child_process');";
      if (!source.includes(eager)) throw new Error(`${args.path} no longer has: ${eager}`);
      const lazy =
        "const childProcess = new Proxy({}, { get: (_, name) => require('node:child_process')[name] });";
      return { contents: source.replace(eager, lazy), loader: "js" };
    });
  },
};

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
    plugins: [commanderLoadsChildProcessLazily],
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await bundle();

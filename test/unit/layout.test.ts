// The folders of src/ are the architecture (docs/ARCHITECTURE.md): this keeps imports pointing
// down, so that nothing in net/ or archive/ knows about the CLI and the relay deploys alone.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { it } from "node:test";
import { fileURLToPath } from "node:url";

const SRC = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "src");

/** The shared leaves at the top of src/: every folder may import them. */
const LEAVES = [
  "contract.ts",
  "errors.ts",
  "fs-atomic.ts",
  "options.ts",
  "sleep.ts",
  "text.ts",
  "version.ts",
];

/** Which other folders each folder may import (besides the leaves); "." is the leaves themselves. */
const MAY_IMPORT: Record<string, string[]> = {
  cli: ["install", "provenance", "release", "telemetry", "net", "archive", "paths", "platform"],
  install: ["provenance", "release", "net", "archive", "paths", "platform"],
  provenance: ["release", "net"],
  release: ["net", "archive", "platform"],
  telemetry: ["net", "platform"],
  net: [],
  archive: [],
  paths: [],
  platform: [],
  relay: [],
  // The options name a release by its tag, a pure type.
  ".": ["release/versions.ts"],
};

/** The relay runs on other platforms with nothing of the installer's but the contract. */
const RELAY_LEAVES = ["contract.ts"];

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(directory, entry.name))
      : entry.name.endsWith(".ts")
        ? [join(directory, entry.name)]
        : [],
  );
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/(?:from|import\(?)\s*"(\.{1,2}\/[^"]+)"/g)].map((match) =>
    relative(SRC, resolve(dirname(file), match[1])).replace(/\.js$/, ".ts"),
  );
}

it("src/ holds only folders and the shared leaves", () => {
  const top = readdirSync(SRC, { withFileTypes: true });
  const files = top.filter((entry) => entry.isFile()).map((entry) => entry.name);
  assert.deepEqual(files.sort(), [...LEAVES].sort());
  const folders = top.filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  assert.deepEqual(
    folders.sort(),
    Object.keys(MAY_IMPORT)
      .filter((name) => name !== ".")
      .sort(),
  );
});

it("every folder imports only the folders below it", () => {
  const wrong: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = relative(SRC, file);
    const folder = dirname(from);
    for (const target of importsOf(file)) {
      const targetFolder = dirname(target);
      if (targetFolder === folder) continue;
      const allowed =
        targetFolder === "."
          ? folder !== "relay" || RELAY_LEAVES.includes(target)
          : MAY_IMPORT[folder].includes(targetFolder) || MAY_IMPORT[folder].includes(target);
      if (!allowed) wrong.push(`${from} → ${target}`);
    }
  }
  assert.deepEqual(wrong, []);
});

it("every module says what it is for in its first line", () => {
  const silent = sourceFiles(SRC).filter((file) => !readFileSync(file, "utf8").startsWith("// "));
  assert.deepEqual(
    silent.map((file) => relative(SRC, file)),
    [],
  );
});

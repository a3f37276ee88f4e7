// The README is part of the product: these checks keep it true to the code.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ENVIRONMENT_HELP } from "../../src/cli/args.js";
import {
  type ErrorKind,
  EXIT_CODE_MEANINGS,
  EXIT_CODES,
  EXIT_UPDATE_AVAILABLE,
  PAYLOAD_KEYS,
} from "../../src/contract.js";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

function sourceFiles(directory: URL): string[] {
  return readdirSync(directory, { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".ts"))
    .map((name) => fileURLToPath(new URL(name, directory)));
}

function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `README has a "## ${title}" section`);
  const end = readme.indexOf("\n## ", start + 1);
  return readme.slice(start, end === -1 ? undefined : end);
}

describe("README", () => {
  it("starts with the one-liners", () => {
    const firstBlock = readme.slice(0, readme.indexOf("\n## "));
    for (const line of [
      "npx runmat-install",
      "curl -fsSL https://runmat.org/install.sh | sh",
      "iwr https://runmat.org/install.ps1 | iex",
    ]) {
      assert.ok(firstBlock.includes(line), line);
    }
  });

  it("gives the developer's test command", () => {
    assert.match(section("Developing"), /npm install\nnpm test/);
  });

  it("names the one command for a fresh machine, which CI runs", () => {
    assert.match(section("Developing"), /```sh\nnpm run test:fresh\n```/);
    const ci = readFileSync(new URL("../../.ci/run", import.meta.url), "utf8");
    assert.match(ci, /^npm run test:fresh$/m);
    const scripts = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).scripts;
    assert.match(scripts["test:fresh"], /npm run setup:test-machine && npm test$/);
  });

  it("lists exactly the telemetry keys the code sends", () => {
    const telemetry = section("Telemetry");
    const line = telemetry.split("\n").find((l) => l.includes("with **exactly** these keys"));
    assert.ok(line);
    const listed = [...line.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]);
    assert.deepEqual(listed, [...PAYLOAD_KEYS]);
    const example = JSON.parse(/```json\n([\s\S]*?)\n```/.exec(telemetry)![1]);
    assert.deepEqual(Object.keys(example), [...PAYLOAD_KEYS]);
  });

  it("documents every exit code with the code's own meaning", () => {
    const rows = new Map(
      section("Exit codes")
        .split("\n")
        .filter((line) => /^\|\s*\d+\s*\|/.test(line))
        .map((line) => line.split("|").map((cell) => cell.trim()))
        .map((cells) => [Number(cells[1]), cells[2]]),
    );
    for (const kind of Object.keys(EXIT_CODES) as ErrorKind[]) {
      assert.equal(rows.get(EXIT_CODES[kind]), EXIT_CODE_MEANINGS[kind], kind);
    }
    assert.ok(rows.has(EXIT_UPDATE_AVAILABLE));
    assert.equal(rows.size, Object.keys(EXIT_CODES).length + 2, "plus 0 and the update code");
    assert.deepEqual(
      [...rows.keys()],
      [...rows.keys()].sort((a, b) => a - b),
      "in order",
    );
  });

  it("documents every environment variable the code reads", () => {
    // What the code reads, found in the code itself (env.NAME and env["NAME"] in src/), plus
    // what undici reads for us (the proxy variables, listed in --help).
    const read = new Set<string>();
    for (const file of sourceFiles(new URL("../../src/", import.meta.url))) {
      for (const match of readFileSync(file, "utf8").matchAll(
        /\benv\??\.([A-Za-z_][A-Za-z0-9_]*)|\benv\[["']([A-Za-z_][A-Za-z0-9_]*)["']\]/g,
      )) {
        read.add(match[1] ?? match[2]);
      }
    }
    assert.ok(read.has("RUNMAT_NO_TELEMETRY") && read.has("GA_API_SECRET"), "the scan finds reads");
    for (const [names] of ENVIRONMENT_HELP) {
      for (const name of names.split(/,\s*/)) read.add(name.replace(/=.*/, ""));
    }
    const missing = [...read].filter((name) => !new RegExp(`\\b${name}\\b`).test(readme));
    assert.deepEqual(missing, []);
  });

  it("lists the same flags as --help", () => {
    const help = execFileSync(
      process.execPath,
      [new URL("../../bin/runmat-install.js", import.meta.url).pathname, "--help"],
      {
        encoding: "utf8",
      },
    );
    const documented = new Set(
      [
        ...section("Options")
          .split("Commands:")[0]
          .matchAll(/`(?:-\w, )?(--[a-z-]+)/g),
      ].map((m) => m[1]),
    );
    const offered = new Set([...help.matchAll(/^\s+(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]));
    offered.delete("--help");
    offered.delete("--version");
    assert.deepEqual([...documented].sort(), [...offered].sort());
  });
});

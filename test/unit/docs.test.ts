// The README and docs/ are part of the product: these checks keep them true to the code, short
// where users read them, and readable on GitHub.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ENVIRONMENT_HELP } from "../../src/cli/args.js";
import {
  type ErrorKind,
  EXIT_CODE_MEANINGS,
  EXIT_CODES,
  EXIT_UPDATE_AVAILABLE,
  METHODS,
  PAYLOAD_KEYS,
} from "../../src/contract.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const doc = (name: string) => readFileSync(join(ROOT, "docs", name), "utf8");
/** README.md and every page under docs/, by path from the root. */
const PAGES = new Map<string, string>([
  ["README.md", readme],
  ...readdirSync(join(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name): [string, string] => [`docs/${name}`, doc(name)]),
]);

function sourceFiles(directory: URL): string[] {
  return readdirSync(directory, { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".ts"))
    .map((name) => fileURLToPath(new URL(name, directory)));
}

function section(title: string, page = readme): string {
  const start = page.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `the page has a "## ${title}" section`);
  const end = page.indexOf("\n## ", start + 1);
  return page.slice(start, end === -1 ? undefined : end);
}

/** The environment variables read in these source files: env.NAME and env["NAME"]. */
function variablesRead(files: string[]): Set<string> {
  const read = new Set<string>();
  for (const file of files) {
    for (const match of readFileSync(file, "utf8").matchAll(
      /\benv\??\.([A-Za-z_][A-Za-z0-9_]*)|\benv\[["']([A-Za-z_][A-Za-z0-9_]*)["']\]/g,
    )) {
      read.add(match[1] ?? match[2]);
    }
  }
  return read;
}

const mentions = (page: string) => (name: string) => new RegExp(`\\b${name}\\b`).test(page);

describe("README", () => {
  it("is for users: at most 200 lines", () => {
    assert.ok(readme.split("\n").length <= 201, `${readme.split("\n").length} lines`);
  });

  it("answers on its first screen: install, what changed, update and uninstall, telemetry off", () => {
    const firstScreen = readme.split("\n").slice(0, 40).join("\n");
    for (const needed of [
      "npx runmat-install",
      "curl -fsSL https://runmat.org/install.sh | sh",
      "iwr https://runmat.org/install.ps1 | iex",
      "~/.local/bin",
      '. "$HOME/.runmat/env"',
      "new terminal",
      "runmat-install update",
      "uninstall",
      "install.ps1 -UseBasicParsing))) update",
      "RUNMAT_NO_TELEMETRY=1",
      "telemetry disable",
    ]) {
      assert.ok(firstScreen.includes(needed), needed);
    }
  });

  it("gives the developer's test command", () => {
    assert.match(section("For operators and contributors"), /npm install\nnpm test/);
  });

  it("names the one command for a fresh machine, which CI runs", () => {
    assert.match(section("For operators and contributors"), /```sh\nnpm run test:fresh\n```/);
    const ci = readFileSync(join(ROOT, ".ci", "run"), "utf8");
    // As root, test:fresh itself; as a sudo user, its three steps with only the tests as root.
    assert.match(ci, /^\s*npm run test:fresh$/m);
    assert.match(
      ci,
      /npm ci --no-audit --no-fund\n\s*npm run setup:test-machine\n\s*sudo -n env "PATH=\$PATH" "HOME=\$HOME" npm test/,
    );
    const scripts = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts;
    assert.match(scripts["test:fresh"], /npm run setup:test-machine && npm test$/);
  });

  for (const [page, text] of [
    ["README.md", section("Telemetry")],
    ["docs/telemetry.md", section("What is sent", doc("telemetry.md"))],
  ]) {
    it(`${page} lists exactly the telemetry keys the code sends`, () => {
      const line = text.split("\n").find((l) => l.includes("with **exactly** these keys"));
      assert.ok(line);
      const listed = [...line.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]);
      assert.deepEqual(listed, [...PAYLOAD_KEYS]);
      const example = JSON.parse(/```json\n([\s\S]*?)\n```/.exec(text)![1]);
      assert.deepEqual(Object.keys(example), [...PAYLOAD_KEYS]);
    });
  }

  it("names every telemetry method the code sends", () => {
    const methods = new Set([...section("Telemetry").matchAll(/`([a-z]+)`/g)].map((m) => m[1]));
    assert.deepEqual(
      METHODS.filter((method) => !methods.has(method)),
      [],
    );
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

  it("documents every environment variable the installer reads (or docs/telemetry.md), and docs/relay.md the relay's", () => {
    // What the code reads, found in the code itself, plus what undici reads for us (the proxy
    // variables, listed in --help).
    const all = sourceFiles(new URL("../../src/", import.meta.url));
    const relayFiles = all.filter((file) => file.includes(`${join("src", "relay")}/`));
    const installer = variablesRead(all.filter((file) => !relayFiles.includes(file)));
    const relay = variablesRead(relayFiles);
    assert.ok(installer.has("RUNMAT_NO_TELEMETRY") && relay.has("GA_API_SECRET"), "the scan finds reads");
    for (const [names] of ENVIRONMENT_HELP) {
      for (const name of names.split(/,\s*/)) installer.add(name.replace(/=.*/, ""));
    }
    // How the installer tells its own install method is telemetry's detail, documented there.
    const forUsers = `${readme}\n${doc("telemetry.md")}`;
    assert.deepEqual(
      [...installer].filter((name) => !mentions(forUsers)(name)),
      [],
    );
    assert.deepEqual(
      [...relay].filter((name) => !mentions(doc("relay.md"))(name)),
      [],
    );
  });

  it("lists the same flags as --help", () => {
    const help = execFileSync(process.execPath, [join(ROOT, "bin", "runmat-install.js"), "--help"], {
      encoding: "utf8",
    });
    const documented = new Set([...section("Options").matchAll(/`(?:-\w, )?(--[a-z-]+)/g)].map((m) => m[1]));
    const offered = new Set([...help.matchAll(/^\s+(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]));
    offered.delete("--help");
    offered.delete("--version");
    assert.deepEqual([...documented].sort(), [...offered].sort());
  });
});

describe("README and docs/", () => {
  for (const [path, text] of PAGES) {
    it(`${path}: every table renders on GitHub (a --- row, the same cells in every row)`, () => {
      const problems: string[] = [];
      const lines = text.replace(/```[\s\S]*?```/g, "").split("\n");
      for (let i = 0; i < lines.length; i++) {
        if (!lines[i].startsWith("|") || lines[i - 1]?.startsWith("|")) continue;
        const table: string[] = [];
        while (lines[i]?.startsWith("|")) table.push(lines[i++]);
        // Cells split at every "|" not escaped as "\|", code spans included (as GitHub does).
        const cells = (row: string) => row.trim().replace(/\\\|/g, "").split("|").length - 2;
        if (!/^\|(\s*:?-{3,}:?\s*\|)+$/.test(table[1] ?? "")) problems.push(`no --- row under: ${table[0]}`);
        for (const row of table) {
          if (cells(row) !== cells(table[0]))
            problems.push(`${cells(row)} cells, not ${cells(table[0])}: ${row}`);
        }
      }
      assert.deepEqual(problems, []);
    });

    it(`${path}: every relative link and #anchor points at something`, () => {
      const broken: string[] = [];
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        const [file, anchor] = target.split("#");
        const linked = file ? join(ROOT, dirname(path), file) : join(ROOT, path);
        if (!existsSync(linked)) {
          broken.push(target);
          continue;
        }
        if (anchor) {
          const headings = readFileSync(linked, "utf8")
            .split("\n")
            .filter((line) => /^#+ /.test(line))
            .map((line) =>
              line
                .replace(/^#+ /, "")
                .toLowerCase()
                .replace(/[^a-z0-9 _-]/g, "")
                .replace(/ /g, "-"),
            );
          if (!headings.includes(anchor)) broken.push(target);
        }
      }
      assert.deepEqual(broken, []);
    });
  }
});

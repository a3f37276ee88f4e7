// Static checks of what cannot run here: install.ps1 (no PowerShell on this machine) and the
// release workflow (no GitHub Actions), held against install.sh and the build script.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import Parser from "tree-sitter";
import PowerShell from "tree-sitter-powershell";
import { parse as parseYaml } from "yaml";
import { SEA_TARGETS } from "../../scripts/build-binaries.js";

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");
const ps1 = read("bootstrap/install.ps1");
const sh = read("bootstrap/install.sh");

type SyntaxNode = Parser.SyntaxNode;

function* walk(node: SyntaxNode): Generator<SyntaxNode> {
  yield node;
  for (const child of node.children) yield* walk(child);
}

describe("install.ps1", () => {
  const parser = new Parser();
  parser.setLanguage(PowerShell as unknown as Parser.Language);
  const tree = parser.parse(ps1);

  it("parses without syntax errors", () => {
    const errors = [...walk(tree.rootNode)].filter((n) => n.type === "ERROR" || n.isMissing);
    assert.deepEqual(
      errors.map((n) => `line ${n.startPosition.row + 1}: ${n.text.slice(0, 60)}`),
      [],
    );
  });

  it("uses nothing newer than PowerShell 5.1", () => {
    // Only code counts: strings and comments may mention anything.
    const code = [...walk(tree.rootNode)]
      .filter(
        (n) =>
          n.childCount === 0 &&
          !/string|comment/.test(n.type) &&
          !/string|comment/.test(n.parent?.type ?? ""),
      )
      .map((n) => n.text);
    const forbidden = [
      "??",
      "?.",
      "??=",
      "&&",
      "||",
      "-Parallel",
      "$IsWindows",
      "$IsLinux",
      "$IsMacOS",
      "-SkipCertificateCheck",
      "-AsHashtable",
      "-Resume",
      "Join-String",
    ];
    assert.deepEqual(
      code.filter((token) => forbidden.includes(token)),
      [],
    );
    assert.ok(
      !/\?\s*[^:\n]+\s:\s/.test(ps1.replace(/#.*$/gm, "").replace(/'[^']*'|"[^"]*"/g, "")),
      "no ternary",
    );
  });

  it("does what the design asks of it", () => {
    assert.match(ps1, /\$ProgressPreference = 'SilentlyContinue'/);
    assert.match(ps1, /Tls12/);
    assert.match(ps1, /Get-FileHash -Algorithm SHA256/);
    assert.match(ps1, /--method powershell @Arguments/);
    assert.match(ps1, /'ARM64'/);
    for (const key of ["event_label", "os", "arch", "platform", "release", "method", "cid"])
      assert.match(ps1, new RegExp(`\\b${key} = `));
    for (const optOut of [
      "RUNMAT_NO_TELEMETRY",
      "RUNMAT_TELEMETRY",
      "DO_NOT_TRACK",
      "--no-telemetry",
      "telemetry.json",
    ]) {
      assert.ok(ps1.includes(optOut), optOut);
    }
  });
});

describe("release workflow", () => {
  const workflow = parseYaml(read(".github/workflows/release.yml")) as {
    on: { push: { tags: string[] } };
    env: { ASSETS: string };
    jobs: Record<string, { "runs-on": string; steps: { run?: string }[] }>;
  };
  const assets = new Set(workflow.env.ASSETS.split(/\s+/).filter(Boolean));

  it("publishes exactly what the bootstrappers download", () => {
    const shTargets = [...sh.matchAll(/SEA_TARGET=([a-z0-9-]+)/g)].map((m) => `runmat-install-${m[1]}.gz`);
    const shFiles = [...sh.matchAll(/^\s+fetch ([A-Za-z0-9.-]+)/gm)]
      .map((m) => m[1])
      .filter((f) => !f.includes("$"));
    const psTarget = /return '([a-z0-9-]+)'/.exec(ps1)?.[1];
    const wanted = new Set([
      "SHA256SUMS",
      "VERSION",
      ...shTargets,
      ...shFiles,
      `runmat-install-${psTarget}.exe.gz`,
      "runmat-install.cjs",
      "install.sh",
      "install.ps1",
    ]);
    assert.deepEqual([...assets].sort(), [...wanted].sort());
  });

  it("agrees with the build script's targets", () => {
    for (const target of SEA_TARGETS) assert.ok(assets.has(`${target.output}.gz`), target.output);
  });

  it("builds on a tag, signs darwin binaries on macOS, and checksums everything", () => {
    assert.deepEqual(workflow.on.push.tags, ["v*"]);
    const runs = (job: string) => workflow.jobs[job].steps.map((s) => s.run ?? "").join("\n");
    assert.match(runs("linux"), /npm run build:binaries -- linux-x64 linux-arm64 win-x64/);
    assert.match(workflow.jobs.darwin["runs-on"], /^macos/);
    assert.match(runs("darwin"), /npm run build:binaries -- darwin-x64 darwin-arm64/);
    assert.match(runs("darwin"), /codesign --verify/);
    assert.match(runs("publish"), /sha256sum -- \* > SHA256SUMS/);
    assert.match(runs("publish"), /gh release create/);
  });
});

// Static checks of the bootstrappers and the release workflow: install.ps1 as PowerShell's own
// parser sees it (plus the Windows PowerShell 5.1 feature check that pwsh 7 cannot make), and
// the workflow held against the contract and the build script. test/e2e/powershell.test.ts
// runs install.ps1 for real.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import Parser from "tree-sitter";
import PowerShell from "tree-sitter-powershell";
import { parse as parseYaml } from "yaml";
import { SEA_TARGETS } from "../../scripts/build-binaries.js";
import { PLATFORM_ROWS, seaAssetName, seaXzAssetName } from "../../src/contract.js";
import { type PowerShellAst, powershellAst } from "../fixtures/powershell.js";

const path = (name: string) => fileURLToPath(new URL(`../../${name}`, import.meta.url));
const read = (name: string) => readFileSync(path(name), "utf8");
const ps1 = read("bootstrap/install.ps1");

type SyntaxNode = Parser.SyntaxNode;

function* walk(node: SyntaxNode): Generator<SyntaxNode> {
  yield node;
  for (const child of node.children) yield* walk(child);
}

function hasCommand(ast: PowerShellAst, ...elements: string[]): boolean {
  return ast.commands.some((command) => elements.every((element, i) => command.elements[i] === element));
}

describe("install.ps1", () => {
  const ast = powershellAst(path("bootstrap/install.ps1"));

  it("has no syntax errors for PowerShell's own parser", () => {
    assert.deepEqual(ast.errors, []);
  });

  it("is plain ASCII, which Windows PowerShell 5.1 reads the same without a BOM", () => {
    assert.ok(/^[\x09\x0a\x0d\x20-\x7e]*$/.test(ps1), "non-ASCII character in install.ps1");
  });

  it("uses nothing newer than Windows PowerShell 5.1", () => {
    // pwsh 7 accepts 7-only syntax, so this check reads the tokens itself. Only code counts:
    // strings and comments may mention anything.
    const parser = new Parser();
    parser.setLanguage(PowerShell as unknown as Parser.Language);
    const tree = parser.parse(ps1);
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

  it("turns off the progress bar, allows TLS 1.2 and checks SHA-256 (in code, not comments)", () => {
    assert.ok(
      ast.assignments.some((a) => a.left === "$ProgressPreference" && a.right === "'SilentlyContinue'"),
    );
    assert.ok(ast.members.includes("Net.SecurityProtocolType::Tls12"));
    assert.ok(hasCommand(ast, "Get-FileHash", "-Algorithm", "SHA256"));
  });

  it("starts the installer with --method powershell and every argument it was given", () => {
    assert.ok(hasCommand(ast, "$installer", "--method", "$PayloadMethod", "@BootstrapArguments"));
  });

  it("reads every opt-out the installer reads", () => {
    for (const variable of ["env:RUNMAT_NO_TELEMETRY", "env:RUNMAT_TELEMETRY", "env:DO_NOT_TRACK"]) {
      assert.ok(ast.variables.includes(variable), variable);
    }
    assert.ok(ast.strings.includes("--no-telemetry"));
    assert.ok(ast.variables.includes("TelemetrySettingsFile"));
  });
});

describe("release workflow", () => {
  const workflow = parseYaml(read(".github/workflows/release.yml")) as {
    on: { push: { tags: string[] } };
    env: { ASSETS: string };
    jobs: Record<string, { "runs-on": string; steps: { run?: string; shell?: string }[] }>;
  };
  const assets = new Set(workflow.env.ASSETS.split(/\s+/).filter(Boolean));

  it("publishes exactly what the contract says the bootstrappers download", () => {
    const wanted = new Set([
      "SHA256SUMS",
      "VERSION",
      ...PLATFORM_ROWS.map((row) => seaAssetName(row.sea)),
      ...PLATFORM_ROWS.flatMap((row) => seaXzAssetName(row.sea) ?? []),
      "runmat-install.cjs",
      "runmat-install.cjs.gz",
      "install.sh",
      "install.ps1",
    ]);
    assert.deepEqual([...assets].sort(), [...wanted].sort());
  });

  it("agrees with the build script's targets", () => {
    assert.deepEqual(
      SEA_TARGETS.map((target) => `${target.output}.gz`).sort(),
      [...new Set(PLATFORM_ROWS.map((row) => seaAssetName(row.sea)))].sort(),
    );
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

  it("runs install.ps1 on a real Windows before publishing", () => {
    const job = workflow.jobs.windows;
    assert.ok(job, "a windows job");
    assert.match(job["runs-on"], /^windows/);
    const steps = job.steps.filter((s) => s.shell === "powershell").map((s) => s.run ?? "");
    assert.ok(
      steps.some((run) => /install\.ps1/.test(run) && /--archive/.test(run)),
      "install.ps1 offline",
    );
    assert.ok(
      steps.some((run) => /Invoke-Expression|iex/.test(run)),
      "the iwr | iex form, which Windows PowerShell 5.1 runs",
    );
  });
});

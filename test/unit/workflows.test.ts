// The GitHub workflows run only on GitHub, so they are checked here before they ever run: each
// validates against the workflow schema (action-validator), and every `run:` step is linted as
// the shell that will run it — shellcheck for bash and sh, PowerShell's own parser for pwsh and
// Windows PowerShell — and the jobs say what the release depends on.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { powershellAst } from "../fixtures/powershell.js";
import { requireTool } from "../fixtures/system-tools.js";

const WORKFLOWS = fileURLToPath(new URL("../../.github/workflows/", import.meta.url));
const VALIDATOR = fileURLToPath(new URL("../../node_modules/.bin/action-validator", import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), "runmat-workflows-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

interface Step {
  name?: string;
  run?: string;
  shell?: string;
  uses?: string;
  with?: Record<string, string>;
}
interface Job {
  "runs-on"?: string;
  needs?: string[];
  uses?: string;
  steps?: Step[];
  defaults?: { run?: { shell?: string } };
}
interface Workflow {
  on: Record<string, unknown>;
  jobs: Record<string, Job>;
}

const files = readdirSync(WORKFLOWS).filter((name) => name.endsWith(".yml"));
const load = (name: string) => parseYaml(readFileSync(join(WORKFLOWS, name), "utf8")) as Workflow;

/**
 * The schema action-validator 0.6.0 carries predates the `attestations` permission, which
 * actions/attest-build-provenance needs (https://github.com/actions/attest-build-provenance#usage):
 * that one error, and only it, is the schema's gap rather than ours.
 */
function schemaErrors(report: { errors?: { detail?: string; path?: string }[] }): string[] {
  const known = (error: { detail?: string; path?: string }) =>
    /permissions$/.test(error.path ?? "") &&
    error.detail === "Additional property 'attestations' is not allowed";
  const flat = (errors: unknown[]): { detail?: string; path?: string; title?: string }[] =>
    errors.flatMap((error) => {
      const e = error as { states?: { errors: unknown[] }[]; detail?: string; path?: string; title?: string };
      return e.states ? e.states.flatMap((state) => flat(state.errors)) : [e];
    });
  const all = flat(report.errors ?? []);
  // A oneOf fails when every branch does: it is our gap only if one branch fails on that alone.
  const onlyGap = (report.errors ?? []).every((error) => {
    const states = (error as { states?: { errors: unknown[] }[] }).states;
    return states?.some((state) => flat(state.errors).every(known)) ?? false;
  });
  return onlyGap ? [] : all.map((e) => `${e.path}: ${e.title}${e.detail ? ` (${e.detail})` : ""}`);
}

/** The shell GitHub runs a step with: its own, the job's default, or the runner's. */
function shellOf(step: Step, job: Job): string {
  return step.shell ?? job.defaults?.run?.shell ?? (/windows/.test(job["runs-on"] ?? "") ? "pwsh" : "bash");
}

/** `${{ … }}` is substituted before the shell sees the script: a plain word stands in for it. */
const withoutExpressions = (script: string) => script.replace(/\$\{\{[^}]*\}\}/g, "EXPR");

describe("GitHub workflows", () => {
  it("there are the two: ci and release", () => {
    assert.deepEqual(files.sort(), ["ci.yml", "release.yml"]);
  });

  for (const name of files) {
    it(`${name} validates against the workflow schema`, () => {
      const run = spawnSync(process.execPath, [VALIDATOR, join(WORKFLOWS, name)], { encoding: "utf8" });
      if (run.status === 0) return;
      const said = `${run.stdout}${run.stderr}`;
      const report = JSON.parse(said.slice(said.indexOf("{")));
      assert.deepEqual(schemaErrors(report), [], said);
    });

    it(`${name}: every run step lints clean in its own shell`, () => {
      const shellcheck = requireTool("shellcheck");
      const workflow = load(name);
      let checked = 0;
      for (const [jobName, job] of Object.entries(workflow.jobs)) {
        for (const [index, step] of (job.steps ?? []).entries()) {
          if (!step.run) continue;
          const shell = shellOf(step, job);
          const where = `${jobName} step ${index + 1} (${step.name ?? step.run.split("\n")[0]})`;
          const file = join(scratch, `${name}-${jobName}-${index}`);
          if (shell === "bash" || shell === "sh") {
            writeFileSync(file, `#!/usr/bin/env ${shell}\n${withoutExpressions(step.run)}`);
            const lint = spawnSync(shellcheck, ["--shell", shell, file], { encoding: "utf8" });
            assert.equal(lint.status, 0, `${where}:\n${lint.stdout}`);
          } else if (shell === "pwsh" || shell === "powershell") {
            writeFileSync(`${file}.ps1`, withoutExpressions(step.run));
            assert.deepEqual(powershellAst(`${file}.ps1`).errors, [], where);
          } else {
            assert.fail(`${where}: no linter for shell ${shell}`);
          }
          checked += 1;
        }
      }
      assert.ok(checked > 0);
    });
  }

  it("ci runs the README's test command on every push and pull request, and release reuses it", () => {
    const ci = load("ci.yml");
    assert.ok("push" in ci.on && "pull_request" in ci.on && "workflow_call" in ci.on);
    assert.match(ci.jobs.test.steps?.map((s) => s.run ?? "").join("\n") ?? "", /bash \.ci\/run/);
    const release = load("release.yml");
    assert.equal(release.jobs.test.uses, "./.github/workflows/ci.yml");
    assert.deepEqual(release.jobs.linux.needs, ["test"]);
    assert.ok(!JSON.stringify(release.jobs.linux).includes(".ci/run"), "the tests run once, in ci.yml");
  });

  it("release attests every asset where it is built, and installs the real RunMat before it publishes", () => {
    const release = load("release.yml");
    const attested = (job: string) =>
      (release.jobs[job].steps ?? []).filter((s) => s.uses?.startsWith("actions/attest-build-provenance@"));
    assert.match(attested("linux")[0]?.with?.["subject-path"] ?? "", /dist\/release\/\*/);
    assert.match(attested("darwin")[0]?.with?.["subject-path"] ?? "", /darwin/);
    assert.match(attested("publish")[0]?.with?.["subject-path"] ?? "", /SHA256SUMS/);
    assert.deepEqual([...(release.jobs.publish.needs ?? [])].sort(), [
      "darwin",
      "field-linux",
      "field-macos",
      "linux",
      "windows",
    ]);
    const fieldLinux = JSON.stringify(release.jobs["field-linux"]);
    for (const system of ["ubuntu-24.04", "debian:12", "ubuntu:22.04"])
      assert.ok(fieldLinux.includes(system), system);
    const fieldMac = JSON.stringify(release.jobs["field-macos"]);
    for (const runner of ["macos-14", "macos-13"]) assert.ok(fieldMac.includes(runner), runner);
    for (const job of ["field-linux", "field-macos", "windows"]) {
      const uploads = (release.jobs[job].steps ?? []).filter((s) =>
        s.uses?.startsWith("actions/upload-artifact@"),
      );
      assert.ok(
        uploads.some((s) => /^field-/.test(s.with?.name ?? "")),
        `${job} keeps a field report as an artifact`,
      );
    }
    // The field script itself lints as the sh that runs it in a bare container.
    execFileSync(requireTool("shellcheck"), [
      "--shell",
      "sh",
      fileURLToPath(new URL("../../scripts/field-test.sh", import.meta.url)),
    ]);
  });
});

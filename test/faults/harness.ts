// The fault matrix's machinery. Every scenario starts from a HOME with an earlier install
// (v0.6.1) and real dotfiles (one a symlink, one CRLF without a final newline), injects one
// fault into an install of v0.7.0, and then checks the same invariants:
//   1. exit: the documented exit code; one "error:" line and one "hint:" line; no stack trace.
//   2. state: nothing half-installed — after a failure HOME is byte-identical (old binary,
//      profiles, symlinks, receipt, no staging or lock files); after a success the new
//      install is complete with no leftovers.
//   3. telemetry: exactly install_start then install_failed (or install_complete), with the
//      right release and platform.
//   4. retry: once the fault is removed, a plain retry succeeds.
// Results are recorded and rendered into dist/RELIABILITY.md by the suite itself;
// `npm run docs:reliability` publishes that file as docs/RELIABILITY.md (npm test never writes
// tracked files).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { lstat, mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ReleaseServer, TelemetrySink } from "../fixtures/release-server.js";
import {
  cleanHome,
  diffTrees,
  type Env,
  makeHome,
  ROOT,
  type RunOptions,
  type RunResult,
  runInstaller,
  snapshotTree,
} from "../fixtures/run.js";
import { HOST_PLATFORM, publishRelease, serverArgs } from "../fixtures/world.js";

export interface RunPlan {
  args?: string[];
  env?: Env;
  command?: string[];
  onSpawn?: RunOptions["onSpawn"];
}

export interface Scenario {
  name: string;
  category: string;
  /** The documented exit code; 0 when the fault must be absorbed. */
  exit: number;
  /** What stderr must say. */
  message?: RegExp;
  /** The release telemetry must report (default v0.7.0). */
  release?: string;
  platform?: string;
  /** Set up the fault; the plan says how to run the installer into it. */
  // biome-ignore lint/suspicious/noConfusingVoidType: most arrangements only inject a server fault
  arrange?(world: World): Promise<RunPlan | void> | RunPlan | void;
  /** Undo what `arrange` did outside the server; server faults are cleared anyway. */
  heal?(world: World): Promise<RunPlan | undefined> | RunPlan | undefined;
  /** Extra checks on the outcome. */
  check?(world: World, run: RunResult): Promise<void> | void;
  /** The events the endpoint must see, when the endpoint itself is the fault. */
  events?: string[];
  /** Makes HOME's path contain this (spaces, unicode). */
  homeLabel?: string;
}

export interface ScenarioResult {
  name: string;
  category: string;
  exit: number | string;
  actualExit: number | null;
  invariants: Record<"exit" | "state" | "telemetry" | "retry", "pass" | "fail" | "n/a">;
  detail?: string;
}

export class World {
  server!: ReleaseServer;
  sink!: TelemetrySink;
  home = "";
  readonly results: ScenarioResult[] = [];

  async start(): Promise<void> {
    this.server = await new ReleaseServer().start();
    this.sink = await new TelemetrySink().start();
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await this.sink.stop();
  }

  get bin(): string {
    return join(this.home, ".local", "bin");
  }

  /** The environment of every run: telemetry on, pointed at the sink. */
  env(extra: Env = {}): Env {
    return { RUNMAT_NO_TELEMETRY: undefined, RUNMAT_TELEMETRY_ENDPOINT: this.sink.url, ...extra };
  }

  run(plan: RunPlan = {}): Promise<RunResult> {
    return runInstaller(this.home, plan.args ?? serverArgs(this.server), {
      env: this.env(plan.env),
      command: plan.command,
      onSpawn: plan.onSpawn,
    });
  }

  /** A HOME with dotfiles and an earlier install of v0.6.1 (at `at`, a new directory, when given). */
  async freshHome(label = "fault", at?: string, baselineArgs: string[] = []): Promise<void> {
    this.home = at ? (await mkdir(at, { recursive: true }), at) : await makeHome(label);
    await mkdir(join(this.home, "dotfiles"));
    await writeFile(join(this.home, "dotfiles", "bashrc"), "# my bashrc, kept in a dotfiles repo\n");
    await symlink(join(this.home, "dotfiles", "bashrc"), join(this.home, ".bashrc"));
    await writeFile(join(this.home, ".profile"), "# profile\r\nexport A=1");
    this.server.reset();
    this.sink.reset();
    publishRelease(this.server, "v0.6.1");
    const baseline = await this.run({ args: [...serverArgs(this.server), ...baselineArgs] });
    assert.equal(baseline.code, 0, `baseline install: ${baseline.stderr}`);
    publishRelease(this.server, "v0.7.0");
    this.server.requests.length = 0;
    this.sink.reset();
  }

  runmatVersion(): string {
    return execFileSync(join(this.bin, "runmat"), ["--version"], { encoding: "utf8" }).trim();
  }

  /** Staging directories, locks and swap files that must never outlive a run. */
  async leftovers(): Promise<string[]> {
    const names = [
      ...(await readdir(join(this.home, ".local")).catch(() => [] as string[])),
      ...(await readdir(this.bin).catch(() => [] as string[])),
    ];
    return names.filter((n) => /^\.runmat-install|\.runmat-(old|new)-/.test(n));
  }
}

function checkMessage(scenario: Scenario, run: RunResult): void {
  assert.equal(run.code, scenario.exit, `exit code (stderr: ${run.stderr.slice(0, 600)})`);
  assert.ok(!/^\s+at /m.test(run.stderr), "no stack trace without --verbose");
  if (scenario.exit !== 0) {
    const lines = run.stderr.split("\n");
    assert.equal(lines.filter((l) => l.startsWith("error: ")).length, 1, "one error line");
    const at = lines.findIndex((l) => l.startsWith("error: "));
    assert.match(lines[at + 1] ?? "", /^ {2}hint: \S/, "a hint line follows");
  }
  if (scenario.message) assert.match(run.stderr, scenario.message);
}

async function checkState(
  world: World,
  scenario: Scenario,
  before: Awaited<ReturnType<typeof snapshotTree>>,
) {
  if (scenario.exit !== 0) {
    assert.deepEqual(diffTrees(before, await snapshotTree(world.home)), [], "HOME unchanged by the failure");
    return;
  }
  assert.equal(world.runmatVersion(), "runmat 0.7.0");
  assert.deepEqual(await world.leftovers(), []);
  assert.ok(
    (await lstat(join(world.home, ".bashrc"))).isSymbolicLink(),
    "a symlinked dotfile stays a symlink",
  );
}

function checkTelemetry(world: World, scenario: Scenario): void {
  const outcome = scenario.exit === 0 ? "install_complete" : "install_failed";
  assert.deepEqual(world.sink.labels(), scenario.events ?? ["install_start", outcome]);
  for (const event of world.sink.events) {
    assert.equal(event.release, scenario.release ?? "v0.7.0");
    assert.equal(event.platform, scenario.platform ?? HOST_PLATFORM);
  }
}

/** Runs one scenario through all four invariants and records the result. */
export async function runScenario(world: World, scenario: Scenario): Promise<void> {
  const result: ScenarioResult = {
    name: scenario.name,
    category: scenario.category,
    exit: scenario.exit,
    actualExit: null,
    invariants: {
      exit: "fail",
      state: "fail",
      telemetry: "fail",
      retry: scenario.exit === 0 ? "n/a" : "fail",
    },
  };
  world.results.push(result);
  await world.freshHome(scenario.homeLabel);
  try {
    const plan = (await scenario.arrange?.(world)) ?? {};
    const before = await snapshotTree(world.home);
    const run = await world.run(plan);
    result.actualExit = run.code;
    const steps: [keyof ScenarioResult["invariants"], () => Promise<void> | void][] = [
      ["exit", () => checkMessage(scenario, run)],
      [
        "state",
        async () => {
          await checkState(world, scenario, before);
          await scenario.check?.(world, run);
        },
      ],
      ["telemetry", () => checkTelemetry(world, scenario)],
    ];
    for (const [name, step] of steps) {
      try {
        await step();
        result.invariants[name] = "pass";
      } catch (error) {
        result.detail = (error as Error).message.split("\n")[0];
        throw error;
      }
    }
    if (scenario.exit !== 0) {
      world.server.clearFaults();
      world.server.honourRange = true;
      publishRelease(world.server, "v0.7.0");
      world.sink.mode = "ok";
      const retryPlan = (await scenario.heal?.(world)) ?? {};
      const retry = await world.run(retryPlan);
      result.detail = `retry exited ${retry.code}`;
      assert.equal(retry.code, 0, `retry after removing the fault: ${retry.stderr}`);
      assert.equal(world.runmatVersion(), "runmat 0.7.0");
      result.invariants.retry = "pass";
      result.detail = undefined;
    }
  } finally {
    await cleanHome(world.home);
  }
}

const REPORT_DIR = join(ROOT, "dist", "faults");
const REPORT = join(ROOT, "dist", "RELIABILITY.md");

/** Saves this file's results and regenerates dist/RELIABILITY.md from every file's results. */
export async function writeReport(file: string, results: ScenarioResult[]): Promise<void> {
  await mkdir(REPORT_DIR, { recursive: true });
  await writeFile(join(REPORT_DIR, `${file}.json`), JSON.stringify(results, null, 2));
  const all: ScenarioResult[] = [];
  for (const name of (await readdir(REPORT_DIR)).sort()) {
    all.push(...(JSON.parse(await readFile(join(REPORT_DIR, name), "utf8")) as ScenarioResult[]));
  }
  const passed = all.filter((r) => Object.values(r.invariants).every((v) => v !== "fail")).length;
  const rows = all.map((r) => {
    const checked = Object.entries(r.invariants)
      .filter(([, v]) => v !== "n/a")
      .map(([k]) => k)
      .join(", ");
    const ok = Object.values(r.invariants).every((v) => v !== "fail");
    const cells = [
      r.category,
      r.name,
      r.exit,
      r.actualExit ?? "—",
      checked,
      ok ? "pass" : `**FAIL**: ${r.detail ?? ""}`,
    ];
    // A "|" inside a cell (| true, curl | tar) would end the cell on GitHub.
    return `| ${cells.map((cell) => String(cell).replaceAll("|", "\\|")).join(" | ")} |`;
  });
  const text = [
    "# Reliability: the fault matrix",
    "",
    "Generated by `npm run test:faults` (part of `npm test`) into dist/, published here by",
    "`npm run docs:reliability` — do not edit by hand.",
    "Each scenario runs the real `runmat-install` against the real fixture release server in a real",
    "temporary HOME that already holds an earlier install, with one fault injected, then checks:",
    "",
    "- **exit**: the documented exit code, one `error:` line and one `hint:` line, no stack trace;",
    "- **state**: after a failure HOME is byte-identical (old binary, profiles, symlinks, receipt, no",
    "  staging or lock file); after a success the new install is complete with no leftovers;",
    "- **telemetry**: exactly `install_start` then `install_failed` (or `install_complete`), with the",
    "  right `release` and `platform`;",
    "- **retry**: once the fault is removed, a plain retry succeeds.",
    "",
    `**${passed} of ${all.length} scenarios passed every invariant.**`,
    "",
    "| area | scenario | expected exit | actual exit | invariants checked | result |",
    "|---|---|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
  await writeFile(REPORT, text);
}

/** Marks one invariant as checked once `assertions` have passed. */
export type CheckInvariant = (
  name: keyof ScenarioResult["invariants"],
  assertions: () => Promise<void> | void,
) => Promise<void>;

/**
 * Records a scenario that drives the installer itself (signals, races, security checks).
 * `body` asserts each declared invariant through `check`; an invariant counts as passed only
 * when its own assertions ran and held, and one that was declared but never checked fails.
 */
export async function runCustom(
  world: World,
  meta: {
    name: string;
    category: string;
    exit: number | string;
    invariants: (keyof ScenarioResult["invariants"])[];
  },
  body: (check: CheckInvariant) => Promise<number | null>,
): Promise<void> {
  const invariants: ScenarioResult["invariants"] = {
    exit: "n/a",
    state: "n/a",
    telemetry: "n/a",
    retry: "n/a",
  };
  for (const name of meta.invariants) invariants[name] = "fail";
  const result: ScenarioResult = {
    name: meta.name,
    category: meta.category,
    exit: meta.exit,
    actualExit: null,
    invariants,
  };
  world.results.push(result);
  const check: CheckInvariant = async (name, assertions) => {
    assert.ok(meta.invariants.includes(name), `invariant ${name} is checked but not declared`);
    await assertions();
    invariants[name] = "pass";
  };
  try {
    result.actualExit = await body(check);
    const unchecked = meta.invariants.filter((name) => invariants[name] !== "pass");
    assert.deepEqual(unchecked, [], "declared invariants that the scenario never checked");
  } catch (error) {
    result.detail = (error as Error).message.split("\n")[0];
    throw error;
  }
}

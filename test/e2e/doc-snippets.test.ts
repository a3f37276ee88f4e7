// Every command line in the README and docs/ is accounted for: run here verbatim, or run by the
// test named for it, or said why it cannot run on this machine. The README's install, update and
// uninstall lines run as a user types them, with runmat.org, github.com and api.github.com
// served over TLS inside a private namespace (named-hosts.ts).
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { cp, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { inNamedHosts, type StepResult, type WorldResult } from "../fixtures/named-hosts.js";
import { globalInstall, packThisCheckout, projectWith } from "../fixtures/package.js";
import { cleanHome, makeHome, ROOT } from "../fixtures/run.js";

/** The command lines of every sh and powershell block, without their trailing comments. */
function snippetLines(): Map<string, string> {
  const lines = new Map<string, string>();
  const pages = ["README.md", ...readdirSync(join(ROOT, "docs")).map((name) => `docs/${name}`)];
  for (const page of pages.filter((name) => name.endsWith(".md"))) {
    const text = readFileSync(join(ROOT, page), "utf8");
    for (const [, body] of text.matchAll(/```(?:sh|powershell)\n([\s\S]*?)```/g)) {
      for (const line of body.split("\n")) {
        const command = line.replace(/\s+#\s.*$/, "").trim();
        if (command) lines.set(command, page);
      }
    }
  }
  return lines;
}

const HERE = "run verbatim by this file";
const CI = "run by CI: .ci/run is `npm run test:fresh` (npm ci, the test tools, npm test) on a fresh clone";
const RELAY = "run by test/e2e/relay-runtimes.test.ts, copied out of docs/relay.md";
const POWERSHELL =
  "cannot run here: the win-x64 binary runs under Wine, where Node's sockets fail; test/e2e/powershell.test.ts runs install.ps1 in all three forms with --archive, and the release workflow's windows job runs this against GitHub";

/** How each command line in the docs is proved. */
const HOW: Record<string, string> = {
  "npx runmat-install": HERE,
  "curl -fsSL https://runmat.org/install.sh | sh": HERE,
  "iwr https://runmat.org/install.ps1 | iex": POWERSHELL,
  "npx runmat-install update": HERE,
  "curl -fsSL https://runmat.org/install.sh | sh -s -- update": HERE,
  "runmat-install update": HERE,
  "& ([scriptblock]::Create((iwr https://runmat.org/install.ps1 -UseBasicParsing))) update": POWERSHELL,
  "npm ci && npm run demo": HERE,
  "npm install": CI,
  "npm test": CI,
  "npm run test:fresh": CI,
  "npm install runmat-install next react react-dom": RELAY,
  "npm install -D typescript @types/node @types/react": RELAY,
  "next build && next start": RELAY,
  "npm install runmat-install": RELAY,
  "npm install -D wrangler": RELAY,
  "deno run --allow-net --allow-env main.ts": RELAY,
  "npx wrangler secret put GA_MEASUREMENT_ID":
    "cannot run here: it needs a Cloudflare account; the relay test runs the same Worker in `wrangler dev`",
  "npx wrangler secret put GA_API_SECRET": "cannot run here: it needs a Cloudflare account",
  "npx wrangler deploy": "cannot run here: it needs a Cloudflare account",
  "gh attestation verify runmat-install-linux-x64.gz -R runmat-org/runmat-install":
    "cannot run here: attestations exist only for assets GitHub's release workflow built; test/unit/workflows.test.ts checks that it attests every asset",
};

it("every command line in the README and docs/ is run, or says why not", () => {
  const lines = snippetLines();
  assert.deepEqual(
    [...lines].filter(([line]) => !(line in HOW)).map(([line, page]) => `${page}: ${line}`),
    [],
    "a new command line in the docs needs a way to be proved (HOW)",
  );
  assert.deepEqual(
    Object.keys(HOW).filter((line) => !lines.has(line)),
    [],
    "HOW names lines the docs no longer have",
  );
});

/** The same command with `uninstall` for `update`, as the README says to. */
const uninstallFor = (update: string) => update.replace(/ update$/, " uninstall");
/** `line` typed at a terminal (a pseudo-terminal from script(1)), answering y when asked. */
const answeringYes = (line: string) => `(sleep 1; printf 'y\\n') | script -qec '${line}' /dev/null`;
const RUNMAT = '"$HOME/.local/bin/runmat" --version';
const ONE_LINER = "curl -fsSL https://runmat.org/install.sh | sh";

describe("the README's install, update and uninstall lines, as typed, against the real host names", () => {
  let work: string;
  let home: string;
  let world: WorldResult;
  let project: string;
  let globalBin: string;
  /** The result of each step's command, by its position in `steps`. */
  const result = (run: string, nth = 0): StepResult =>
    world.steps.filter((step) => step.run === run)[nth] ?? assert.fail(`no step ran ${run}`);

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "runmat-snippets-"));
    home = await makeHome("snippets");
    const tarball = packThisCheckout(work);
    project = await projectWith(tarball, work);
    globalBin = globalInstall(tarball, work);

    const update = (line: string, cwd?: string, pathPrefix?: string[]) => [
      { run: line, cwd, pathPrefix },
      { run: RUNMAT },
    ];
    world = await inNamedHosts(home, [
      { publish: "v0.6.1" },
      { run: ONE_LINER },
      { run: RUNMAT },
      { run: "bash -lc 'runmat --version'" },
      // What the README says to do in the terminal that is already open.
      { run: '. "$HOME/.runmat/env" && runmat --version' },
      { run: "fish --no-config -c 'source ~/.runmat/env.fish; runmat --version'" },
      { publish: "v0.6.2" },
      ...update(`${ONE_LINER} -s -- update`),
      { publish: "v0.6.3" },
      ...update("npx runmat-install update", project),
      { publish: "v0.6.4" },
      ...update("runmat-install update", undefined, [globalBin]),
      { run: "npx runmat-install telemetry disable", cwd: project },
      { run: answeringYes(uninstallFor("npx runmat-install update")), cwd: project },
      { run: RUNMAT },
      { run: "npx runmat-install", cwd: project },
      { run: RUNMAT },
      { run: answeringYes(uninstallFor(`${ONE_LINER} -s -- update`)) },
      { run: `${RUNMAT}; cat "$HOME/.profile" "$HOME/.bashrc"` },
    ]);
  });

  after(async () => {
    await rm(work, { recursive: true, force: true });
    await cleanHome(home);
  });

  it(`${ONE_LINER}: installs RunMat, and a new login shell finds it`, () => {
    const run = result(ONE_LINER);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(result(RUNMAT).stdout.trim(), "runmat 0.6.1");
    assert.equal(result("bash -lc 'runmat --version'").stdout.trim(), "runmat 0.6.1");
    assert.deepEqual(
      world.events.slice(0, 2).map((event) => [event.event_label, event.method]),
      [
        ["install_start", "shell"],
        ["install_complete", "shell"],
      ],
    );
    const names = new Set(world.requests.map((request) => request.split(" ")[0]));
    assert.deepEqual([...names].sort(), ["api.github.com", "github.com", "runmat.org"]);
  });

  it('the current terminal: . "$HOME/.runmat/env", and fish\'s source ~/.runmat/env.fish', () => {
    for (const run of [
      '. "$HOME/.runmat/env" && runmat --version',
      "fish --no-config -c 'source ~/.runmat/env.fish; runmat --version'",
    ]) {
      assert.equal(result(run).stdout.trim(), "runmat 0.6.1", `${run}: ${result(run).stderr}`);
    }
  });

  it("each way of installing is told apart: shell, npx, and npm for `npm install -g`", () => {
    // Before telemetry was disabled: the one-liner and its update, npx's update, npm -g's update.
    assert.deepEqual(
      world.events.slice(0, 8).map((event) => event.method),
      ["shell", "shell", "shell", "shell", "npx", "npx", "npm", "npm"],
    );
  });

  it("each update line installs the newer release", () => {
    const lines = [`${ONE_LINER} -s -- update`, "npx runmat-install update", "runmat-install update"];
    lines.forEach((line, i) => {
      const run = result(line);
      assert.equal(run.code, 0, `${line}: ${run.stderr}`);
      assert.equal(result(RUNMAT, i + 1).stdout.trim(), `runmat 0.6.${i + 2}`, line);
    });
  });

  it("npx runmat-install telemetry disable: later runs send nothing", () => {
    const disable = result("npx runmat-install telemetry disable");
    assert.equal(disable.code, 0, disable.stderr);
    // Four runs sent their two events each before it; the uninstall and install after it, none.
    assert.equal(world.events.length, 8);
  });

  it("each uninstall line removes RunMat and the startup lines", () => {
    const npxUninstall = result(answeringYes("npx runmat-install uninstall"));
    assert.equal(npxUninstall.code, 0, npxUninstall.stderr);
    // Asked at the terminal even through the pipe of `curl … | sh`, and answered.
    assert.match(npxUninstall.stdout, /Remove RunMat v0\.6\.4 from .* \[y\/N\]/);
    assert.notEqual(result(RUNMAT, 4).code, 0, "runmat is gone after npx runmat-install uninstall");
    assert.equal(result("npx runmat-install").code, 0, result("npx runmat-install").stderr);
    assert.equal(result(RUNMAT, 5).stdout.trim(), "runmat 0.6.4");
    const shUninstall = result(answeringYes(uninstallFor(`${ONE_LINER} -s -- update`)));
    assert.equal(shUninstall.code, 0, shUninstall.stderr);
    assert.match(shUninstall.stdout, /Remove RunMat v0\.6\.4 from .* \[y\/N\]/);
    const last = world.steps.at(-1)!;
    assert.doesNotMatch(last.stdout, /runmat \d/);
    assert.doesNotMatch(last.stdout, /runmat-install/);
    assert.equal(existsSync(join(home, ".local", "bin", "runmat")), false);
  });
});

it("npm ci && npm run demo: works in a fresh copy of the project", { timeout: 600_000 }, async () => {
  const copy = await mkdtemp(join(tmpdir(), "runmat-fresh-"));
  try {
    const tracked = execFileSync("git", ["ls-files", "-z"], { cwd: ROOT, encoding: "utf8" }).split("\0");
    for (const file of tracked.filter((name) => name && existsSync(join(ROOT, name)))) {
      await mkdir(dirname(join(copy, file)), { recursive: true });
      await cp(join(ROOT, file), join(copy, file));
    }
    const child = spawn("sh", ["-c", "npm ci && npm run demo"], {
      cwd: copy,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, npm_config_update_notifier: "false" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
    const code = await new Promise((resolve) => child.on("close", resolve));
    assert.equal(code, 0, output);
    assert.match(output, /runmat 0\.6\.1/);
    assert.match(output, /"event_label":"install_start"/);
    assert.match(output, /"event_label":"install_complete"/);
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
});

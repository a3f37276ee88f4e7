import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { appendFile, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { ReleaseServer } from "../fixtures/release-server.js";
import { cleanHome, diffTrees, makeHome, runInstaller, snapshotTree } from "../fixtures/run.js";
import { publishRelease, serverArgs } from "../fixtures/world.js";

let server: ReleaseServer;
let home: string;
const receiptFile = () => join(home, ".runmat", "install-receipt.json");
const runmat = () => join(home, ".local", "bin", "runmat");
const cli = (args: string[], env: Record<string, string | undefined> = {}) =>
  runInstaller(home, args, { env });

before(async () => {
  server = await new ReleaseServer().start();
});
after(async () => {
  await server.stop();
});
beforeEach(async () => {
  home = await makeHome();
  server.reset();
  publishRelease(server, "v0.6.1");
});
afterEach(async () => {
  await cleanHome(home);
});

describe("lifecycle", () => {
  it("install → status → update (nothing) → new tag → update → uninstall leaves HOME as it was", async () => {
    await writeFile(join(home, ".bashrc"), "# my bashrc\nexport EDITOR=vim\n");
    const pristine = await snapshotTree(home);

    assert.equal((await cli(serverArgs(server))).code, 0);
    const status = await cli(["status", "--json", ...serverArgs(server)]);
    assert.equal(status.code, 0, status.stderr);
    const state = JSON.parse(status.stdout);
    assert.equal(state.installed, true);
    assert.equal(state.version, "v0.6.1");
    assert.equal(state.path, runmat());
    assert.equal(state.latest, "v0.6.1");
    assert.equal(state.updateAvailable, false);
    assert.ok(state.pathEdits.length > 0 && state.pathEdits.every((e: { inPlace: boolean }) => e.inPlace));
    assert.equal(state.telemetry.enabled, false);
    assert.match(state.telemetry.reason, /RUNMAT_NO_TELEMETRY/);

    const human = await cli(["status", "--offline"]);
    assert.match(human.stdout, /RunMat v0\.6\.1 at /);
    assert.match(human.stdout, /runmat on PATH: no/);

    const current = await cli(["update", ...serverArgs(server)]);
    assert.equal(current.code, 0, current.stderr);
    assert.match(current.stdout, /already up to date/);
    assert.equal((await cli(["update", "--check", ...serverArgs(server)])).code, 0);

    publishRelease(server, "v0.7.0");
    const check = await cli(["update", "--check", ...serverArgs(server)]);
    assert.equal(check.code, 10);
    assert.match(check.stdout, /v0\.6\.1 → v0\.7\.0/);
    const update = await cli(["update", ...serverArgs(server)]);
    assert.equal(update.code, 0, update.stderr);
    assert.equal(execFileSync(runmat(), ["--version"], { encoding: "utf8" }).trim(), "runmat 0.7.0");
    assert.equal(JSON.parse(await readFile(receiptFile(), "utf8")).version, "v0.7.0");

    const uninstall = await cli(["uninstall", "-y"]);
    assert.equal(uninstall.code, 0, uninstall.stderr);
    assert.deepEqual(diffTrees(pristine, await snapshotTree(home)), []);
  });

  it("keeps the telemetry id and setting unless --purge", async () => {
    assert.equal(
      (await cli(serverArgs(server), { RUNMAT_NO_TELEMETRY: undefined, RUNMAT_TELEMETRY_DEBUG: "1" })).code,
      0,
    );
    assert.ok(existsSync(join(home, ".runmat", "telemetry_id")));
    const events: string[] = [];
    const uninstall = await cli(["uninstall", "-y"], {
      RUNMAT_NO_TELEMETRY: undefined,
      RUNMAT_TELEMETRY_DEBUG: "1",
    });
    events.push(...uninstall.stderr.split("\n").filter((line) => line.startsWith("telemetry")));
    assert.deepEqual(events, [], "uninstall sends no telemetry");
    assert.ok(existsSync(join(home, ".runmat", "telemetry_id")));

    assert.equal((await cli(serverArgs(server))).code, 0);
    assert.equal((await cli(["telemetry", "disable"])).code, 0);
    assert.equal((await cli(["uninstall", "-y", "--purge"])).code, 0);
    assert.equal(existsSync(join(home, ".runmat")), false);
  });

  it("removes only its own line from a .bashrc edited after the install", async () => {
    await writeFile(join(home, ".bashrc"), "# before\r\n");
    assert.equal((await cli(serverArgs(server))).code, 0);
    await appendFile(join(home, ".bashrc"), "alias ll='ls -l'\r\n# no newline at the end");
    assert.equal((await cli(["uninstall", "-y"])).code, 0);
    assert.equal(
      await readFile(join(home, ".bashrc"), "utf8"),
      "# before\r\nalias ll='ls -l'\r\n# no newline at the end",
    );
    assert.equal(existsSync(runmat()), false);
  });

  it("refuses a tampered receipt that lists /etc/passwd, deleting nothing", async () => {
    assert.equal((await cli(serverArgs(server))).code, 0);
    const receipt = JSON.parse(await readFile(receiptFile(), "utf8"));
    receipt.files.push("/etc/passwd");
    await writeFile(receiptFile(), JSON.stringify(receipt));
    const before = await snapshotTree(home);
    const run = await cli(["uninstall", "-y"]);
    assert.equal(run.code, 6);
    assert.match(run.stderr, /tampered/);
    assert.match(run.stderr, /hint:/);
    assert.ok(existsSync("/etc/passwd"));
    assert.deepEqual(diffTrees(before, await snapshotTree(home)), []);
  });

  it("uninstall with nothing installed says so (exit 11) and guesses nothing", async () => {
    const missing = await cli(["uninstall", "-y"]);
    assert.equal(missing.code, 11);
    assert.match(missing.stderr, /error: RunMat is not installed by runmat-install/);
    assert.match(missing.stderr, /hint: Nothing to remove: no runmat-install files are in this HOME/);
  });

  it("uninstall of a corrupt receipt refuses (exit 6) and removes nothing", async () => {
    assert.equal((await cli(serverArgs(server))).code, 0);
    await writeFile(receiptFile(), "{ not json");
    const corrupt = await cli(["uninstall", "-y"]);
    assert.equal(corrupt.code, 6);
    assert.match(corrupt.stderr, /unreadable/);
    assert.ok(existsSync(runmat()));
  });

  it("update and update --check with nothing installed: exit 11, telling how to install", async () => {
    for (const args of [["update"], ["update", "--check"]]) {
      const run = await cli([...args, ...serverArgs(server)]);
      assert.equal(run.code, 11, run.stderr);
      assert.match(run.stderr, /^error: RunMat is not installed by runmat-install/m);
      assert.match(run.stderr, /^ {2}hint: Install it with `npx runmat-install`/m);
      assert.doesNotMatch(run.stderr, /Remove it by hand/);
    }
  });

  it("update --check tells a script all three states apart: 11 not installed, 0 up to date, 10 update available", async () => {
    assert.equal((await cli(["update", "--check", ...serverArgs(server)])).code, 11);
    assert.equal((await cli(serverArgs(server))).code, 0);
    assert.equal((await cli(["update", "--check", ...serverArgs(server)])).code, 0);
    publishRelease(server, "v0.7.0");
    assert.equal((await cli(["update", "--check", ...serverArgs(server)])).code, 10);
  });

  it("an older installer's receipt (no seal) aims nothing until a reinstall with --force seals one", async () => {
    assert.equal((await cli(serverArgs(server), {})).code, 0);
    const receipt = JSON.parse(await readFile(receiptFile(), "utf8"));
    for (const key of ["schema", "createdDirs", "modifyPath", "seal", "fileDigests"]) delete receipt[key];
    await writeFile(receiptFile(), JSON.stringify(receipt));
    const status = await cli(["status", "--offline", "--json"]);
    assert.match(JSON.parse(status.stdout).receipt, /^untrusted: it has no seal/);
    const refused = await cli(["uninstall", "-y"]);
    assert.equal(refused.code, 6);
    assert.match(refused.stderr, /hint: .*reinstall with `npx runmat-install --force`/i);
    assert.equal(existsSync(runmat()), true, "nothing removed");
    assert.equal((await cli([...serverArgs(server), "--force"], {})).code, 0);
    assert.equal((await cli(["uninstall", "-y"])).code, 0);
    assert.equal(existsSync(runmat()), false);
  });
});

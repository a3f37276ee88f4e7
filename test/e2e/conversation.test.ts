// The conversation at the terminal: something on screen while the release is looked up, the
// notice before anything else, next steps true for this shell, the words people type, --json
// always a document, filesystem trouble as exit 6, and no root-owned files in a user's HOME.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chown, mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { readOnlyDuringRun } from "../fixtures/readonly.js";
import { ReleaseServer, TelemetrySink } from "../fixtures/release-server.js";
import { CLI, cleanHome, makeHome, runInstaller } from "../fixtures/run.js";
import { requireTool } from "../fixtures/system-tools.js";
import { publishRelease, serverArgs } from "../fixtures/world.js";

let server: ReleaseServer;
let home: string;

before(async () => {
  server = await new ReleaseServer().start();
});
after(() => server.stop());
beforeEach(async () => {
  home = await makeHome("conversation");
  publishRelease(server, "v0.6.1");
});
afterEach(async () => {
  server.reset();
  await cleanHome(home);
});

describe("never silent", () => {
  it("the release lookup is said at once, and each retry as it happens", async () => {
    // An API that accepts and never answers.
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const api = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const run = await runInstaller(home, ["--github-api", api, "--timeout", "0.3"]).finally(() => {
      silent.closeAllConnections();
      silent.close();
    });
    assert.equal(run.code, 3, run.stderr);
    const lines = run.stderr.split("\n");
    assert.match(lines[0], /^Looking up the latest RunMat release on 127\.0\.0\.1:\d+\.\.\.$/);
    assert.equal(lines.filter((line) => /trying again \(\d of 4\)/.test(line)).length, 3);
  });

  it("status says what this machine knows first, then looks the release up, saying so", async () => {
    assert.equal((await runInstaller(home, serverArgs(server))).code, 0);
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const api = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const run = await runInstaller(home, ["status", "--github-api", api, "--timeout", "0.3"]).finally(() => {
      silent.closeAllConnections();
      silent.close();
    });
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split("\n");
    assert.match(lines[0], /^RunMat v0\.6\.1 at /);
    assert.match(lines.at(-1) ?? "", /^latest release: unknown \(offline\?\)$/);
    assert.match(run.stderr, /^Looking up the latest RunMat release on 127\.0\.0\.1:\d+\.\.\.$/m);
    // Its answer only informs: one try, bounded, no retries.
    assert.doesNotMatch(run.stderr, /trying again/);
  });

  it("the telemetry notice comes first, and says two events, even when the run fails at once", async () => {
    const sink = await new TelemetrySink().start();
    try {
      const run = await runInstaller(home, ["--github-api", "http://127.0.0.1:9"], {
        env: { RUNMAT_NO_TELEMETRY: undefined, RUNMAT_TELEMETRY_ENDPOINT: sink.url },
      });
      assert.equal(run.code, 3, run.stderr);
      const notice = run.stderr.indexOf("sends 2 anonymous install events per run");
      assert.ok(notice >= 0 && notice < run.stderr.indexOf("error:"), run.stderr);
    } finally {
      await sink.stop();
    }
  });
});

describe("next steps true for this shell", () => {
  for (const [shell, line] of [
    ["/bin/bash", /or in this one run: {2}\. ".*\/\.runmat\/env"$/m],
    ["/usr/bin/fish", /or in this one run: {2}source ".*\/\.runmat\/env\.fish"$/m],
  ] as const) {
    it(`${shell}: only its own line, and only when this shell cannot find runmat yet`, async () => {
      const run = await runInstaller(home, serverArgs(server), { env: { SHELL: shell } });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, line);
      assert.doesNotMatch(run.stderr, /runmat --version/);
      assert.doesNotMatch(run.stderr, shell.endsWith("fish") ? /\. "/ : /env\.fish/);
    });
  }

  it("with the directory already on PATH: run runmat --version", async () => {
    const bin = join(home, ".local", "bin");
    const run = await runInstaller(home, serverArgs(server), { env: { PATH: `${bin}:/usr/bin:/bin` } });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /Run `runmat --version` to check it\./);
  });
});

describe("the words people type", () => {
  it("install, upgrade, remove, help, telemetry off and on do what they mean", async () => {
    assert.equal((await runInstaller(home, ["install", ...serverArgs(server)])).code, 0);
    const upgrade = await runInstaller(home, ["upgrade", "--check", ...serverArgs(server)]);
    assert.equal(upgrade.code, 0, upgrade.stderr);
    assert.match(upgrade.stdout, /already up to date/);
    assert.equal((await runInstaller(home, ["telemetry", "off"])).code, 0);
    assert.match((await runInstaller(home, ["telemetry", "status"])).stdout, /off/);
    assert.equal((await runInstaller(home, ["telemetry", "on"])).code, 0);
    assert.match((await runInstaller(home, ["help"])).stdout, /^Usage: runmat-install/);
    const remove = await runInstaller(home, ["remove", "-y"]);
    assert.equal(remove.code, 0, remove.stderr);
    assert.equal(existsSync(join(home, ".local", "bin", "runmat")), false);
  });

  it("an environment variable's bad value names the variable", async () => {
    for (const [name, value] of [
      ["RUNMAT_CONNECTIONS", "abc"],
      ["RUNMAT_HTTP_TIMEOUT", "soon"],
    ]) {
      const run = await runInstaller(home, [...serverArgs(server), "--dry-run"], { env: { [name]: value } });
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, new RegExp(`^error: ${name} must be`, "m"));
    }
  });

  it("--json: one JSON document on stdout, a usage error's too", async () => {
    for (const args of [
      ["--bogus", "--json"],
      ["--json", "not-a-version"],
    ]) {
      const run = await runInstaller(home, args);
      assert.equal(run.code, 2, run.stderr);
      const document = JSON.parse(run.stdout);
      assert.equal(document.ok, false);
      assert.equal(document.error.code, "usage");
    }
  });
});

describe("filesystem trouble is exit 6, about the path", () => {
  it("--dir below a regular file, and a --dir symbolic link loop", async () => {
    await writeFile(join(home, "afile"), "");
    await symlink(join(home, "loop-b"), join(home, "loop-a"));
    await symlink(join(home, "loop-a"), join(home, "loop-b"));
    for (const [dir, why] of [
      [join(home, "afile", "bin"), /a part of the path is a file|exists but is a file/],
      [join(home, "loop-a", "bin"), /symbolic links loop/],
    ] as const) {
      const run = await runInstaller(home, [...serverArgs(server), "--dir", dir]);
      assert.equal(run.code, 6, run.stderr);
      assert.match(run.stderr, why);
      assert.doesNotMatch(run.stderr, /Unexpected error/);
    }
  });
});

describe("sudo", () => {
  it("as root with another user's HOME: refused with exit 6, and nothing written there", async () => {
    // What `sudo` without -H gives: root's euid, the user's HOME.
    const theirs = join(home, "someone");
    await mkdir(theirs);
    await chown(theirs, 65534, 65534);
    const run = await runInstaller(theirs, serverArgs(server));
    assert.equal(run.code, 6, run.stderr);
    assert.match(run.stderr, /Running as root \(sudo\?\) with HOME=.*belongs to another user/);
    assert.match(run.stderr, /hint: Run the installer without sudo/);
    assert.deepEqual(await readdir(theirs), []);
  });
});

describe("uninstall asks at the terminal", () => {
  it("with no terminal to ask on and no -y: nothing removed, exit 2, and how to confirm", async () => {
    assert.equal((await runInstaller(home, serverArgs(server))).code, 0);
    // setsid: a session with no controlling terminal, as in CI or a cron job.
    requireTool("setsid");
    const run = await runInstaller(home, [], {
      command: ["setsid", "-w", process.execPath, CLI, "uninstall"],
    });
    assert.equal(run.code, 2, run.stderr);
    assert.match(
      run.stderr,
      /error: Nothing was removed: uninstall asks first, and there is no terminal to ask on\./,
    );
    assert.match(run.stderr, /hint: Run it again with -y/);
    assert.ok(existsSync(join(home, ".local", "bin", "runmat")));
  });
});

describe("reinstall elsewhere", () => {
  it("refuses to leave the first install behind; after uninstall, the new directory works and nothing is left", async () => {
    assert.equal((await runInstaller(home, serverArgs(server))).code, 0);
    const mybin = join(home, "mybin");
    const refused = await runInstaller(home, [...serverArgs(server), "--dir", mybin]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(
      refused.stderr,
      /already installed in .*\.local\/bin; installing into .*mybin as well would leave that one behind/,
    );
    assert.match(refused.stderr, /hint: Run runmat-install uninstall first/);
    assert.equal(existsSync(join(mybin, "runmat")), false);
    assert.equal((await runInstaller(home, ["uninstall", "-y"])).code, 0);
    assert.equal((await runInstaller(home, [...serverArgs(server), "--dir", mybin])).code, 0);
    assert.equal((await runInstaller(home, ["uninstall", "-y"])).code, 0);
    assert.equal(existsSync(join(mybin, "runmat")), false);
    assert.equal(existsSync(join(home, ".local", "bin", "runmat")), false);
  });
});

describe("a read-only HOME", () => {
  it("says why PATH was left alone, and how to remove an install no receipt records", async () => {
    const dir = await makeHome("dir");
    const readOnly = await readOnlyDuringRun(home);
    try {
      const run = await runInstaller(home, [...serverArgs(server), "--dir", dir], {
        command: readOnly.command,
      });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /PATH was not changed \(HOME is read-only\)/);
      assert.doesNotMatch(run.stderr, /--no-modify-path/);
      assert.match(
        run.stderr,
        /No install receipt was written, so runmat-install cannot update or uninstall it: delete .*runmat to remove it\./,
      );
      assert.doesNotMatch(run.stderr, /To uninstall:/);
    } finally {
      await readOnly.restore();
      await cleanHome(dir);
    }
  });
});

describe("two installs at once", () => {
  it("keep the record of the directory the first one created: uninstall then removes it", async () => {
    const dir = join(home, "tools", "bin");
    // The first download is quick, the second slow: the one that created the directory commits first.
    server.fault("/download/", { kind: "slow", chunks: 10, delayMs: 50 }, 1);
    server.fault("/download/", { kind: "slow", chunks: 40, delayMs: 50 }, 1, 1);
    const first = runInstaller(home, [...serverArgs(server), "--dir", dir, "--no-modify-path"]);
    for (let i = 0; i < 400 && !server.requests.some((r) => r.path.includes("/download/")); i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const second = runInstaller(home, [...serverArgs(server), "--dir", dir, "--no-modify-path", "--force"]);
    const [a, b] = await Promise.all([first, second]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const uninstall = await runInstaller(home, ["uninstall", "-y"]);
    assert.equal(uninstall.code, 0, uninstall.stderr);
    assert.equal(existsSync(join(home, "tools")), false, "the directories the install created are gone");
  });
});

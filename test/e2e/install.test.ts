import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { releaseTarGz, releaseZip, sha256, tarGz } from "../fixtures/archives.js";
import { type ForwardProxy, startProxy } from "../fixtures/proxy.js";
import { ReleaseServer } from "../fixtures/release-server.js";
import { cleanHome, diffTrees, makeHome, runInstaller, snapshotTree } from "../fixtures/run.js";
import { assetName, HOST_PLATFORM, publishRelease, serverArgs } from "../fixtures/world.js";

let server: ReleaseServer;
let home: string;

function runmatVersion(binary: string): string {
  return execFileSync(binary, ["--version"], { encoding: "utf8" }).trim();
}

function bin(): string {
  return join(home, ".local", "bin", "runmat");
}

async function stagingLeftovers(): Promise<string[]> {
  const names = [
    ...(await readdir(join(home, ".local")).catch(() => [])),
    ...(await readdir(join(home, ".local", "bin")).catch(() => [])),
  ];
  return names.filter((name) => name.includes("runmat-install") || name.includes(".runmat-"));
}

before(async () => {
  server = await new ReleaseServer().start();
});
after(async () => {
  await server.stop();
});
beforeEach(async () => {
  home = await makeHome();
  server.reset();
});
afterEach(async () => {
  await cleanHome(home);
});

describe("install from a release", () => {
  it("installs the latest release into a fresh HOME, and the binary runs from a new login shell", async () => {
    publishRelease(server, "v0.6.1");
    const run = await runInstaller(home, serverArgs(server));
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Installed RunMat v0\.6\.1/);
    assert.equal(runmatVersion(bin()), "runmat 0.6.1");
    const receipt = JSON.parse(await readFile(join(home, ".runmat", "install-receipt.json"), "utf8"));
    assert.equal(receipt.version, "v0.6.1");
    assert.equal(receipt.platform, HOST_PLATFORM);
    assert.deepEqual(receipt.files, [bin()]);
    const found = execFileSync("bash", ["-lc", "command -v runmat"], {
      env: { HOME: home, PATH: "/usr/bin:/bin" },
      encoding: "utf8",
    }).trim();
    assert.equal(found, bin());
    assert.deepEqual(await stagingLeftovers(), []);
  });

  it("is idempotent: a second run changes nothing and downloads nothing", async () => {
    publishRelease(server, "v0.6.1");
    assert.equal((await runInstaller(home, serverArgs(server))).code, 0);
    const before = await snapshotTree(home);
    server.requests.length = 0;
    const second = await runInstaller(home, serverArgs(server));
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /already installed/);
    assert.deepEqual(diffTrees(before, await snapshotTree(home)), []);
    assert.equal(server.requests.filter((r) => r.path.startsWith("/download/")).length, 0);
  });

  it("installs a pinned version (with or without v) and otherwise the latest", async () => {
    publishRelease(server, "v0.6.1");
    publishRelease(server, "v0.7.0");
    const pinned = await runInstaller(home, [...serverArgs(server), "0.6.1"]);
    assert.equal(pinned.code, 0, pinned.stderr);
    assert.equal(runmatVersion(bin()), "runmat 0.6.1");
    const latest = await runInstaller(home, serverArgs(server));
    assert.equal(latest.code, 0, latest.stderr);
    assert.equal(runmatVersion(bin()), "runmat 0.7.0");
    const viaEnv = await runInstaller(home, serverArgs(server), { env: { RUNMAT_VERSION: "v0.6.1" } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.equal(runmatVersion(bin()), "runmat 0.6.1");
  });

  it("explains a missing asset and lists what the release has", async () => {
    server.publish("v0.6.1", [{ name: "runmat-v0.6.1-windows-x86_64.zip", data: releaseZip() }]);
    const run = await runInstaller(home, serverArgs(server));
    assert.equal(run.code, 3);
    assert.match(run.stderr, new RegExp(`No build of v0\\.6\\.1 for ${HOST_PLATFORM}`));
    assert.match(run.stderr, /runmat-v0\.6\.1-windows-x86_64\.zip/);
    assert.equal(existsSync(bin()), false);
  });

  it("reports an unknown version (API 404)", async () => {
    publishRelease(server, "v0.6.1");
    const run = await runInstaller(home, [...serverArgs(server), "v9.9.9"]);
    assert.equal(run.code, 3);
    assert.match(run.stderr, /Release v9\.9\.9 was not found in runmat-org\/runmat/);
    assert.match(run.stderr, /hint:/);
  });

  it("retries an API 500 and succeeds; fails cleanly when it persists", async () => {
    publishRelease(server, "v0.6.1");
    server.fault("/releases/latest", { kind: "status", status: 500 }, 1);
    const retried = await runInstaller(home, serverArgs(server));
    assert.equal(retried.code, 0, retried.stderr);
    assert.equal(server.requests.filter((r) => r.path.endsWith("/releases/latest")).length, 2);

    const other = await makeHome();
    try {
      server.fault("/releases/latest", { kind: "status", status: 500 }, 10);
      const failed = await runInstaller(other, serverArgs(server));
      assert.equal(failed.code, 3);
      assert.match(failed.stderr, /HTTP 500/);
      assert.equal(existsSync(join(other, ".local", "bin", "runmat")), false);
    } finally {
      await cleanHome(other);
    }
  });

  for (const status of [403, 429]) {
    it(`with a token, names GITHUB_TOKEN on an API ${status} rate limit`, async () => {
      publishRelease(server, "v0.6.1");
      server.fault("/releases/", { kind: "status", status, headers: { "x-ratelimit-remaining": "0" } }, 1);
      const run = await runInstaller(home, serverArgs(server), {
        env: { GITHUB_TOKEN: "ghp_expiredToken0123456789" },
      });
      assert.equal(run.code, 3);
      assert.match(run.stderr, /rate limit/);
      assert.match(run.stderr, /GITHUB_TOKEN/);
      assert.match(run.stderr, /GH_TOKEN/);
    });
  }

  it("refuses a digest mismatch, installs nothing and keeps the earlier install working", async () => {
    publishRelease(server, "v0.6.1");
    assert.equal((await runInstaller(home, serverArgs(server))).code, 0);
    const before = await snapshotTree(home);
    server.publish("v0.7.0", [
      { name: assetName("v0.7.0"), data: releaseTarGz("0.7.0"), digest: `sha256:${"0".repeat(64)}` },
    ]);
    const run = await runInstaller(home, serverArgs(server));
    assert.equal(run.code, 4);
    assert.match(run.stderr, /Checksum mismatch/);
    assert.equal(runmatVersion(bin()), "runmat 0.6.1");
    assert.deepEqual(diffTrees(before, await snapshotTree(home)), []);
  });

  it("falls back to SHA256SUMS when the asset has no digest, and fails on a mismatch there", async () => {
    const data = releaseTarGz("0.6.1");
    const name = assetName("v0.6.1");
    server.publish("v0.6.1", [
      { name, data, digest: null },
      { name: "SHA256SUMS", data: Buffer.from(`${sha256(data)}  ${name}\n`) },
    ]);
    assert.equal((await runInstaller(home, serverArgs(server))).code, 0);
    const other = await makeHome();
    try {
      server.publish("v0.6.1", [
        { name, data, digest: null },
        { name: "SHA256SUMS", data: Buffer.from(`${"a".repeat(64)}  ${name}\n`) },
      ]);
      const run = await runInstaller(other, serverArgs(server));
      assert.equal(run.code, 4);
      assert.match(run.stderr, /Checksum mismatch/);
    } finally {
      await cleanHome(other);
    }
  });

  it("warns without a checksum, and fails under --require-checksum", async () => {
    server.publish("v0.6.1", [{ name: assetName("v0.6.1"), data: releaseTarGz("0.6.1"), digest: null }]);
    const strict = await runInstaller(home, [...serverArgs(server), "--require-checksum"]);
    assert.equal(strict.code, 4);
    assert.match(strict.stderr, /No SHA-256/);
    assert.equal(existsSync(bin()), false);
    const lenient = await runInstaller(home, serverArgs(server));
    assert.equal(lenient.code, 0, lenient.stderr);
    assert.match(lenient.stderr, /unverified/);
  });

  for (const kind of ["truncate", "reset"] as const) {
    it(`resumes after a ${kind} mid-stream, and fails cleanly when it keeps happening`, async () => {
      const asset = publishRelease(server, "v0.6.1");
      server.fault("/download/", { kind, fraction: 0.5 }, 1);
      const run = await runInstaller(home, serverArgs(server));
      assert.equal(run.code, 0, run.stderr);
      assert.equal(runmatVersion(bin()), "runmat 0.6.1");
      const downloads = server.requests.filter((r) => r.path.startsWith("/download/"));
      assert.equal(downloads.length, 2);
      assert.equal(downloads[1].headers.range, `bytes=${Math.floor(asset.data.length * 0.5)}-`);

      const other = await makeHome();
      try {
        server.fault("/download/", { kind, fraction: 0.5 }, 10);
        const failed = await runInstaller(other, serverArgs(server));
        assert.equal(failed.code, 3);
        assert.match(failed.stderr, /failed after 4 attempts/);
        assert.equal(existsSync(join(other, ".local", "bin", "runmat")), false);
        assert.deepEqual(await readdir(join(other, ".local")).catch(() => []), []);
      } finally {
        await cleanHome(other);
      }
    });
  }

  it("times out a stalled server and fails cleanly", async () => {
    publishRelease(server, "v0.6.1");
    server.fault("/download/", { kind: "stall" }, 10);
    const started = Date.now();
    const run = await runInstaller(home, [...serverArgs(server), "--timeout", "0.5"]);
    assert.equal(run.code, 3);
    assert.match(run.stderr, /stopped answering \(timed out\)/);
    assert.ok(Date.now() - started < 20_000);
    assert.equal(existsSync(bin()), false);
  });

  for (const [label, entries] of [
    ["a ../ entry", [{ name: "../evil", content: "x" }]],
    ["an absolute path", [{ name: "/tmp/runmat-evil", content: "x" }]],
    [
      "a symlink escape",
      [
        { name: "link", type: "SymbolicLink" as const, linkpath: "/tmp" },
        { name: "link/runmat-evil", content: "x" },
      ],
    ],
  ] as const) {
    it(`refuses an archive with ${label}`, async () => {
      server.publish("v0.6.1", [
        {
          name: assetName("v0.6.1"),
          data: tarGz([...entries, { name: "runmat", content: "x", mode: 0o755 }]),
        },
      ]);
      const run = await runInstaller(home, serverArgs(server));
      assert.equal(run.code, 4, run.stderr);
      assert.match(run.stderr, /Refusing the archive/);
      assert.equal(existsSync("/tmp/runmat-evil"), false);
      assert.equal(existsSync(join(home, ".local", "evil")), false);
      assert.equal(existsSync(bin()), false);
    });
  }
});

describe("offline and planning", () => {
  it("installs from --archive (.tar.gz and .zip) with no network", async () => {
    const dir = join(home, "downloads");
    await mkdir(dir);
    const tarFile = join(dir, assetName("v0.6.1"));
    await writeFile(tarFile, releaseTarGz("0.6.1"));
    const offline = ["--github-api", "http://127.0.0.1:9"];
    const run = await runInstaller(home, [...offline, "--archive", tarFile]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(runmatVersion(bin()), "runmat 0.6.1");

    const zipFile = join(dir, assetName("v0.7.0", ".zip"));
    await writeFile(zipFile, releaseZip("0.7.0"));
    const zipRun = await runInstaller(home, [...offline, "--archive", zipFile]);
    assert.equal(zipRun.code, 0, zipRun.stderr);
    assert.equal(runmatVersion(bin()), "runmat 0.7.0");
  });

  it("--dry-run prints the plan and writes nothing", async () => {
    publishRelease(server, "v0.6.1");
    const before = await snapshotTree(home);
    const run = await runInstaller(home, [...serverArgs(server), "--dry-run"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /version: +v0\.6\.1/);
    assert.match(run.stdout, new RegExp(assetName("v0.6.1").replace(/\./g, "\\.")));
    assert.match(run.stdout, /\.profile/);
    assert.deepEqual(diffTrees(before, await snapshotTree(home)), []);
    assert.equal(server.requests.filter((r) => r.path.startsWith("/download/")).length, 0);
  });

  it("--json prints one result object", async () => {
    publishRelease(server, "v0.6.1");
    const run = await runInstaller(home, [...serverArgs(server), "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout);
    assert.equal(result.ok, true);
    assert.equal(result.version, "v0.6.1");
    assert.equal(result.path, bin());
    const failed = await runInstaller(home, [...serverArgs(server), "--json", "v9.9.9"]);
    assert.equal(failed.code, 3);
    assert.deepEqual(JSON.parse(failed.stdout).error.code, "network");
  });

  for (const [label, dir] of [
    ["under /proc, where Node's recursive mkdir never settles", "/proc/runmat-install-test/bin"],
    ["a dangling symbolic link", "DANGLING"],
  ] as const) {
    // The timeout bounds a hang (the bug this guards against); it is not a speed target.
    it(`--dir ${label}: exit 6, with a hint`, { timeout: 60_000 }, async () => {
      publishRelease(server, "v0.6.1");
      const target = dir === "DANGLING" ? join(home, "gone") : dir;
      if (dir === "DANGLING") execFileSync("ln", ["-s", join(home, "nowhere"), target]);
      const run = await runInstaller(home, [...serverArgs(server), "--dir", target]);
      assert.equal(run.code, 6, run.stderr);
      assert.match(run.stderr, new RegExp(`error: Cannot create the directory ${target}`));
      assert.match(run.stderr, /hint: Choose a directory/);
      assert.deepEqual(await stagingLeftovers(), []);
    });
  }

  it("warns at install time when another runmat earlier on PATH would run instead", async () => {
    publishRelease(server, "v0.6.1");
    const other = join(home, "other-bin");
    await mkdir(other);
    await writeFile(join(other, "runmat"), "#!/bin/sh\necho old\n", { mode: 0o755 });
    const run = await runInstaller(home, serverArgs(server), {
      env: { PATH: `${other}:${join(home, ".local", "bin")}:/usr/bin:/bin` },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /warning: Another runmat, ~\/other-bin\/runmat, comes earlier on PATH/);
  });

  it("does not warn when the install directory is not on PATH yet: the env file puts it first", async () => {
    publishRelease(server, "v0.6.1");
    const other = join(home, "other-bin");
    await mkdir(other);
    await writeFile(join(other, "runmat"), "#!/bin/sh\necho old\n", { mode: 0o755 });
    const run = await runInstaller(home, serverArgs(server), { env: { PATH: `${other}:/usr/bin:/bin` } });
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /Another runmat/);
    const found = execFileSync("sh", ["-c", `. "${home}/.runmat/env"; command -v runmat`], {
      env: { HOME: home, PATH: `${other}:/usr/bin:/bin` },
      encoding: "utf8",
    }).trim();
    assert.equal(found, bin());
  });

  it("says where it installed with ~ for HOME, and how to uninstall", async () => {
    publishRelease(server, "v0.6.1");
    const run = await runInstaller(home, serverArgs(server));
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Installed RunMat v0\.6\.1 to ~\/\.local\/bin\/runmat$/m);
    assert.match(run.stderr, /^Added ~\/\.local\/bin to PATH in: ~\/\.profile, ~\/\.bashrc$/m);
    assert.match(run.stderr, /^To uninstall: \S.* uninstall$/m);
  });

  it("refuses a --dir with ':' in its name, which PATH cannot hold, unless PATH is left alone", async () => {
    publishRelease(server, "v0.6.1");
    const dir = join(home, "odd:dir");
    const run = await runInstaller(home, [...serverArgs(server), "--dir", dir]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /contains ":", which separates PATH entries/);
    assert.equal(existsSync(dir), false);
    const kept = await runInstaller(home, [...serverArgs(server), "--dir", dir, "--no-modify-path"]);
    assert.equal(kept.code, 0, kept.stderr);
    assert.ok(existsSync(join(dir, "runmat")));
  });

  it("exits 2 on a usage error", async () => {
    const run = await runInstaller(home, ["not-a-version"]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /is not a version/);
  });

  for (const args of [["--bogus"], ["status", "--dir", "x"], ["telemetry"]]) {
    it(`answers ${args.join(" ")} with one error line and a hint, exit 2`, async () => {
      const run = await runInstaller(home, args);
      assert.equal(run.code, 2);
      assert.match(
        run.stderr,
        /^error: .+\n {2}hint: Run runmat-install --help for the options and commands\.\n$/,
      );
    });
  }
});

describe("PATH", () => {
  async function install(env: Record<string, string> = {}, extra: string[] = []) {
    const run = await runInstaller(home, [...serverArgs(server), "--force", ...extra], { env });
    assert.equal(run.code, 0, run.stderr);
    return run;
  }
  const line = '. "$HOME/.runmat/env" # added by runmat-install';
  const count = (text: string) => text.split("\n").filter((l) => l.replace(/\r$/, "") === line).length;

  it("adds one source line to each existing bash profile, never creating .bash_profile", async () => {
    publishRelease(server, "v0.6.1");
    await writeFile(join(home, ".bashrc"), "# my bashrc\nalias ll='ls -l'");
    await writeFile(join(home, ".profile"), "# profile\r\nexport A=1\r\n");
    await install();
    await install();
    const bashrc = await readFile(join(home, ".bashrc"), "utf8");
    const profile = await readFile(join(home, ".profile"), "utf8");
    assert.equal(count(bashrc), 1);
    assert.equal(count(profile), 1);
    assert.ok(bashrc.startsWith("# my bashrc\nalias ll='ls -l'\n"));
    assert.ok(profile.endsWith(`${line}\r\n`), "keeps CRLF endings");
    assert.equal(existsSync(join(home, ".bash_profile")), false);
    const found = execFileSync("sh", ["-c", `. "${home}/.runmat/env"; command -v runmat`], {
      env: { HOME: home, PATH: "/usr/bin:/bin" },
      encoding: "utf8",
    }).trim();
    assert.equal(found, bin());
  });

  it("honours ZDOTDIR for zsh", async () => {
    publishRelease(server, "v0.6.1");
    const zdotdir = join(home, "zsh");
    await mkdir(zdotdir);
    await install({ SHELL: "/bin/zsh", ZDOTDIR: zdotdir });
    await install({ SHELL: "/bin/zsh", ZDOTDIR: zdotdir });
    assert.equal(count(await readFile(join(zdotdir, ".zshenv"), "utf8")), 1);
    assert.equal(existsSync(join(home, ".zshenv")), false);
    const found = execFileSync("zsh", ["-c", "command -v runmat"], {
      env: { HOME: home, ZDOTDIR: zdotdir, PATH: "/usr/bin:/bin" },
      encoding: "utf8",
    }).trim();
    assert.equal(found, bin());
  });

  it("writes the fish conf.d file once", async () => {
    publishRelease(server, "v0.6.1");
    await install({ SHELL: "/usr/bin/fish" });
    await install({ SHELL: "/usr/bin/fish" });
    const conf = await readFile(join(home, ".config", "fish", "conf.d", "runmat.env.fish"), "utf8");
    assert.match(conf, /source "\$HOME\/\.runmat\/env\.fish"/);
    assert.match(
      await readFile(join(home, ".runmat", "env.fish"), "utf8"),
      new RegExp(`set -gx PATH "${bin().replace(/\/runmat$/, "")}"`),
    );
  });

  it("appends to $GITHUB_PATH once", async () => {
    publishRelease(server, "v0.6.1");
    const githubPath = join(home, "github_path");
    await writeFile(githubPath, "");
    await install({ GITHUB_PATH: githubPath });
    await install({ GITHUB_PATH: githubPath });
    assert.equal(await readFile(githubPath, "utf8"), `${join(home, ".local", "bin")}\n`);
  });

  it("--no-modify-path and RUNMAT_NO_MODIFY_PATH touch no profile", async () => {
    publishRelease(server, "v0.6.1");
    await writeFile(join(home, ".bashrc"), "# mine\n");
    await install({}, ["--no-modify-path"]);
    await install({ RUNMAT_NO_MODIFY_PATH: "1" });
    assert.equal(await readFile(join(home, ".bashrc"), "utf8"), "# mine\n");
    assert.equal(existsSync(join(home, ".runmat", "env")), false);
    assert.equal(existsSync(join(home, ".profile")), false);
  });
});

describe("proxy", () => {
  let proxy: ForwardProxy;
  before(async () => {
    proxy = await startProxy();
  });
  after(() => proxy.close());

  it("downloads through HTTP_PROXY with its credentials", async () => {
    publishRelease(server, "v0.6.1");
    proxy.seen.length = 0;
    const run = await runInstaller(home, serverArgs(server), {
      env: { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(runmatVersion(bin()), "runmat 0.6.1");
    assert.ok(proxy.seen.length > 0, "the proxy saw the traffic");
    assert.ok(proxy.seen.every((request) => request.auth?.startsWith("Basic ")));
  });

  it("fails cleanly when the proxy wants credentials that are missing", async () => {
    publishRelease(server, "v0.6.1");
    const run = await runInstaller(home, serverArgs(server), {
      env: { HTTP_PROXY: proxy.bareUrl, HTTPS_PROXY: proxy.bareUrl },
    });
    assert.equal(run.code, 3);
    assert.match(
      run.stderr,
      /proxy 127\.0\.0\.1:\d+ refused the connection \(HTTP 407: authentication required\)/,
    );
    assert.match(run.stderr, /hint: Put credentials in the proxy URL/);
    assert.equal(existsSync(bin()), false);
  });

  it("says so when the proxy rejects the credentials it was given", async () => {
    publishRelease(server, "v0.6.1");
    const wrong = proxy.bareUrl.replace("://", "://alice:wrong@");
    const run = await runInstaller(home, serverArgs(server), {
      env: { HTTP_PROXY: wrong, HTTPS_PROXY: wrong },
    });
    assert.equal(run.code, 3);
    assert.match(
      run.stderr,
      /error: The proxy 127\.0\.0\.1:\d+ rejected the credentials in its URL \(HTTP 407\)/,
    );
    assert.match(run.stderr, /hint: Check the user name and password in HTTPS_PROXY/);
    assert.doesNotMatch(run.stderr, /wrong/, "the password is never printed");
  });

  it("names the proxy when the proxy refuses connections", async () => {
    publishRelease(server, "v0.6.1");
    const run = await runInstaller(home, serverArgs(server), {
      env: { HTTP_PROXY: "http://127.0.0.1:9", HTTPS_PROXY: "http://127.0.0.1:9" },
    });
    assert.equal(run.code, 3);
    assert.match(
      run.stderr,
      /error: Release lookup failed after 4 attempts: the proxy 127\.0\.0\.1:9 refused the connection/,
    );
    assert.match(run.stderr, /hint: Check that the proxy in HTTPS_PROXY/);
  });
});

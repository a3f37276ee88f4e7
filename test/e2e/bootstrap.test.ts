import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { RELEASE_DIR, serveInstallerRelease } from "../fixtures/binaries.js";
import { ReleaseServer, TelemetrySink } from "../fixtures/release-server.js";
import { cleanHome, makeHome, ROOT, type RunResult, runInstaller } from "../fixtures/run.js";
import { requireTool } from "../fixtures/system-tools.js";
import { toolDirectory } from "../fixtures/tools.js";
import { publishRelease, serverArgs } from "../fixtures/world.js";

const SCRIPT = join(ROOT, "bootstrap", "install.sh");

let server: ReleaseServer;
let sink: TelemetrySink;
let installerUrl: string;
let home: string;
let toolDirs: string;

/** A directory of symlinks to the bootstrapper's tools plus `extra`, to use as the whole PATH. */
const pathWith = (extra: string[]) => toolDirectory(toolDirs, extra);

function bootstrap(
  shell: string[],
  args: string[],
  path: string,
  env: Record<string, string | undefined> = {},
) {
  return runInstaller(home, [], {
    command: [...shell, SCRIPT, ...args],
    env: {
      PATH: path,
      RUNMAT_INSTALLER_URL: installerUrl,
      RUNMAT_NO_TELEMETRY: undefined,
      RUNMAT_TELEMETRY_ENDPOINT: sink.url,
      ...env,
    },
  });
}

function loginShellFinds(): string {
  return execFileSync("bash", ["-lc", "command -v runmat"], {
    env: { HOME: home, PATH: "/usr/bin:/bin" },
    encoding: "utf8",
  }).trim();
}

function assertInstalled(run: RunResult) {
  assert.equal(run.code, 0, run.stderr);
  const runmat = join(home, ".local", "bin", "runmat");
  assert.equal(execFileSync(runmat, ["--version"], { encoding: "utf8" }).trim(), "runmat 0.6.1");
  assert.equal(loginShellFinds(), runmat);
  assert.deepEqual(sink.labels(), ["install_start", "install_complete"]);
  assert.ok(sink.events.every((event) => event.method === "shell"));
}

before(async () => {
  for (const tool of ["dash", "bash", "busybox", "zsh", "shellcheck", "curl", "xz"]) requireTool(tool);
  server = await new ReleaseServer().start();
  sink = await new TelemetrySink().start();
  installerUrl = await serveInstallerRelease(server);
  server.files.set("/install.sh", await readFile(SCRIPT));
  toolDirs = await mkdtemp(join(tmpdir(), "runmat-tools-"));
});
after(async () => {
  await server.stop();
  await sink.stop();
  await rm(toolDirs, { recursive: true, force: true });
});
beforeEach(async () => {
  home = await makeHome();
  server.reset();
  sink.reset();
  publishRelease(server, "v0.6.1");
});
afterEach(async () => {
  await cleanHome(home);
});

describe("install.sh", () => {
  it("is shellcheck -s sh clean", () => {
    execFileSync("shellcheck", ["-s", "sh", SCRIPT], { encoding: "utf8" });
  });

  for (const shell of [["dash"], ["bash"], ["busybox", "sh"], ["zsh"]]) {
    it(`${shell.join(" ")}: the Node fast path installs runmat and puts it on PATH`, async () => {
      const run = await bootstrap(shell, serverArgs(server), await pathWith(["node", "curl"]));
      assertInstalled(run);
      assert.ok(server.requests.some((r) => r.path === "/installer/runmat-install.cjs.gz"));
      assert.ok(!server.requests.some((r) => r.path.endsWith("-linux-x64.gz")), "no binary downloaded");
      assert.ok((server.bytesSent.get("/installer/") ?? 0) < 500 * 1024, "under 500 KB before RunMat");
    });
  }

  for (const shell of [["dash"], ["bash"], ["busybox", "sh"]]) {
    it(`${shell.join(" ")}: without Node, the binary path installs runmat`, async () => {
      const run = await bootstrap(shell, serverArgs(server), await pathWith(["curl"]));
      assertInstalled(run);
      assert.ok(server.requests.some((r) => r.path === "/installer/runmat-install-linux-x64.gz"));
      assert.ok(existsSync(join(home, ".runmat", "installer", "0.1.0", "runmat-install-linux-x64")));
    });
  }

  it("without Node but with xz, takes the binary as .tar.xz, a third smaller than the .gz", async () => {
    const run = await bootstrap(["dash"], serverArgs(server), await pathWith(["curl", "tar", "xz"]));
    assertInstalled(run);
    const asked = server.requests.map((r) => r.path);
    assert.ok(asked.includes("/installer/runmat-install-linux-x64.tar.xz"));
    assert.ok(!asked.includes("/installer/runmat-install-linux-x64.gz"));
    const xz = (await stat(join(RELEASE_DIR, "runmat-install-linux-x64.tar.xz"))).size;
    const gz = (await stat(join(RELEASE_DIR, "runmat-install-linux-x64.gz"))).size;
    assert.ok(xz < gz * 0.8, `xz ${xz} bytes, gzip ${gz}`);
    assert.ok((server.bytesSent.get("/installer/") ?? 0) < gz, "fewer bytes than the gzip path");
  });

  it("a damaged cached .tar.xz with a matching checksum is removed, with exit 4", async () => {
    const data = Buffer.from("this is not xz");
    const sums = (await readFile(join(RELEASE_DIR, "SHA256SUMS"), "utf8")).replace(
      /^[0-9a-f]{64} {2}runmat-install-linux-x64\.tar\.xz$/m,
      `${createHash("sha256").update(data).digest("hex")}  runmat-install-linux-x64.tar.xz`,
    );
    const url = `${server.url}/damaged`;
    for (const name of ["VERSION", "runmat-install-linux-x64.gz"]) {
      server.files.set(`/damaged/${name}`, await readFile(join(RELEASE_DIR, name)));
    }
    server.files.set("/damaged/SHA256SUMS", Buffer.from(sums));
    server.files.set("/damaged/runmat-install-linux-x64.tar.xz", data);
    const run = await bootstrap(["dash"], serverArgs(server), await pathWith(["curl", "tar", "xz"]), {
      RUNMAT_INSTALLER_URL: url,
    });
    assert.equal(run.code, 4, run.stderr);
    assert.match(run.stderr, /could not unpack/);
    assert.equal(
      existsSync(join(home, ".runmat", "installer", "0.1.0", "runmat-install-linux-x64.tar.xz")),
      false,
    );
  });

  it("reuses the cached binary on a second run", async () => {
    const path = await pathWith(["curl"]);
    assert.equal((await bootstrap(["dash"], serverArgs(server), path)).code, 0);
    server.requests.length = 0;
    const again = await bootstrap(["dash"], [...serverArgs(server), "--force"], path);
    assert.equal(again.code, 0, again.stderr);
    assert.ok(!server.requests.some((r) => r.path.endsWith("-linux-x64.gz")), "served from the cache");
  });

  it("keeps the unpacked binary: a warm run neither downloads nor unpacks it again", async () => {
    const path = await pathWith(["curl", "tar", "xz"]);
    const first = await bootstrap(["dash"], serverArgs(server), path);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /runmat-install: downloading runmat-install-linux-x64\.tar\.xz from /);
    const binary = join(home, ".runmat", "installer", "0.1.0", "runmat-install-linux-x64");
    // tar keeps the archive's mtime: a new inode and ctime are what unpacking again would change.
    const before = await stat(binary);
    server.requests.length = 0;
    const again = await bootstrap(["dash"], [...serverArgs(server), "--force"], path);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /downloading runmat-install/);
    assert.ok(
      !server.requests.some((r) => r.path.startsWith("/installer/runmat-install-")),
      "from the cache",
    );
    const after = await stat(binary);
    assert.deepEqual([after.ino, after.ctimeMs], [before.ino, before.ctimeMs], "not unpacked again");
  });

  it("works with wget (busybox) instead of curl", async () => {
    const path = await pathWith(["node"]);
    await symlink("/usr/bin/busybox", join(path, "wget"));
    assertInstalled(await bootstrap(["busybox", "sh"], serverArgs(server), path));
  });

  it("runs under `curl … | sh -s -- ARGS`, passing the arguments through", async () => {
    const path = await pathWith(["node", "curl"]);
    const run = await runInstaller(home, [], {
      command: [
        "dash",
        "-c",
        `curl -fsSL ${server.url}/install.sh | dash -s -- "$@"`,
        "sh",
        ...serverArgs(server),
        "--no-modify-path",
      ],
      env: {
        PATH: path,
        RUNMAT_INSTALLER_URL: installerUrl,
        RUNMAT_NO_TELEMETRY: undefined,
        RUNMAT_TELEMETRY_ENDPOINT: sink.url,
      },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(existsSync(join(home, ".local", "bin", "runmat")));
    assert.equal(existsSync(join(home, ".profile")), false, "--no-modify-path reached the installer");
  });

  it("exits with the installer's exit code", async () => {
    const run = await bootstrap(
      ["dash"],
      [...serverArgs(server), "v9.9.9"],
      await pathWith(["node", "curl"]),
    );
    assert.equal(run.code, 3);
    assert.match(run.stderr, /Release v9\.9\.9 was not found/);
  });

  it("a download cut anywhere runs nothing and fails", async () => {
    const script = await readFile(SCRIPT, "utf8");
    try {
      for (const fraction of [0.1, 0.3, 0.5, 0.7, 0.9, 0.995]) {
        server.files.set("/install.sh", Buffer.from(script.slice(0, Math.floor(script.length * fraction))));
        const run = await runInstaller(home, [], {
          command: ["dash", "-c", `curl -fsSL ${server.url}/install.sh | dash`],
          env: { PATH: await pathWith(["curl", "node"]), RUNMAT_INSTALLER_URL: installerUrl },
        });
        assert.notEqual(run.code, 0, `cut at ${fraction}`);
        assert.equal(existsSync(join(home, ".runmat")), false, `cut at ${fraction}`);
        assert.ok(!server.requests.some((r) => r.path.startsWith("/installer/")), `cut at ${fraction}`);
      }
    } finally {
      server.files.set("/install.sh", Buffer.from(script));
    }
  });

  it("refuses a tampered installer binary, reporting its own install_start and install_failed", async () => {
    const original = server.files.get("/installer/runmat-install-linux-x64.gz")!;
    const tampered = Buffer.from(original);
    tampered[tampered.length - 100] ^= 0xff;
    server.files.set("/installer/runmat-install-linux-x64.gz", tampered);
    try {
      const run = await bootstrap(["dash"], serverArgs(server), await pathWith(["curl"]));
      assert.equal(run.code, 4);
      assert.match(run.stderr, /checksum mismatch for runmat-install-linux-x64\.gz/);
      assert.equal(existsSync(join(home, ".local", "bin", "runmat")), false);
      assert.equal(
        existsSync(join(home, ".runmat", "installer", "0.1.0", "runmat-install-linux-x64.gz")),
        false,
      );
      assert.deepEqual(sink.labels(), ["install_start", "install_failed"]);
      for (const event of sink.events) {
        assert.deepEqual(Object.keys(event).sort(), [
          "arch",
          "cid",
          "event_label",
          "method",
          "os",
          "platform",
          "release",
        ]);
        assert.equal(event.method, "shell");
        assert.equal(event.platform, "linux-x86_64");
        assert.equal(event.release, "unknown");
      }
      const id = (await readFile(join(home, ".runmat", "telemetry_id"), "utf8")).trim();
      assert.equal(sink.events[0].cid, id);
    } finally {
      server.files.set("/installer/runmat-install-linux-x64.gz", original);
    }
  });

  for (const [name, env, args] of [
    ["DO_NOT_TRACK=1", { DO_NOT_TRACK: "1" }, []],
    ["DO_NOT_TRACK=yes", { DO_NOT_TRACK: "yes" }, []],
    ["RUNMAT_TELEMETRY=off", { RUNMAT_TELEMETRY: "off" }, []],
    ["--no-telemetry", {}, ["--no-telemetry"]],
  ] as [string, Record<string, string>, string[]][]) {
    it(`early failures send nothing and write no id when opted out by ${name}`, async () => {
      server.fault("/installer/SHA256SUMS", { kind: "status", status: 404 }, 10);
      const optedOut = await bootstrap(
        ["dash"],
        [...serverArgs(server), ...args],
        await pathWith(["curl"]),
        env,
      );
      assert.equal(optedOut.code, 3);
      assert.equal(sink.events.length, 0);
      assert.equal(existsSync(join(home, ".runmat", "telemetry_id")), false);
      assert.doesNotMatch(optedOut.stderr, /sending anonymous/);
    });
  }

  it("early failures reuse a legacy id, saying first that they send", async () => {
    server.fault("/installer/SHA256SUMS", { kind: "status", status: 404 }, 10);
    execFileSync("sh", [
      "-c",
      `mkdir -p "${home}/.runmat" && echo 1700000000-12345 > "${home}/.runmat/telemetry_id"`,
    ]);
    const counted = await bootstrap(["dash"], serverArgs(server), await pathWith(["curl"]));
    assert.equal(counted.code, 3);
    assert.match(counted.stderr, /sending anonymous install_start and install_failed events/);
    assert.deepEqual(
      sink.events.map((e) => [e.event_label, e.cid]),
      [
        ["install_start", "1700000000-12345"],
        ["install_failed", "1700000000-12345"],
      ],
    );
  });

  it("early failures never send the content of a linked id file", async () => {
    server.fault("/installer/SHA256SUMS", { kind: "status", status: 404 }, 10);
    const secret = join(home, "elsewhere");
    execFileSync("sh", [
      "-c",
      `mkdir -p "${home}/.runmat" && echo 0123456789abcdef0123456789abcdef > "${secret}" && ln -s "${secret}" "${home}/.runmat/telemetry_id"`,
    ]);
    const run = await bootstrap(["dash"], serverArgs(server), await pathWith(["curl"]));
    assert.equal(run.code, 3);
    assert.equal(sink.events.length, 2);
    for (const event of sink.events) assert.notEqual(event.cid, "0123456789abcdef0123456789abcdef");
  });

  it("fails clearly without curl or wget", async () => {
    const run = await bootstrap(["dash"], serverArgs(server), await pathWith([]));
    assert.equal(run.code, 5);
    assert.match(run.stderr, /neither curl nor wget/);
  });
});

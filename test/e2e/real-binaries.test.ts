// The real RunMat's Linux build is dynamically linked (OpenBLAS, LAPACK, HDF5, ZeroMQ, OpenSSL)
// against its build machine's glibc. Stand-ins compiled here with gcc fail the ways it can: every
// missing library named with this distribution's install command, a too-new glibc with both
// versions, its own stderr, a crash, a coloured version line, a library gone after install.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { type TarEntry, tarGz } from "../fixtures/archives.js";
import { ReleaseServer } from "../fixtures/release-server.js";
import { cleanHome, makeHome, runInstaller } from "../fixtures/run.js";
import { compile, requireGlibc, versionProgram } from "../fixtures/stand-ins.js";
import { assetName, publishRelease, serverArgs } from "../fixtures/world.js";

const OS_RELEASE = existsSync("/etc/os-release") ? readFileSync("/etc/os-release", "utf8") : "";
const DEBIAN_12 = /^ID=debian$/m.test(OS_RELEASE) && /^VERSION_ID="?12"?$/m.test(OS_RELEASE);

let server: ReleaseServer;
let home: string;
const runmat = () => join(home, ".local", "bin", "runmat");

before(async () => {
  server = await new ReleaseServer().start();
});
after(() => server.stop());
beforeEach(async () => {
  home = await makeHome("real");
  // An earlier, working install that a failed one must leave as it was.
  publishRelease(server, "v0.6.0");
  const earlier = await runInstaller(home, serverArgs(server));
  assert.equal(earlier.code, 0, earlier.stderr);
});
afterEach(async () => {
  server.reset();
  await cleanHome(home);
});

function publish(tag: string, entries: TarEntry[]) {
  server.publish(tag, [{ name: assetName(tag), data: tarGz(entries) }]);
}

const install = (...args: string[]) => runInstaller(home, [...serverArgs(server), ...args]);

function assertEarlierKept() {
  assert.equal(execFileSync(runmat(), ["--version"], { encoding: "utf8" }).trim(), "runmat 0.6.0");
}

describe("system libraries and glibc", () => {
  it("libraries this machine lacks: all named before anything is replaced, with the install command", async () => {
    const standIn = await compile(versionProgram("runmat 0.6.1"), [
      "libopenblas.so.0",
      "libhdf5_serial.so.103",
    ]);
    publish("v0.6.1", [{ name: "runmat", content: standIn.binary, mode: 0o755 }]);
    const run = await install();
    assert.equal(run.code, 7, run.stderr);
    assert.match(
      run.stderr,
      /error: RunMat v0\.6\.1 needs system libraries this machine does not have: libopenblas\.so\.0 and libhdf5_serial\.so\.103 \(OpenBLAS and HDF5\)\./,
    );
    if (DEBIAN_12)
      assert.match(
        run.stderr,
        /hint: Install them with `sudo apt-get install -y libopenblas0 libhdf5-103-1`/,
      );
    assert.match(run.stderr, /--skip-smoke-test/);
    assertEarlierKept();
  });

  it("a glibc newer than this machine's: both versions and the distribution named", async () => {
    const standIn = await compile(versionProgram("runmat 0.6.1"));
    publish("v0.6.1", [{ name: "runmat", content: requireGlibc(standIn.binary, "GLIBC_2.99"), mode: 0o755 }]);
    const run = await install();
    assert.equal(run.code, 7, run.stderr);
    assert.match(
      run.stderr,
      /error: RunMat v0\.6\.1 needs glibc 2\.99; this machine has glibc 2\.\d+ \(.+\)\./,
    );
    assert.match(run.stderr, /hint: Use a newer distribution .*build RunMat from source/);
    assertEarlierKept();
  });

  it("--skip-smoke-test places it anyway; the receipt and status say so, and name what is missing", async () => {
    const standIn = await compile(versionProgram("runmat 0.6.1"), ["libzmq.so.5"]);
    publish("v0.6.1", [{ name: "runmat", content: standIn.binary, mode: 0o755 }]);
    const run = await install("--skip-smoke-test");
    assert.equal(run.code, 0, run.stderr);
    assert.ok(existsSync(runmat()));
    const receipt = JSON.parse(await readFile(join(home, ".runmat", "install-receipt.json"), "utf8"));
    assert.equal(receipt.smokeTest, "skipped");
    const status = await runInstaller(home, ["status", "--offline"]);
    assert.match(status.stdout, /installed with --skip-smoke-test/);
    assert.match(status.stdout, /runmat starts: no: .*libzmq\.so\.5 \(ZeroMQ\)/);
    if (DEBIAN_12) assert.match(status.stdout, /fix: Install them with `sudo apt-get install -y libzmq5`/);
  });

  it("status runs what is installed: a bundled library removed afterwards is found and named", async () => {
    const standIn = await compile(versionProgram("runmat 0.6.1"), ["libgfortran.so.999"]);
    publish("v0.6.1", [
      { name: "runmat", content: standIn.binary, mode: 0o755 },
      ...standIn.libraries.map((library) => ({ name: library.name, content: library.data, mode: 0o755 })),
    ]);
    const run = await install();
    assert.equal(run.code, 0, run.stderr);
    const healthy = await runInstaller(home, ["status", "--offline", "--json"]);
    assert.equal(JSON.parse(healthy.stdout).starts, true);
    await unlink(join(home, ".local", "bin", "libgfortran.so.999"));
    const broken = await runInstaller(home, ["status", "--offline", "--json"]);
    const status = JSON.parse(broken.stdout);
    assert.equal(status.starts, false);
    assert.match(status.startProblem, /libgfortran\.so\.999 \(gfortran\)/);
  });
});

describe("a smoke test that explains itself", () => {
  it("a coloured version line installs", async () => {
    const standIn = await compile(versionProgram("\u001b[1mrunmat\u001b[0m \u001b[32m0.6.1\u001b[0m"));
    publish("v0.6.1", [{ name: "runmat", content: standIn.binary, mode: 0o755 }]);
    const run = await install();
    assert.equal(run.code, 0, run.stderr);
  });

  it("a binary that fails with its own message: the message is shown, escaped, and nothing says to run it by hand", async () => {
    const standIn = await compile(
      '#include <stdio.h>\nint main(void) { fputs("runmat: cannot open \\033[31mGPU\\033[0m device\\n", stderr); return 3; }\n',
    );
    publish("v0.6.1", [{ name: "runmat", content: standIn.binary, mode: 0o755 }]);
    const run = await install();
    assert.equal(run.code, 7, run.stderr);
    assert.match(run.stderr, /exited with code 3: "runmat: cannot open GPU device"/);
    assert.doesNotMatch(run.stderr, /by hand/);
    assertEarlierKept();
  });

  it("a crash: the signal named", async () => {
    const standIn = await compile("#include <signal.h>\nint main(void) { raise(SIGSEGV); return 0; }\n");
    publish("v0.6.1", [{ name: "runmat", content: standIn.binary, mode: 0o755 }]);
    const run = await install();
    assert.equal(run.code, 7, run.stderr);
    assert.match(run.stderr, /killed by SIGSEGV \(it crashed\)/);
    assertEarlierKept();
  });
});

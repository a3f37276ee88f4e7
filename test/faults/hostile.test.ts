// The classes an independent attack broke, each with scenarios built the way the attack built
// them: archives under a correct SHA-256 (a compromised release or mirror), hostile release
// JSON, odd files where the installer keeps its state, and bodies that never end.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import { fakeRunmat, type TarEntry, tarGz, zip, zipWithManyEntries } from "../fixtures/archives.js";
import { assetName, serverArgs } from "../fixtures/world.js";
import { runScenario, type Scenario, World, writeReport } from "./harness.js";

const world = new World();
const runmat: TarEntry = { name: "runmat", content: fakeRunmat("0.7.0"), mode: 0o755 };
const failingRunmat: TarEntry = { name: "runmat", content: fakeRunmat("0.7.0", "fail"), mode: 0o755 };
/** A file outside HOME that nothing may touch, and the mode it must keep. */
let outside: string;
const OUTSIDE_MODE = 0o640;

function publish(w: World, data: Buffer, extension = ".tar.gz") {
  w.server.publish("v0.7.0", [{ name: assetName("v0.7.0", extension), data }]);
}

/** Makes the API answer with the release JSON of v0.7.0, changed by `edit`. */
function serveReleaseJson(w: World, edit: (json: ReturnType<World["server"]["releaseJson"]>) => unknown) {
  const json = w.server.releaseJson("v0.7.0");
  w.server.fault("/releases/", { kind: "garbage", body: JSON.stringify(edit(json) ?? json) }, 10);
}

/** A pid that is certainly not running (a child that has exited). */
function deadPid(): number {
  return spawnSync("true").pid ?? 999_999;
}

const scenario = (
  category: string,
  exit: number,
  name: string,
  s: Omit<Scenario, "name" | "category" | "exit">,
): Scenario => ({
  name,
  category,
  exit,
  ...s,
});

const LINKS = "1 links that climb out";
const NAMES = "2 names from the server";
const COST = "3 cost that grows faster than the input";
const ROLLBACK = "4 rollback that can itself fail";
const SPECIAL = "5 files that are not regular files";
const UNBOUNDED = "6 unbounded downloads";
const OUTPUT = "7 output a server can forge or cut";
const ODD = "8 odd filesystems";

const scenarios: Scenario[] = [
  scenario(LINKS, 4, "a chain of links through ./ components that resolves outside staging", {
    message: /Refusing the archive: entry "here" is a link/,
    arrange: (w) =>
      publish(
        w,
        tarGz([
          { name: "here", type: "SymbolicLink", linkpath: "." },
          { name: "lib/libevil.so", type: "SymbolicLink", linkpath: "../here/here/here/../../../../../.." },
          runmat,
        ]),
      ),
  }),
  scenario(LINKS, 4, "runmat itself a link to a system shell", {
    message: /entry "runmat" is a link/,
    arrange: (w) => publish(w, tarGz([{ name: "runmat", type: "SymbolicLink", linkpath: "/bin/sh" }])),
  }),
  scenario(
    LINKS,
    4,
    "a library linked to a file outside HOME, with a failing smoke test (no chmod through it)",
    {
      message: /is a link/,
      arrange: (w) =>
        publish(
          w,
          tarGz([
            failingRunmat,
            { name: "libx.so", type: "SymbolicLink", linkpath: relative(join(w.home, ".local"), outside) },
          ]),
        ),
      check: async () =>
        assert.equal((await stat(outside)).mode & 0o777, OUTSIDE_MODE, "outside file untouched"),
    },
  ),
  scenario(NAMES, 3, "a tag with / and .. components", {
    message: /tag is not a version/,
    release: "unknown",
    arrange: (w) =>
      serveReleaseJson(w, (json) => {
        json.tag_name = "v0.7.0/../../../../../../../tmp/runmat-fault-tag";
      }),
    check: async () => {
      const escaped = (await readdir(tmpdir())).filter((name) => name.startsWith("runmat-fault-tag"));
      assert.deepEqual(escaped, [], "nothing written outside staging");
    },
  }),
  scenario(OUTPUT, 3, "a tag with terminal escapes and a newline (a forged error line)", {
    message: /tag is not a version/,
    release: "unknown",
    arrange: (w) =>
      serveReleaseJson(w, (json) => {
        json.tag_name = "v0.7.0\u001b[2J\nerror: all your base";
      }),
    check: (_, run) => {
      assert.ok(!run.stderr.includes("\u001b"), "no raw escape reaches the terminal");
      assert.doesNotMatch(run.stderr, /^error: all your base/m);
    },
  }),
  scenario(OUTPUT, 3, "20,000 assets and --json: one complete JSON document, the list cut with a count", {
    message: /and \d+ more/,
    arrange: (w) => {
      serveReleaseJson(w, (json) => {
        json.assets = Array.from({ length: 20_000 }, (_, i) => ({
          name: `runmat-v0.7.0-other-${i}.tar.gz`,
          size: 1,
          digest: null,
          browser_download_url: `${w.server.url}/download/v0.7.0/x${i}`,
        }));
      });
      return { args: [...serverArgs(w.server), "--json"] };
    },
    check: (_, run) => {
      const document = JSON.parse(run.stdout);
      assert.equal(document.ok, false);
      assert.ok(run.stdout.length < 4096, `stdout is ${run.stdout.length} bytes`);
    },
  }),
  scenario(COST, 4, "one tar entry 100,000 directories deep (a few hundred bytes compressed)", {
    message: /longer than 1024 characters/,
    arrange: (w) => publish(w, tarGz([{ name: `${"d/".repeat(100_000)}x`, content: "x" }, runmat])),
  }),
  scenario(COST, 4, "a zip that declares 65,000 entries: refused before reading them", {
    message: /declares more than 10000 entries/,
    arrange: (w) =>
      publish(
        w,
        zipWithManyEntries(65_000, [{ name: "runmat", content: fakeRunmat("0.7.0"), mode: 0o100755 }]),
        ".zip",
      ),
  }),
  scenario(ROLLBACK, 7, "a directory named like a library, and a binary that fails its smoke test", {
    message: /failed its smoke test/,
    arrange: (w) =>
      publish(
        w,
        tarGz([
          failingRunmat,
          { name: "libx.so", type: "Directory" },
          { name: "libx.so/inner", content: "x" },
        ]),
      ),
  }),
  scenario(SPECIAL, 0, "~/.bash_profile is a FIFO", {
    arrange: async (w) => {
      execFileSync("mkfifo", [join(w.home, ".bash_profile")]);
    },
    check: (_, run) => assert.match(run.stderr, /\.bash_profile \(it is not a regular file\)/),
  }),
  scenario(SPECIAL, 0, "the install receipt is a FIFO", {
    arrange: async (w) => {
      await rm(join(w.home, ".runmat", "install-receipt.json"));
      execFileSync("mkfifo", [join(w.home, ".runmat", "install-receipt.json")]);
    },
  }),
  scenario(SPECIAL, 0, "the lock file is a FIFO", {
    arrange: async (w) => {
      execFileSync("mkfifo", [join(w.home, ".local", "bin", ".runmat-install.lock")]);
    },
  }),
  scenario(SPECIAL, 0, "the telemetry id is a link to another file of 32 hex digits", {
    arrange: async (w) => {
      const secret = join(w.home, "not-ours");
      await writeFile(secret, "0123456789abcdef0123456789abcdef\n");
      await rm(join(w.home, ".runmat", "telemetry_id"));
      await symlink(secret, join(w.home, ".runmat", "telemetry_id"));
    },
    check: (w) => {
      for (const event of w.sink.events) assert.notEqual(event.cid, "0123456789abcdef0123456789abcdef");
    },
  }),
  scenario(UNBOUNDED, 4, "a .zip whose body never ends: reading stops at the declared size", {
    message: /sent more than the \d+ bytes the release declares/,
    arrange: (w) => {
      publish(w, zip([{ name: "runmat", content: fakeRunmat("0.7.0"), mode: 0o100755 }]), ".zip");
      w.server.fault("/download/", { kind: "endless" }, 10);
    },
  }),
  scenario(
    UNBOUNDED,
    3,
    "a body that trickles a byte at a time never stalls, and meets the overall deadline",
    {
      message: /took longer than \d+ s/,
      arrange: (w) => {
        publish(w, tarGz([runmat]));
        w.server.fault("/download/", { kind: "trickle", delayMs: 100 }, 10);
        return { args: [...serverArgs(w.server), "--timeout", "0.2"] };
      },
    },
  ),
  scenario(UNBOUNDED, 4, "a .tar.gz whose unverified data expands past 20 times its size", {
    message: /expands to more than 20 times/,
    arrange: (w) => publish(w, tarGz([runmat, { name: "zeros", content: Buffer.alloc(100 * 1024 ** 2) }])),
  }),
  scenario(UNBOUNDED, 4, "an --archive .zip whose data fails its CRC-32 (no checksum file beside it)", {
    message: /CRC-32/,
    arrange: async () => {
      // Stored, not deflated, so the flipped bit is in the entry's data and nothing else notices.
      const bad = zipWithManyEntries(0, [{ name: "runmat", content: fakeRunmat("0.7.0"), mode: 0o100755 }]);
      const at = bad.indexOf("runmat 0.7.0");
      assert.ok(at > 0);
      bad[at] ^= 0x01;
      const dir = await mkdtemp(join(tmpdir(), "runmat-offline-"));
      await writeFile(join(dir, assetName("v0.7.0", ".zip")), bad);
      return { args: ["--archive", join(dir, assetName("v0.7.0", ".zip"))] };
    },
    heal: async (w) => ({ args: serverArgs(w.server) }),
  }),
  scenario(SPECIAL, 0, "a FIFO named SHA256SUMS beside an --archive is no checksum file (and no hang)", {
    message: /installing it unverified/,
    arrange: async () => {
      const dir = await mkdtemp(join(tmpdir(), "runmat-offline-"));
      await writeFile(join(dir, assetName("v0.7.0")), tarGz([runmat]));
      execFileSync("mkfifo", [join(dir, "SHA256SUMS")]);
      return { args: ["--archive", join(dir, assetName("v0.7.0"))] };
    },
  }),
  scenario(UNBOUNDED, 3, "a SHA256SUMS that trickles a byte at a time ends within two --timeouts", {
    message: /sends too slowly/,
    arrange: (w) => {
      w.server.publish("v0.7.0", [
        { name: assetName("v0.7.0"), data: tarGz([runmat]), digest: null },
        { name: "SHA256SUMS", data: Buffer.alloc(4096, "x") },
      ]);
      w.server.fault("/SHA256SUMS", { kind: "trickle", delayMs: 100 }, 10);
      return { args: [...serverArgs(w.server), "--timeout", "1"] };
    },
  }),
  scenario(UNBOUNDED, 3, "a release JSON nested 200,000 deep is refused before it is parsed", {
    release: "unknown",
    message: /did not answer with a GitHub release/,
    arrange: (w) => {
      w.server.fault(
        "/releases/",
        { kind: "garbage", body: `${"[".repeat(200_000)}${"]".repeat(200_000)}` },
        10,
      );
    },
  }),
  scenario(UNBOUNDED, 3, "a 20 MB release JSON is refused at 4 MiB, before it is parsed", {
    release: "unknown",
    message: /sent more than 4 MiB for a small document/,
    arrange: (w) => {
      const json = w.server.releaseJson("v0.7.0");
      const padded = { ...json, body: "x".repeat(20 * 1024 * 1024) };
      w.server.fault("/releases/", { kind: "garbage", body: JSON.stringify(padded) }, 10);
    },
  }),
  scenario(UNBOUNDED, 3, "a SHA256SUMS whose body never ends", {
    message: /sent more than 4 MiB for a small document/,
    arrange: (w) => {
      const data = tarGz([runmat]);
      w.server.publish("v0.7.0", [
        { name: assetName("v0.7.0"), data, digest: null },
        { name: "SHA256SUMS", data: Buffer.from("x") },
      ]);
      w.server.fault("/SHA256SUMS", { kind: "endless" }, 10);
    },
  }),
  scenario(
    ODD,
    0,
    "staging left by killed installers (inside the install directory, and beside it from older versions) is swept",
    {
      arrange: async (w) => {
        for (const parent of [w.bin, join(w.home, ".local")]) {
          const stale = join(parent, `.runmat-install-${deadPid()}-abcdef`);
          await mkdir(join(stale, "unpacked"), { recursive: true });
          await writeFile(join(stale, "unpacked", "runmat"), "half");
        }
        await writeFile(join(w.bin, `.runmat-install.lock.${deadPid()}-abcdef`), "1");
      },
    },
  ),
];

before(async () => {
  await world.start();
  outside = join(await mkdtemp(join(tmpdir(), "runmat-outside-")), "precious");
  await writeFile(outside, "do not touch\n");
  await chmod(outside, OUTSIDE_MODE);
});
after(async () => {
  await world.stop();
  await rm(join(outside, ".."), { recursive: true, force: true });
  await writeReport("6-hostile", world.results);
  assert.ok(!existsSync("/tmp/runmat-fault-tag"));
});

describe("faults: the classes an attack broke", () => {
  // The timeout bounds a hang (what several of these classes did); it is not a speed target.
  for (const s of scenarios)
    it(`${s.category}: ${s.name}`, { timeout: 120_000 }, () => runScenario(world, s));
});

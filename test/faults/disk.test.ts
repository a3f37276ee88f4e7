// The installer's trust in its own files and in the filesystem: a receipt that would aim
// deletes elsewhere, a disk that fills at every write, profiles that are links or read-only,
// locks, output that is cut, names that would move the cursor. Each scenario checks its
// invariant on disk: nothing touched that the installer did not place, no profile partial, and
// every shell starts cleanly afterwards.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import {
  chmod,
  copyFile,
  lstat,
  mkdir,
  readdir,
  readFile,
  rm,
  statfs,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { crc32, deflateRawSync } from "node:zlib";
import { planUnixPath } from "../../src/paths/plan.js";
import { fakeRunmat, releaseTarGz, tarGz } from "../fixtures/archives.js";
import { type ReadOnly, readOnlyDuringRun } from "../fixtures/readonly.js";
import { CLI, cleanHome, diffTrees, makeHome, type RunResult, snapshotTree } from "../fixtures/run.js";
import { type SmallDisk, smallDisk } from "../fixtures/small-disk.js";
import { requireTool } from "../fixtures/system-tools.js";
import { assetName, publishRelease, serverArgs } from "../fixtures/world.js";
import { type CheckInvariant, runCustom, runScenario, type Scenario, World, writeReport } from "./harness.js";

const world = new World();
const DISK = "9 the installer's own files";
const PROFILE_LINE = '. "$HOME/.runmat/env" # added by runmat-install';
const PROFILES = [".profile", ".bashrc", ".bash_profile", ".bash_login", ".zshenv"];
let readOnly: ReadOnly | null = null;
/** A second small disk that holds one profile, released by its scenario (or at the end). */
let profileDisk: SmallDisk | null = null;

const receiptFile = () => join(world.home, ".runmat", "install-receipt.json");

async function editReceipt(edit: (receipt: Record<string, unknown> & { files: string[] }) => void) {
  const receipt = JSON.parse(await readFile(receiptFile(), "utf8"));
  edit(receipt);
  await writeFile(receiptFile(), JSON.stringify(receipt, null, 2));
}

/** What a new login or interactive shell would print while reading HOME's profiles. */
function shellComplaints(home: string): string {
  const files = PROFILES.map((name) => join(home, name)).filter((file) => existsSync(file));
  const run = spawnSync("bash", ["-c", 'for f; do . "$f" || exit 1; done', "_", ...files], {
    env: { HOME: home, PATH: "/usr/bin:/bin" },
    encoding: "utf8",
  });
  return run.status === 0 ? run.stderr : `exit ${run.status}: ${run.stderr}`;
}

/** Each profile either holds our line whole, once, at the end of a line, or not at all. */
async function profilesWhole(home: string): Promise<void> {
  for (const name of PROFILES) {
    const text = await readFile(join(home, name), "utf8").catch(() => null);
    if (text === null) continue;
    assert.ok(text === "" || /\n$|^[^\n]*$/.test(text) || text.endsWith("export A=1"), `${name} ends whole`);
    const fragments = text
      .split(/\r?\n/)
      .filter((line) => line.includes(".runmat/env") || line.includes('. "$HO'));
    for (const line of fragments) assert.equal(line, PROFILE_LINE, `${name} holds only whole lines of ours`);
  }
}

/** Files that a run must never leave: staging, locks, swap and temporary files. */
async function strayFiles(root: string): Promise<string[]> {
  const found: string[] = [];
  async function walk(dir: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (/^\.runmat-install|\.runmat-(old|new|tmp)-|\.tmp-\d+-/.test(entry.name))
        found.push(join(dir, entry.name));
      if (entry.isDirectory()) await walk(join(dir, entry.name));
    }
  }
  await walk(root);
  return found;
}

function checkOneError(run: RunResult, code: number): void {
  assert.equal(run.code, code, run.stderr);
  assert.ok(!/^\s+at /m.test(run.stderr), "no stack trace");
  if (code !== 0) {
    const lines = run.stderr.split("\n");
    assert.equal(lines.filter((l) => l.startsWith("error: ")).length, 1, "one error line");
    assert.match(lines[lines.findIndex((l) => l.startsWith("error: ")) + 1] ?? "", /^ {2}hint: \S/);
  }
}

/** A tampered receipt: uninstall and update refuse it with exit 6 and touch nothing; status runs nothing it names. */
function tamperedReceipt(name: string, tamper: (w: World) => Promise<string[]>, message = /tampered/) {
  return runCustom(world, { name, category: DISK, exit: 6, invariants: ["exit", "state"] }, async (check) => {
    await world.freshHome();
    try {
      const watched = await tamper(world);
      const before = await snapshotTree(world.home);
      const watchedBefore = await Promise.all(watched.map((dir) => snapshotTree(dir)));
      const uninstall = await world.run({ args: ["uninstall", "-y"] });
      const update = await world.run({ args: ["update", ...serverArgs(world.server)] });
      const status = await world.run({ args: ["status", "--offline"] });
      await check("exit", () => {
        checkOneError(uninstall, 6);
        checkOneError(update, 6);
        assert.match(uninstall.stderr, message);
        assert.match(update.stderr, message);
        assert.equal(status.code, 0, status.stderr);
        assert.match(status.stdout, /not installed by runmat-install \(receipt: untrusted|receipt: corrupt/);
      });
      await check("state", async () => {
        assert.deepEqual(diffTrees(before, await snapshotTree(world.home)), [], "HOME untouched");
        for (const [i, dir] of watched.entries()) {
          assert.deepEqual(diffTrees(watchedBefore[i], await snapshotTree(dir)), [], `${dir} untouched`);
        }
        assert.equal(world.runmatVersion(), "runmat 0.6.1");
      });
      return uninstall.code;
    } finally {
      await cleanHome(world.home);
    }
  });
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * One scenario of this file that drives the installer itself (exit 0; exit and state checked),
 * in a HOME of its own: an empty one named `home`, or "an earlier install" (World.freshHome).
 */
function customInHome(name: string, home: string, body: (check: CheckInvariant) => Promise<number | null>) {
  return runCustom(world, { name, category: DISK, exit: 0, invariants: ["exit", "state"] }, async (check) => {
    if (home === "an earlier install") await world.freshHome();
    else world.home = await makeHome(home);
    try {
      return await body(check);
    } finally {
      await cleanHome(world.home);
    }
  });
}

/**
 * `uninstall -y` in a HOME with an earlier install, after `arrange` (which may return the command
 * to run it with): exit 0 with `said` on stderr, `check` on disk, and every shell starts cleanly.
 */
function uninstallScenario(
  name: string,
  scenario: {
    // biome-ignore lint/suspicious/noConfusingVoidType: most arrangements only change files
    arrange?: (w: World) => Promise<string[] | void>;
    said?: RegExp;
    check: (w: World) => Promise<void>;
  },
) {
  return customInHome(name, "an earlier install", async (check) => {
    const command = (await scenario.arrange?.(world)) ?? undefined;
    const run = await world.run({ args: ["uninstall", "-y"], command });
    await check("exit", () => {
      checkOneError(run, 0);
      if (scenario.said) assert.match(run.stderr, scenario.said);
    });
    await check("state", async () => {
      await scenario.check(world);
      assert.equal(shellComplaints(world.home), "");
    });
    return run.code;
  });
}

/** Another user's directory with files named like RunMat's, and a program that says if it ran. */
async function foreignDirectory(w: World): Promise<string> {
  const other = join(w.home, "elsewhere");
  await mkdir(join(other, "emptydir"), { recursive: true });
  await writeFile(join(other, "runmat"), `#!/bin/sh\ntouch "${join(other, "RAN")}"\necho runmat 0.6.1\n`, {
    mode: 0o755,
  });
  await writeFile(join(other, "libkeep.so.1"), "the user's own library");
  return other;
}

/**
 * Leaves `pages` 4 KiB pages free on the filesystem of `directory` (a small tmpfs), with a
 * filler file outside HOME; returns a function that frees the space again.
 */
async function fillDisk(directory: string, pages: number): Promise<() => Promise<void>> {
  const filler = join(directory, "filler");
  const free = await statfs(directory);
  const size = free.bavail * free.bsize - pages * 4096;
  if (size > 0) await writeFile(filler, Buffer.alloc(size));
  return () => rm(filler, { force: true });
}

/** A raw zip whose central records may point at the same local entry (overlapping entries). */
function zipWithOverlaps(
  locals: { name: string; data: Buffer; stored: Buffer; method: number }[],
  centrals: { name: string; local: number; mode?: number }[],
): Buffer {
  const parts: Buffer[] = [];
  const offsets: number[] = [];
  let offset = 0;
  for (const local of locals) {
    const name = Buffer.from(local.name);
    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(20, 4);
    header.writeUInt16LE(local.method, 8);
    header.writeUInt32LE(crc32(local.data), 14);
    header.writeUInt32LE(local.stored.length, 18);
    header.writeUInt32LE(local.data.length, 22);
    header.writeUInt16LE(name.length, 26);
    offsets.push(offset);
    parts.push(header, name, local.stored);
    offset += 30 + name.length + local.stored.length;
  }
  const directory: Buffer[] = [];
  for (const central of centrals) {
    const local = locals[central.local];
    const name = Buffer.from(central.name);
    const record = Buffer.alloc(46);
    record.writeUInt32LE(0x02014b50, 0);
    record.writeUInt16LE(0x0314, 4);
    record.writeUInt16LE(20, 6);
    record.writeUInt16LE(local.method, 10);
    record.writeUInt32LE(crc32(local.data), 16);
    record.writeUInt32LE(local.stored.length, 20);
    record.writeUInt32LE(local.data.length, 24);
    record.writeUInt16LE(name.length, 28);
    record.writeUInt32LE(((central.mode ?? 0o100755) << 16) >>> 0, 38);
    record.writeUInt32LE(offsets[central.local], 42);
    directory.push(record, name);
  }
  const central = Buffer.concat(directory);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(centrals.length, 8);
  end.writeUInt16LE(centrals.length, 10);
  end.writeUInt32LE(central.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, central, end]);
}

const scenario = (name: string, exit: number, s: Omit<Scenario, "name" | "category" | "exit">): Scenario => ({
  name,
  category: DISK,
  exit,
  ...s,
});

const scenarios: Scenario[] = [
  scenario("an empty lock left by a full disk (older than 5 s) is stale, not a holder", 0, {
    arrange: async (w) => {
      const lock = join(w.bin, ".runmat-install.lock");
      await writeFile(lock, "");
      const past = new Date(Date.now() - 60_000);
      await utimes(lock, past, past);
    },
  }),
  scenario(
    "~/.bash_profile on a full disk of its own (a link into it): the line is added whole or not at all",
    0,
    {
      message: /Could not update .*\.bash_profile \(ENOSPC\); add this line yourself/,
      arrange: async (w) => {
        profileDisk = await smallDisk("64k");
        const target = join(profileDisk.path, "bash_profile");
        // 20 bytes short of a page: the line would need a page this disk no longer has.
        await writeFile(target, `# padded\n${"#".repeat(4096 - 20 - 10)}\n`);
        await fillDisk(profileDisk.path, 0);
        await symlink(target, join(w.home, ".bash_profile"));
      },
      check: async (w) => {
        const text = await readFile(join(w.home, ".bash_profile"), "utf8");
        assert.equal(text, `# padded\n${"#".repeat(4096 - 20 - 10)}\n`, "not one byte of a partial line");
        assert.equal(shellComplaints(w.home), "");
        await rm(join(w.home, ".bash_profile"));
        await profileDisk?.release();
        profileDisk = null;
      },
    },
  ),
  scenario("a dangling symlinked ~/.bashrc: no file is created through it, and the rest installs", 0, {
    message:
      /\.bashrc \(it is a symbolic link to .*missing-bashrc, which does not exist\); add this line yourself/,
    arrange: async (w) => {
      await rm(join(w.home, ".bashrc"));
      await symlink(join(w.home, "dotfiles", "missing-bashrc"), join(w.home, ".bashrc"));
    },
    check: async (w) => {
      assert.ok(!existsSync(join(w.home, "dotfiles", "missing-bashrc")), "nothing created through the link");
      assert.ok((await lstat(join(w.home, ".bashrc"))).isSymbolicLink());
      assert.equal(shellComplaints(w.home), "");
    },
  }),
  scenario("an archive entry named with a C1 control (U+009B, a CSI) is refused and shown escaped", 4, {
    message: /entry "lib\\u009b2Jx\.so" has control characters/,
    arrange: (w) => {
      w.server.publish("v0.7.0", [
        {
          name: assetName("v0.7.0"),
          data: tarGz([
            { name: "runmat", content: fakeRunmat("0.7.0"), mode: 0o755 },
            { name: "lib\u009b2Jx.so", content: "x" },
          ]),
        },
      ]);
      return { args: [...serverArgs(w.server), "--json"] };
    },
    check: (_, run) => {
      assert.ok(
        !/[\u0080-\u009f\u202a-\u202e]/.test(run.stdout + run.stderr),
        "no raw C1 or direction mark printed",
      );
      const error = JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "{}");
      assert.match(error.error?.message ?? JSON.stringify(error), /lib\u009b2Jx\.so|lib\\u009b2Jx/);
    },
  }),
  scenario("31 overlapping zip entries declaring 64 MiB each (1.96 GiB from 66 KB) are refused", 4, {
    message: /Refusing the archive: .*(zip bomb|share the same bytes)/,
    arrange: (w) => {
      const zeros = Buffer.alloc(64 * 1024 ** 2);
      const runmat = Buffer.from(fakeRunmat("0.7.0"));
      const data = zipWithOverlaps(
        [
          { name: "runmat", data: runmat, stored: runmat, method: 0 },
          { name: "zeros", data: zeros, stored: deflateRawSync(zeros), method: 8 },
        ],
        [
          { name: "runmat", local: 0 },
          ...Array.from({ length: 31 }, (_, i) => ({ name: `z${i}`, local: 1, mode: 0o100644 })),
        ],
      );
      w.server.publish("v0.7.0", [{ name: assetName("v0.7.0", ".zip"), data }]);
    },
  }),
  scenario("two small zip entries sharing the same bytes are refused", 4, {
    message: /share the same bytes/,
    arrange: (w) => {
      const runmat = Buffer.from(fakeRunmat("0.7.0"));
      const data = zipWithOverlaps(
        [{ name: "runmat", data: runmat, stored: runmat, method: 0 }],
        [
          { name: "runmat", local: 0 },
          { name: "libcopy.so", local: 0 },
        ],
      );
      w.server.publish("v0.7.0", [{ name: assetName("v0.7.0", ".zip"), data }]);
    },
  }),
];

before(async () => {
  requireTool("unshare");
  await world.start();
});
after(async () => {
  await readOnly?.restore();
  await profileDisk?.release();
  await world.stop();
  await writeReport("9-disk", world.results);
});

describe("faults: the installer's own files", () => {
  for (const s of scenarios) it(s.name, { timeout: 120_000 }, () => runScenario(world, s));

  it("refuses a receipt whose dir points elsewhere", () =>
    tamperedReceipt(
      "a receipt whose dir points elsewhere (a runmat, a libkeep.so.1 and an empty dir there)",
      async (w) => {
        const other = await foreignDirectory(w);
        await editReceipt((r) => {
          r.dir = other;
          r.files = [join(other, "runmat"), join(other, "libkeep.so.1")];
          (r.createdDirs as string[]).push(join(other, "emptydir"));
        });
        return [other];
      },
    ));

  it("refuses a receipt that lists a directory", () =>
    tamperedReceipt("a receipt that lists a directory among its files", async (w) => {
      await mkdir(join(w.bin, "libdir.so"));
      await writeFile(join(w.bin, "libdir.so", "keep"), "x");
      await editReceipt((r) => r.files.push(join(w.bin, "libdir.so")));
      return [];
    }));

  it("refuses a receipt that asks to remove a line of another file", () =>
    tamperedReceipt("a receipt that asks to remove the one line of ~/.ssh/authorized_keys", async (w) => {
      await mkdir(join(w.home, ".ssh"));
      await writeFile(join(w.home, ".ssh", "authorized_keys"), `${w.bin}\n`);
      await editReceipt((r) => {
        (r.pathEdits as unknown[]).push({
          kind: "line",
          path: join(w.home, ".ssh", "authorized_keys"),
          line: w.bin,
          createdFile: true,
        });
      });
      return [];
    }));

  it("refuses a receipt downgraded to the unsealed format", () =>
    tamperedReceipt(
      "a receipt edited down to the old unsealed format, listing a user's own library",
      async (w) => {
        await writeFile(join(w.bin, "libmine.so"), "the user's own library");
        await editReceipt((r) => {
          r.schema = 1;
          delete r.seal;
          delete r.fileDigests;
          r.files.push(join(w.bin, "libmine.so"));
        });
        return [];
      },
    ));

  it("refuses a sealed receipt copied from another HOME", () =>
    tamperedReceipt("a sealed receipt copied from another HOME (naming that HOME's files)", async (w) => {
      const donor = await makeHome("donor");
      try {
        publishRelease(w.server, "v0.6.1");
        const run = await w.run({ args: serverArgs(w.server), env: { HOME: donor } });
        assert.equal(run.code, 0, run.stderr);
        await copyFile(join(donor, ".runmat", "install-receipt.json"), receiptFile());
      } finally {
        publishRelease(w.server, "v0.7.0");
      }
      return [donor];
    }).finally(async () => {
      for (const name of await readdir(tmpdir())) {
        if (name.startsWith("runmat-donor-"))
          await rm(join(tmpdir(), name), { recursive: true, force: true });
      }
    }));

  it("refuses a 78 MB receipt (2,000,000 files) before reading it", () =>
    tamperedReceipt(
      "a 78 MB receipt listing 2,000,000 files",
      async (w) => {
        const receipt = JSON.parse(await readFile(receiptFile(), "utf8"));
        receipt.files = Array.from({ length: 2_000_000 }, (_, i) => join(w.bin, `lib${i}.so`));
        await writeFile(receiptFile(), JSON.stringify(receipt));
        return [];
      },
      /unreadable .*more than the 1048576 allowed/,
    ));

  it("installs into a writable --dir under a parent that is not", () =>
    customInHome("--dir writable under a parent that is not: staged inside it", "parent", async (check) => {
      const parent = join(world.home, "locked");
      const dir = join(parent, "bin");
      await mkdir(dir, { recursive: true });
      publishRelease(world.server, "v0.7.0");
      const args = [...serverArgs(world.server), "--dir", dir];
      // Root ignores modes: the parent is made read-only by a mount, the directory kept writable.
      const script =
        'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && mount --bind "$2" "$2" && mount -o remount,bind,rw "$2" && shift 2 && exec "$@"';
      if (process.getuid?.() !== 0) await chmod(parent, 0o555);
      const run = await world.run({
        args,
        command:
          process.getuid?.() === 0
            ? ["unshare", "-m", "sh", "-c", script, "sh", parent, dir, process.execPath, CLI]
            : undefined,
      });
      await chmod(parent, 0o755);
      await check("exit", () => checkOneError(run, 0));
      await check("state", async () => {
        assert.equal(
          execFileSync(join(dir, "runmat"), ["--version"], { encoding: "utf8" }).trim(),
          "runmat 0.7.0",
        );
        assert.deepEqual(await readdir(parent), ["bin"]);
        assert.deepEqual(await strayFiles(world.home), []);
      });
      return run.code;
    }));

  it("keeps a binary the user replaced since the install, and says so", () => {
    const own = "#!/bin/sh\necho my own build\n";
    return uninstallScenario("uninstall keeps a runmat that changed since it was placed", {
      arrange: async (w) => {
        await writeFile(join(w.bin, "runmat"), own, { mode: 0o755 });
      },
      said: /warning: Left .*runmat \(kept: it is not the file runmat-install placed there/,
      check: async (w) => {
        assert.equal(await readFile(join(w.bin, "runmat"), "utf8"), own);
        assert.ok(!(await readFile(join(w.home, ".profile"), "utf8")).includes(PROFILE_LINE));
        assert.ok(!existsSync(receiptFile()));
      },
    });
  });

  it("uninstalls through a symlinked .bashrc: the line goes from its target, the link stays", () =>
    uninstallScenario("uninstall with a symlinked ~/.bashrc keeps the link", {
      check: async (w) => {
        assert.ok((await lstat(join(w.home, ".bashrc"))).isSymbolicLink());
        assert.equal(
          await readFile(join(w.home, "dotfiles", "bashrc"), "utf8"),
          "# my bashrc, kept in a dotfiles repo\n",
        );
      },
    }));

  it("uninstall with a read-only ~/.profile: the line is named, env stays, every shell starts", () => {
    let profile = "";
    return uninstallScenario("uninstall with a read-only ~/.profile", {
      arrange: async (w) => {
        profile = await readFile(join(w.home, ".profile"), "utf8");
        readOnly = await readOnlyDuringRun(join(w.home, ".profile"));
        return readOnly.command;
      },
      said: new RegExp(
        `remove this line from ${escapeRegExp(join(tmpdir(), ""))}.*\\.profile: ${escapeRegExp(PROFILE_LINE)}`,
      ),
      check: async (w) => {
        await readOnly?.restore();
        readOnly = null;
        assert.equal(await readFile(join(w.home, ".profile"), "utf8"), profile);
        assert.ok(existsSync(join(w.home, ".runmat", "env")), "the env file the line sources is kept");
        assert.ok(!existsSync(join(w.bin, "runmat")));
      },
    });
  });

  it("an update whose release drops a library removes the old library", () =>
    customInHome(
      "an update whose release drops a library: no library is left behind",
      "drop",
      async (check) => {
        world.server.publish("v0.6.1", [
          {
            name: assetName("v0.6.1"),
            data: releaseTarGz("0.6.1", "ok", [{ name: "libold.so.1", content: "old" }]),
          },
        ]);
        assert.equal((await world.run()).code, 0);
        assert.ok(existsSync(join(world.bin, "libold.so.1")));
        publishRelease(world.server, "v0.7.0");
        const update = await world.run({ args: ["update", ...serverArgs(world.server)] });
        const uninstall = await world.run({ args: ["uninstall", "-y"] });
        await check("exit", () => {
          checkOneError(update, 0);
          checkOneError(uninstall, 0);
        });
        await check("state", async () => {
          assert.deepEqual(await readdir(world.bin).catch(() => []), []);
        });
        return update.code;
      },
    ));

  it("stdout or stderr closed during a completed install: exit 0, no stack trace", () =>
    customInHome(
      "stdout and stderr closed by the reader (| true): EPIPE is not an error",
      "an earlier install",
      async (check) => {
        const closedStdout = await world.run({
          // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax, not a template
          command: ["bash", "-c", '"$@" | true; exit "${PIPESTATUS[0]}"', "_", process.execPath, CLI],
        });
        await check("exit", async () => {
          checkOneError(closedStdout, 0);
          await rm(join(world.bin, "runmat"));
          const closedStderr = await world.run({
            command: [
              "bash",
              "-c",
              // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax, not a template
              '{ "$@" 2>&1 >&3 | true; exit "${PIPESTATUS[0]}"; } 3>&1',
              "_",
              process.execPath,
              CLI,
            ],
            args: [...serverArgs(world.server), "--force"],
          });
          assert.equal(closedStderr.code, 0, closedStderr.stdout);
        });
        await check("state", () => assert.equal(world.runmatVersion(), "runmat 0.7.0"));
        return closedStdout.code;
      },
    ));

  it("a disk that fills at each write of an install", () =>
    onSmallDisk("ENOSPC at each write of an install (a 4 MiB tmpfs, 0 to 40 pages free)", sweepInstall));

  it("a disk that fills at each write of an uninstall", () =>
    onSmallDisk("ENOSPC at each write of an uninstall (0 to 40 pages free)", sweepUninstall));
});

/** A sweep over a fresh small tmpfs, recorded as one scenario of the matrix. */
async function onSmallDisk(name: string, sweep: (disk: string, check: CheckInvariant) => Promise<number>) {
  const disk = await smallDisk();
  try {
    await runCustom(
      world,
      { name, category: DISK, exit: "0 or 6", invariants: ["exit", "state", "retry"] },
      (check) => sweep(disk.path, check),
    );
  } finally {
    await disk.release();
  }
}

/**
 * Installs v0.7.0 over v0.6.1 (installed with --no-modify-path, so that the profiles are
 * written too) with 0, 1, 2, … pages free, until one install completes without a warning.
 */
async function sweepInstall(disk: string, check: CheckInvariant): Promise<number> {
  const outcomes: string[] = [];
  for (let pages = 0; pages <= 40; pages++) {
    const home = join(disk, "home");
    await rm(home, { recursive: true, force: true });
    await world.freshHome("disk", home, ["--no-modify-path"]);
    // 20 bytes short of a page: our line fits only partly before the disk needs another page.
    await writeFile(join(home, ".bash_profile"), `# padded\n${"#".repeat(4096 - 20 - 10)}\n`);
    // The env files already as the install writes them, so that at some count of free pages the
    // profile append is the write the disk refuses (the env file would otherwise take that page).
    const plan = planUnixPath({ home, directory: world.bin, exists: existsSync });
    for (const file of [plan.envFile, plan.envFishFile]) await writeFile(file.path, file.content);
    const receiptBefore = await readFile(receiptFile(), "utf8");
    const before = await snapshotTree(home);
    const free = await fillDisk(disk, pages);
    const run = await world.run();
    await free();
    // What failed at this many free pages: the first error line, or the first warning.
    const said = /^(?:error|warning): (.{0,60})/m.exec(run.stderr)?.[1] ?? "clean";
    outcomes.push(`${pages} pages: exit ${run.code} (${said})`);
    await check("exit", () => {
      assert.ok(run.code === 0 || run.code === 6, `${pages} pages free: exit ${run.code}: ${run.stderr}`);
      checkOneError(run, run.code ?? -1);
    });
    await check("state", async () => {
      assert.deepEqual(await strayFiles(home), [], `${pages} pages free: no stray files`);
      await profilesWhole(home);
      assert.equal(shellComplaints(home), "", `${pages} pages free: shells start cleanly`);
      if (run.code === 6) {
        assert.deepEqual(
          diffTrees(before, await snapshotTree(home)),
          [],
          `${pages} pages free: HOME as before`,
        );
        assert.equal(await readFile(receiptFile(), "utf8"), receiptBefore);
      } else {
        assert.equal(world.runmatVersion(), "runmat 0.7.0");
        const status = await world.run({ args: ["status", "--offline"] });
        assert.match(status.stdout, /RunMat v0\.7\.0 at /, `${pages} pages free: the receipt says what runs`);
      }
    });
    await check("retry", async () => {
      const retry = await world.run();
      assert.equal(retry.code, 0, retry.stderr);
      assert.equal(world.runmatVersion(), "runmat 0.7.0");
      assert.equal(shellComplaints(home), "");
    });
    if (run.code === 0 && !run.stderr.includes("warning:")) {
      console.log(outcomes.join("\n"));
      return 0;
    }
  }
  assert.fail(`no install completed cleanly within 40 free pages: ${outcomes.join(" ")}`);
}

/** Uninstalls with 0, 1, 2, … pages free; whatever is left, every shell starts and a retry finishes. */
async function sweepUninstall(disk: string, check: CheckInvariant): Promise<number> {
  for (let pages = 0; pages <= 40; pages++) {
    const home = join(disk, "home");
    await rm(home, { recursive: true, force: true });
    await world.freshHome("disk", home);
    const free = await fillDisk(disk, pages);
    const run = await world.run({ args: ["uninstall", "-y"] });
    await free();
    await check("exit", () => {
      assert.ok(run.code === 0 || run.code === 6, `${pages} pages free: exit ${run.code}: ${run.stderr}`);
      checkOneError(run, run.code ?? -1);
    });
    await check("state", async () => {
      assert.deepEqual(await strayFiles(home), []);
      await profilesWhole(home);
      assert.equal(shellComplaints(home), "", `${pages} pages free: shells start cleanly`);
    });
    await check("retry", async () => {
      if (existsSync(receiptFile())) assert.equal((await world.run({ args: ["uninstall", "-y"] })).code, 0);
      for (const name of PROFILES) {
        const text = await readFile(join(home, name), "utf8").catch(() => "");
        assert.ok(!text.includes(PROFILE_LINE), `${name} no longer sources RunMat`);
      }
      assert.ok(!existsSync(join(world.bin, "runmat")));
    });
    if (run.code === 0 && !run.stderr.includes("warning:")) return 0;
  }
  assert.fail("no uninstall completed cleanly within 40 free pages");
}

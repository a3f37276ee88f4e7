// PATH as users meet it: after an install, every new shell a user can open finds `runmat`.
// Each cell starts a real shell from Debian (bash, dash as sh, zsh, fish) as a login or an
// interactive shell with a clean environment and the test HOME, and asks it where runmat is.
// After `uninstall`, no shell finds it and HOME is byte-identical to before the install.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { ReleaseServer } from "../fixtures/release-server.js";
import { cleanHome, diffTrees, makeHome, runInstaller, snapshotTree } from "../fixtures/run.js";
import { requireTool } from "../fixtures/system-tools.js";
import { publishRelease, serverArgs } from "../fixtures/world.js";

const run = promisify(execFile);

interface User {
  name: string;
  shell: string;
  /** Characters the HOME path holds, beyond the usual. */
  homeLabel?: string;
  setUp(home: string): Promise<void>;
  /** The shells this user can open: [label, command]. */
  shells: [string, string[]][];
}

const EVERYONE: [string, string[]][] = [
  ["bash -l", ["bash", "-l"]],
  ["bash -i", ["bash", "-i"]],
  ["sh -l", ["dash", "-l"]],
];

const USERS: User[] = [
  { name: "bash, empty HOME", shell: "/bin/bash", setUp: async () => {}, shells: EVERYONE },
  {
    name: "bash, Debian skeleton HOME",
    shell: "/bin/bash",
    setUp: async (home) => {
      for (const file of [".bashrc", ".profile", ".bash_logout"])
        await copyFile(join("/etc/skel", file), join(home, file));
    },
    shells: EVERYONE,
  },
  {
    name: "bash with ~/.bash_profile",
    shell: "/bin/bash",
    setUp: (home) =>
      writeFile(join(home, ".bash_profile"), "# mine; it does not read .profile\nexport EDITOR=vi\n"),
    shells: EVERYONE,
  },
  {
    name: "zsh, empty HOME",
    shell: "/usr/bin/zsh",
    setUp: async () => {},
    shells: [...EVERYONE, ["zsh -l", ["zsh", "-l"]], ["zsh -i", ["zsh", "-i"]]],
  },
  {
    name: "fish",
    shell: "/usr/bin/fish",
    setUp: async () => {},
    shells: [...EVERYONE, ["fish -l", ["fish", "-l"]], ["fish -i", ["fish", "-i"]]],
  },
  {
    name: "fish, with spaces, quotes, $ and backquotes in HOME",
    shell: "/usr/bin/fish",
    homeLabel: "my `home` $x \"q\" 'a'",
    setUp: async () => {},
    shells: [...EVERYONE, ["fish -l", ["fish", "-l"]], ["fish -i", ["fish", "-i"]]],
  },
];

/** Where the shell finds runmat, or "" when it does not. */
async function whereIsRunmat(home: string, shell: string, command: string[]): Promise<string> {
  const { stdout } = await run(
    "env",
    [
      "-i",
      `HOME=${home}`,
      "PATH=/usr/bin:/bin",
      "TERM=dumb",
      `SHELL=${shell}`,
      ...command,
      "-c",
      "command -v runmat || true",
    ],
    { timeout: 20_000 },
  );
  return stdout.trim().split("\n").pop() ?? "";
}

let server: ReleaseServer;
before(async () => {
  for (const tool of ["bash", "dash", "zsh", "fish"]) requireTool(tool);
  server = await new ReleaseServer().start();
  publishRelease(server, "v0.6.1");
});
after(() => server.stop());

describe("every new shell finds runmat", () => {
  for (const user of USERS) {
    it(`${user.name}: ${user.shells.map(([label]) => label).join(", ")}; none after uninstall`, async () => {
      const home = await makeHome(user.homeLabel ?? "shells");
      try {
        await user.setUp(home);
        // Shells write files of their own (fish: ~/.config/fish, its history): let them first.
        for (const [label, command] of user.shells) {
          assert.equal(await whereIsRunmat(home, user.shell, command), "", `${label} before the install`);
        }
        const before = await snapshotTree(home);
        const install = await runInstaller(home, serverArgs(server), { env: { SHELL: user.shell } });
        assert.equal(install.code, 0, install.stderr);
        const runmat = join(home, ".local", "bin", "runmat");
        for (const [label, command] of user.shells) {
          assert.equal(await whereIsRunmat(home, user.shell, command), runmat, `${label} finds runmat`);
        }
        const uninstall = await runInstaller(home, ["uninstall", "-y"], { env: { SHELL: user.shell } });
        assert.equal(uninstall.code, 0, uninstall.stderr);
        for (const [label, command] of user.shells) {
          assert.equal(await whereIsRunmat(home, user.shell, command), "", `${label} after uninstall`);
        }
        assert.deepEqual(
          diffTrees(before, await snapshotTree(home)),
          [],
          "uninstall removes exactly our lines and files",
        );
      } finally {
        await cleanHome(home);
      }
    });
  }
});

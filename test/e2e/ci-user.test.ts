// .ci/run as GitHub's runners run it: a user who is not root but has passwordless sudo. Inside
// a private mount namespace (its own copy of /etc, so no account or sudoers entry outlives the
// test) two users are made: one with passwordless sudo, who runs the machine setup (PowerShell
// lands in their own .NET tools) and what needs root (a tmpfs, binfmt_misc) through sudo -n; and
// one without, whom .ci/run turns away with one line.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { isRoot } from "../fixtures/privilege.js";
import { ROOT } from "../fixtures/run.js";
import { requireTool, SYSTEM_TOOLS } from "../fixtures/system-tools.js";

const run = promisify(execFile);
let work: string;

/** What the sudo user runs that needs root: a tmpfs it then fills, and Wine's binfmt_misc entry. */
const ROOT_NEEDING = `
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { smallDisk } from "${join(ROOT, "test", "fixtures", "small-disk.ts")}";
import { registerWineForExe } from "${join(ROOT, "test", "fixtures", "wine.ts")}";
const disk = await smallDisk("64k");
try {
  await writeFile(join(disk.path, "fill"), Buffer.alloc(1024 * 1024)).then(
    () => console.log("no ENOSPC"),
    (error) => console.log(\`tmpfs as \${process.getuid()}: \${error.code}\`),
  );
} finally {
  await disk.release();
}
const unregister = await registerWineForExe();
console.log("binfmt_misc: registered");
await unregister();
`;

before(async () => {
  assert.ok(isRoot(), "this test makes users: it runs as root (as all of npm test does on this machine)");
  requireTool("sudo");
  requireTool("unshare");
  work = await mkdtemp(join(tmpdir(), "runmat-ci-user-"));
  // cp -a: sudo insists on its files' owners and modes.
  await run("cp", ["-a", "/etc", join(work, "etc")]);
  await writeFile(join(work, "root-needing.mts"), ROOT_NEEDING);
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe(".ci/run as a user with passwordless sudo", () => {
  it("the setup installs the pinned PowerShell for the user, root-needing steps go through sudo -n, and a user without sudo is told in one line", async () => {
    const script = [
      "set -e",
      'mount --bind "$WORK/etc" /etc',
      'useradd --create-home --home-dir "$WORK/ci" --shell /bin/bash runmat-ci',
      'useradd --create-home --home-dir "$WORK/nosudo" --shell /bin/bash runmat-nosudo',
      "echo 'runmat-ci ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/runmat-ci",
      "chmod 0440 /etc/sudoers.d/runmat-ci",
      'chmod 755 "$WORK"',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax, not a template
      'as() { user=$1; shift; runuser -u "$user" -- env -u SUDO_USER "HOME=$WORK/${user#runmat-}" "USER=$user" "$@"; }',
      'echo "== setup"',
      'as runmat-ci sh -c "cd \\"$REPO\\" && node --import tsx scripts/setup-test-machine.ts" 2>&1',
      'echo "== root-needing"',
      'as runmat-ci sh -c "cd \\"$REPO\\" && node --import tsx \\"$WORK/root-needing.mts\\"" 2>&1',
      'echo "== no sudo"',
      'as runmat-nosudo bash "$REPO/.ci/run" 2>&1 && echo "ci/run exit 0" || echo "ci/run exit $?"',
    ].join("\n");
    const { stdout } = await run("unshare", ["--mount", "--propagation", "private", "sh", "-c", script], {
      env: { ...process.env, WORK: work, REPO: ROOT },
      maxBuffer: 16 * 1024 * 1024,
    }).catch((error: { stdout: string; stderr: string }) => {
      throw new Error(`the script failed:\n${error.stdout}\n${error.stderr}`);
    });
    const [, setup, rootNeeding, noSudo] = stdout.split(/^== .*$/m);
    assert.match(setup, new RegExp(`all ${SYSTEM_TOOLS.length} test tools present`), stdout);
    assert.match(
      setup,
      /dotnet tool install PowerShell 7\.6\.9/,
      "PowerShell went into the user's own tools",
    );
    assert.match(rootNeeding, /tmpfs as \d+: ENOSPC/, stdout);
    assert.doesNotMatch(rootNeeding, /tmpfs as 0:/, "the user wrote to the disk, not root");
    assert.match(rootNeeding, /binfmt_misc: registered/, stdout);
    assert.match(
      noSudo,
      /^\.ci\/run: error: the tests need root: run as root, or as a user with passwordless sudo \(sudo -n\)$/m,
    );
    assert.match(noSudo, /ci\/run exit 1/);
  });
});

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fakeRunmat, releaseTarGz, tarGz } from "../fixtures/archives.js";
import { type ReadOnly, readOnlyDuringRun } from "../fixtures/readonly.js";
import { CLI } from "../fixtures/run.js";
import { assetName, serverArgs } from "../fixtures/world.js";
import { runScenario, type Scenario, World, writeReport } from "./harness.js";

const world = new World();
let readOnly: ReadOnly | null = null;
const PROFILE_LINE = '. "$HOME/.runmat/env" # added by runmat-install';

function publishRunmat(w: World, behaviour: "ok" | "fail" | "hang", version = "0.7.0") {
  w.server.publish("v0.7.0", [{ name: assetName("v0.7.0"), data: releaseTarGz(version, behaviour) }]);
}

async function makeReadOnly(path: string) {
  readOnly = await readOnlyDuringRun(path);
  return { command: readOnly.command };
}

async function restoreReadOnly() {
  await readOnly?.restore();
  readOnly = null;
  return undefined;
}

const scenario =
  (category: string) =>
  (name: string, s: Omit<Scenario, "name" | "category">): Scenario => ({
    name,
    category,
    ...s,
  });
const fs = scenario("filesystem");
const verification = scenario("verification");
const endpoint = scenario("telemetry endpoint");

const scenarios: Scenario[] = [
  fs("read-only target directory", {
    exit: 6,
    message: /Permission denied|read-only/i,
    arrange: (w) => makeReadOnly(w.bin),
    heal: restoreReadOnly,
  }),
  fs("target path is a file", {
    exit: 6,
    message: /exists but is a file/,
    arrange: async (w) => {
      await writeFile(join(w.home, "not-a-dir"), "x");
      return { args: [...serverArgs(w.server), "--dir", join(w.home, "not-a-dir")] };
    },
  }),
  fs("HOME unset", { exit: 6, message: /HOME is not set/, arrange: () => ({ env: { HOME: undefined } }) }),
  fs("HOME points to a missing directory", {
    exit: 6,
    message: /does not exist\.\n {2}hint: HOME is set to \S+: create that directory/,
    arrange: (w) => ({ env: { HOME: join(w.home, "no-such-home") } }),
  }),
  fs("HOME with spaces and unicode", {
    exit: 0,
    homeLabel: "my home ü 数据",
    check: (w) => {
      const found = execFileSync("sh", ["-c", '. "$HOME/.runmat/env" && command -v runmat'], {
        env: { HOME: w.home, PATH: "/usr/bin:/bin" },
        encoding: "utf8",
      }).trim();
      assert.equal(found, join(w.bin, "runmat"));
    },
  }),
  fs("write error mid-extract (ulimit -f)", {
    exit: 6,
    message: /file size limit/,
    arrange: (w) => {
      const big = `${fakeRunmat("0.7.0")}#${"x".repeat(1024 * 1024)}\n`;
      w.server.publish("v0.7.0", [
        { name: assetName("v0.7.0"), data: tarGz([{ name: "runmat", content: big, mode: 0o755 }]) },
      ]);
      // 128 blocks of 512 bytes: the 1 MB binary cannot be written; writes fail with EFBIG.
      return { command: ["sh", "-c", 'trap "" XFSZ; ulimit -f 128; exec "$0" "$@"', process.execPath, CLI] };
    },
  }),
  fs("a profile that is a symlink", {
    exit: 0,
    arrange: async (w) => {
      await writeFile(join(w.home, "dotfiles", "zshenv"), "# zsh, no runmat line yet\n");
      execFileSync("ln", ["-s", join(w.home, "dotfiles", "zshenv"), join(w.home, ".zshenv")]);
    },
    check: async (w) => {
      assert.equal(
        await readFile(join(w.home, "dotfiles", "zshenv"), "utf8"),
        `# zsh, no runmat line yet\n${PROFILE_LINE}\n`,
      );
    },
  }),
  fs("a read-only profile", {
    exit: 0,
    message: /Could not update .*\.bash_profile/,
    arrange: async (w) => {
      await writeFile(join(w.home, ".bash_profile"), "# read-only\n");
      return makeReadOnly(join(w.home, ".bash_profile"));
    },
    heal: restoreReadOnly,
    check: async (w) => {
      await restoreReadOnly();
      assert.equal(await readFile(join(w.home, ".bash_profile"), "utf8"), "# read-only\n");
    },
  }),
  fs("a CRLF profile with no final newline", {
    exit: 0,
    check: async (w) => {
      assert.equal(
        await readFile(join(w.home, ".profile"), "utf8"),
        `# profile\r\nexport A=1\r\n${PROFILE_LINE}\r\n`,
      );
    },
  }),
  fs("~/.runmat exists as a file", {
    exit: 6,
    message: /\.runmat exists but is a file/,
    arrange: async (w) => {
      await rm(join(w.home, ".runmat"), { recursive: true });
      await writeFile(join(w.home, ".runmat"), "not a directory");
    },
    heal: async (w) => {
      await rm(join(w.home, ".runmat"));
      return undefined;
    },
  }),
  ...[
    ["garbage", "<html>not an id</html>"],
    ["10 MB of data", "z".repeat(10 * 1024 * 1024)],
  ].map(([label, content]) =>
    fs(`telemetry_id holding ${label}`, {
      exit: 0,
      arrange: async (w) => {
        await writeFile(join(w.home, ".runmat", "telemetry_id"), content);
      },
      check: async (w) => {
        const id = (await readFile(join(w.home, ".runmat", "telemetry_id"), "utf8")).trim();
        assert.match(id, /^[0-9a-f-]{36}$/);
        assert.ok(w.sink.events.every((event) => event.cid === id));
      },
    }),
  ),
  verification("a binary that exits 1 on --version", {
    exit: 7,
    message: /exited with code 1/,
    arrange: (w) => publishRunmat(w, "fail"),
  }),
  verification("a binary that prints the wrong version", {
    exit: 7,
    message: /printed "runmat 0\.6\.9", not version 0\.7\.0/,
    arrange: (w) => publishRunmat(w, "ok", "0.6.9"),
  }),
  verification("a binary that hangs (the timeout fires)", {
    exit: 7,
    message: /did not finish within 1 s/,
    arrange: (w) => {
      publishRunmat(w, "hang");
      return { env: { RUNMAT_SMOKE_TIMEOUT: "1" } };
    },
  }),
  endpoint("telemetry endpoint hangs", {
    exit: 0,
    arrange: (w) => {
      w.sink.mode = "hang";
    },
    check: (_, run) => assert.match(run.stdout, /Installed RunMat v0\.7\.0/),
  }),
  endpoint("telemetry endpoint refuses connections", {
    exit: 0,
    events: [],
    arrange: () => ({ env: { RUNMAT_TELEMETRY_ENDPOINT: "http://127.0.0.1:9/api/telemetry" } }),
    check: (_, run) => assert.match(run.stdout, /Installed RunMat v0\.7\.0/),
  }),
  endpoint("telemetry endpoint answers 500", {
    exit: 0,
    arrange: (w) => {
      w.sink.mode = "500";
    },
  }),
  endpoint("telemetry endpoint answers garbage", {
    exit: 0,
    arrange: (w) => {
      w.sink.mode = "garbage";
    },
  }),
];

before(() => world.start());
after(async () => {
  await restoreReadOnly();
  await world.stop();
  await writeReport("3-filesystem", world.results);
});

describe("faults: filesystem, verification and the telemetry endpoint", () => {
  for (const s of scenarios) it(s.name, () => runScenario(world, s));
});

// Ctrl-C at a real terminal: tmux runs an interactive bash, the installer runs in it as a user
// would start it (npx, the npm package's bin, the single binary, `sh install.sh`), and the test
// presses Ctrl-C during the download, the extraction and the smoke test. The terminal's own
// line discipline sends SIGINT to the foreground job; the installer must stop at once, roll
// back, send install_failed, exit 130, and leave the terminal in the mode it found it in.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { VERSION } from "../../src/version.js";
import { storedZip, tarGz } from "../fixtures/archives.js";
import { seaBinary, serveInstallerRelease } from "../fixtures/binaries.js";
import { ReleaseServer, TelemetrySink } from "../fixtures/release-server.js";
import { CLI, cleanHome, diffTrees, makeHome, ROOT, snapshotTree } from "../fixtures/run.js";
import { Terminal } from "../fixtures/terminal.js";
import { assetName, publishRelease, serverArgs } from "../fixtures/world.js";

let server: ReleaseServer;
let sink: TelemetrySink;
let installerUrl: string;
/** The npm package as `npm pack` makes it, and a private npx cache to run it from. */
let npxDir: string;

/** Each way users start the installer, and the `method` its telemetry must report. */
const ENTRY_POINTS: [string, (args: string) => string, string][] = [
  [
    "npx",
    (args) =>
      `npm_config_cache=${npxDir}/cache npm_config_update_notifier=false npx --yes --package=${npxDir}/runmat-install-${VERSION}.tgz runmat-install ${args}`,
    "npx",
  ],
  ["the bin of this checkout", (args) => `${process.execPath} ${CLI} ${args}`, "source"],
  ["the single binary", (args) => `${seaBinary("runmat-install-linux-x64")} ${args}`, "binary"],
  ["sh install.sh", (args) => `sh ${join(ROOT, "bootstrap", "install.sh")} ${args}`, "shell"],
];

type Phase = "download" | "extraction" | "smoke test";
const PHASES: Phase[] = ["download", "extraction", "smoke test"];

/** Makes `phase` of the v0.7.0 install last long enough to press Ctrl-C in; returns when it has begun. */
function arrange(phase: Phase, home: string): (screen: string) => boolean {
  if (phase === "download") {
    publishRelease(server, "v0.7.0");
    server.fault("/download/", { kind: "slow", chunks: 80, delayMs: 100 }, 1);
    // The spinner drops the file name when the line would be too wide: look after the command.
    return (screen) => /Downloading/.test(screen.slice(screen.lastIndexOf("stty.before")));
  }
  if (phase === "extraction") {
    // A .zip written by a streaming writer (sizes in data descriptors after each entry) cannot be
    // unpacked while it arrives: it is unpacked from the file after its download, and thousands
    // of entries make that take a while. A zip that streams would leave only a short check after
    // the download, too short to press Ctrl-C in reliably. The entries stay within what
    // unverified data may expand to (64 MiB here, for all entries together).
    const entries = Array.from({ length: 9000 }, (_, i) => ({
      name: `lib/part-${i}.so`,
      content: Buffer.alloc(4096, i % 251),
      dataDescriptor: true,
    }));
    const runmat = {
      name: "runmat",
      content: "#!/bin/sh\necho runmat 0.7.0\n",
      mode: 0o100755,
      dataDescriptor: true,
    };
    server.publish("v0.7.0", [{ name: assetName("v0.7.0", ".zip"), data: storedZip([runmat, ...entries]) }]);
    return (screen) => /Unpacking runmat-v0\.7\.0/.test(screen);
  }
  // A runmat whose --version hangs, and says (through a file) that it started.
  const hanging = '#!/bin/sh\ntouch "$HOME/smoke-started"\nexec sleep 60\n';
  server.publish("v0.7.0", [
    { name: assetName("v0.7.0"), data: tarGz([{ name: "runmat", content: hanging, mode: 0o755 }]) },
  ]);
  return () => existsSync(join(home, "smoke-started"));
}

/**
 * An interactive bash in tmux as a user has one: node on PATH, a plain prompt, and the exit
 * status of each command printed after it (for Terminal.command), plus `env`.
 */
function openTerminal(home: string, env: Record<string, string>, columns?: number): Promise<Terminal> {
  return Terminal.open(
    {
      HOME: home,
      PATH: `${join(process.execPath, "..")}:/usr/bin:/bin`,
      TERM: "xterm-256color",
      PS1: "$ ",
      PROMPT_COMMAND: 'echo "EXIT=$?"',
      ...env,
    },
    columns,
  );
}

before(async () => {
  npxDir = await mkdtemp(join(tmpdir(), "runmat-npx-"));
  execFileSync("npm", ["pack", "--silent", "--pack-destination", npxDir], { cwd: ROOT, stdio: "ignore" });
  server = await new ReleaseServer().start();
  sink = await new TelemetrySink().start();
  installerUrl = await serveInstallerRelease(server);
});
after(async () => {
  await server.stop();
  await sink.stop();
  await rm(npxDir, { recursive: true, force: true });
});

describe("progress at a real terminal", () => {
  for (const columns of [80, 40]) {
    it(`never draws wider than ${columns} columns, and ends saying what was downloaded`, async () => {
      const home = await makeHome("tty-width");
      const terminal = await openTerminal(home, { RUNMAT_NO_TELEMETRY: "1" }, columns);
      try {
        server.reset();
        publishRelease(server, "v0.6.1");
        server.fault("/download/", { kind: "slow", chunks: 20, delayMs: 50 }, 1);
        const widest = { line: "" };
        const run = await terminal.command(
          `${process.execPath} ${CLI} ${serverArgs(server).join(" ")}`,
          async () => {
            // Sample the screen while the spinner redraws: -J joins wrapped lines, so a line wider
            // than the terminal shows up whole.
            for (let i = 0; i < 40; i++) {
              for (const line of (await terminal.screen()).split("\n")) {
                if (line.includes("Download") && line.length > widest.line.length) widest.line = line;
              }
              await delay(25);
            }
          },
        );
        assert.equal(run.status, 0, run.output);
        assert.ok(widest.line.length <= columns, `${widest.line.length} > ${columns}: ${widest.line}`);
        assert.match(run.output, /Downloaded (runmat-v0\.6\.1-\S+ )?[\d.]+ (B|KiB|MiB) in [\d.]+ s/);
      } finally {
        await terminal.close();
        await cleanHome(home);
      }
    });
  }
});

describe("Ctrl-C at an interactive terminal", () => {
  for (const [entry, command, method] of ENTRY_POINTS) {
    for (const phase of PHASES) {
      it(`${entry}: stops during the ${phase}, rolls back, exits 130 and restores the terminal`, async () => {
        const home = await makeHome("tty");
        const terminal = await openTerminal(home, {
          RUNMAT_TELEMETRY_ENDPOINT: sink.url,
          RUNMAT_INSTALLER_URL: installerUrl,
        });
        try {
          server.reset();
          sink.reset();
          publishRelease(server, "v0.6.1");
          const line = command(serverArgs(server).join(" "));
          const baseline = await terminal.command(line);
          assert.equal(baseline.status, 0, baseline.output);
          const before = await snapshotTree(home);
          const begun = arrange(phase, home);
          sink.reset();

          await terminal.command("stty -g > ~/stty.before");
          const interrupted = await terminal.command(line, async () => {
            const deadline = Date.now() + 20_000;
            while (!begun(await terminal.screen())) {
              assert.ok(Date.now() < deadline, `the ${phase} never began:\n${await terminal.screen()}`);
              await delay(20);
            }
            await terminal.pressCtrlC();
          });
          assert.equal(interrupted.status, 130, interrupted.output);
          assert.match(interrupted.output, /error: Interrupted by SIGINT; nothing was left half-installed\./);
          assert.match(interrupted.output, /hint: Run the installer again to finish\./);
          await terminal.command("stty -g > ~/stty.after");
          assert.equal(
            await readFile(join(home, "stty.after"), "utf8"),
            await readFile(join(home, "stty.before"), "utf8"),
            "the terminal is left in its original mode",
          );
          const changes = diffTrees(before, await snapshotTree(home)).filter(
            (change) => !/stty\.(before|after)|smoke-started/.test(change),
          );
          assert.deepEqual(changes, [], "HOME is as before: the earlier install intact, no staging");
          assert.deepEqual(sink.labels(), ["install_start", "install_failed"]);
          assert.ok(
            sink.events.every((event) => event.method === method),
            `method ${method}: ${JSON.stringify(sink.events)}`,
          );
        } finally {
          await terminal.close();
          await cleanHome(home);
        }
      });
    }
  }
});

describe("a release lookup that never answers, at a real terminal", () => {
  for (const columns of [80, 40]) {
    it(`at ${columns} columns: a spinner says what it waits for, and each retry is said above it`, async () => {
      const home = await makeHome("tty-lookup");
      const silent = createServer(() => {});
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
      const api = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const terminal = await openTerminal(home, { RUNMAT_NO_TELEMETRY: "1" }, columns);
      try {
        const line = `${process.execPath} ${CLI} --github-api ${api} --timeout 1`;
        let spinning = "";
        const { output, status } = await terminal.command(line, async () => {
          // Something on screen while nothing has come back yet: the spinner's line.
          const screen = await terminal.waitFor(/Looking up/, 20_000, (text) =>
            text.slice(text.lastIndexOf(line)),
          );
          spinning = screen.slice(screen.lastIndexOf(line) + line.length);
        });
        assert.equal(status, 3, output);
        // Lines wrap between words at the terminal's width; read them joined.
        const said = output.replace(/\n +/g, " ");
        assert.equal(said.match(/trying again \(\d of 4\)/g)?.length, 3, output);
        assert.match(said, /error: Release lookup failed after 4 attempts: .* stopped answering/);
        // The spinner's line is redrawn in place: wider than the terminal, it would wrap and smear.
        const shown = spinning.split("\n").filter((text) => text.includes("Looking up"));
        assert.equal(shown.length, 1, spinning);
        assert.ok(shown[0].length <= columns, `wider than ${columns}: ${shown[0]}`);
      } finally {
        await terminal.close();
        silent.closeAllConnections();
        silent.close();
        await cleanHome(home);
      }
    });
  }
});

describe("long steps at a real terminal", () => {
  it("a slow smoke test: a spinner says RunMat is being checked", async () => {
    const home = await makeHome("tty-smoke");
    const terminal = await openTerminal(home, { RUNMAT_NO_TELEMETRY: "1" });
    try {
      server.reset();
      const slow = "#!/bin/sh\nsleep 3\necho runmat 0.6.1\n";
      server.publish("v0.6.1", [
        { name: assetName("v0.6.1"), data: tarGz([{ name: "runmat", content: slow, mode: 0o755 }]) },
      ]);
      const line = `${process.execPath} ${CLI} ${serverArgs(server).join(" ")}`;
      const { output, status } = await terminal.command(line, async () => {
        await terminal.waitFor(/Checking that RunMat v0\.6\.1 starts/, 30_000, (s) =>
          s.slice(s.lastIndexOf(line)),
        );
      });
      assert.equal(status, 0, output);
    } finally {
      await terminal.close();
      await cleanHome(home);
    }
  });

  it("a segmented download on slow connections: the byte counter moves as bytes arrive, not per segment", async () => {
    const home = await makeHome("tty-segments");
    const terminal = await openTerminal(home, { RUNMAT_NO_TELEMETRY: "1" });
    try {
      server.reset();
      // 9 MiB of random bytes: segmented (8 MiB or more), three 4 MiB segments' worth.
      const payload = randomBytes(9 * 1024 * 1024);
      server.publish("v0.6.1", [
        {
          name: assetName("v0.6.1"),
          data: tarGz([
            { name: "runmat", content: "#!/bin/sh\necho runmat 0.6.1\n", mode: 0o755 },
            { name: "runmat-data.so", content: payload, mode: 0o644 },
          ]),
        },
      ]);
      server.pace = { bytesPerSecond: 256 * 1024, firstByteMs: 0 };
      const line = `${process.execPath} ${CLI} ${serverArgs(server).join(" ")}`;
      const counters = new Set<string>();
      const { output, status } = await terminal.command(line, async () => {
        for (let i = 0; i < 400; i++) {
          const screen = await terminal.screen();
          const shown = screen.slice(screen.lastIndexOf(line));
          if (/Downloaded/.test(shown) || /EXIT=/.test(shown)) break;
          const counter = /Downloading.*?([\d.]+ (?:KiB|MiB))/.exec(
            shown.split("\n").findLast((l) => /Downloading/.test(l)) ?? "",
          );
          if (counter) counters.add(counter[1]);
          await delay(150);
        }
      });
      assert.equal(status, 0, output);
      // Counted per 4 MiB segment it would show at most 0, 4 and 8 MiB.
      assert.ok(counters.size >= 5, `the counter showed only ${[...counters].join(", ")}`);
    } finally {
      server.pace = null;
      await terminal.close();
      await cleanHome(home);
    }
  });
});

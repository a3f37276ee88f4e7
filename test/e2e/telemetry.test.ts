import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { parseCommandLine } from "../../src/cli/args.js";
import { runInstall } from "../../src/cli/install-command.js";
import { PAYLOAD_KEYS } from "../../src/contract.js";
import { releaseTarGz } from "../fixtures/archives.js";
import { readOnlyDuringRun } from "../fixtures/readonly.js";
import { ReleaseServer, TelemetrySink } from "../fixtures/release-server.js";
import { baseEnv, cleanHome, makeHome, runInstaller } from "../fixtures/run.js";
import { assetName, HOST_PLATFORM, publishRelease, serverArgs } from "../fixtures/world.js";

let server: ReleaseServer;
let sink: TelemetrySink;
let home: string;

/** Telemetry on, pointed at the sink. */
function telemetryEnv(extra: Record<string, string | undefined> = {}) {
  return { RUNMAT_NO_TELEMETRY: undefined, RUNMAT_TELEMETRY_ENDPOINT: sink.url, ...extra };
}

function assertEvents(labels: string[], release: string, platform = HOST_PLATFORM) {
  assert.deepEqual(sink.labels(), labels);
  for (const event of sink.events) {
    assert.deepEqual(Object.keys(event).sort(), [...PAYLOAD_KEYS].sort());
    assert.equal(event.os, "linux");
    assert.match(String(event.arch), /^(x86_64|arm64)$/);
    assert.equal(event.platform, platform);
    assert.equal(event.release, release);
    // Run from this checkout's bin/runmat-install.js, neither through npx nor from node_modules.
    assert.equal(event.method, "source");
  }
}

before(async () => {
  server = await new ReleaseServer().start();
  sink = await new TelemetrySink().start();
});
after(async () => {
  await server.stop();
  await sink.stop();
});
beforeEach(async () => {
  home = await makeHome();
  server.reset();
  sink.reset();
});
afterEach(async () => {
  await cleanHome(home);
});

describe("telemetry events", () => {
  it("a successful install sends exactly install_start then install_complete", async () => {
    publishRelease(server, "v0.6.1");
    const run = await runInstaller(home, serverArgs(server), { env: telemetryEnv() });
    assert.equal(run.code, 0, run.stderr);
    assertEvents(["install_start", "install_complete"], "v0.6.1");
    const id = (await readFile(join(home, ".runmat", "telemetry_id"), "utf8")).trim();
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(sink.events.every((event) => event.cid === id));
    assert.equal((await stat(join(home, ".runmat", "telemetry_id"))).mode & 0o777, 0o600);
    const request = sink.requests[0];
    assert.equal(request.method, "POST");
    assert.equal(request.headers["content-type"], "application/json");
    assert.match(String(request.headers["user-agent"]), /^runmat-install\/\d+\.\d+\.\d+/);
    assert.match(run.stderr, /anonymous install events/);
  });

  for (const flag of ["--quiet", "--json"]) {
    it(`the notice is shown under ${flag} too (on stderr), once per machine`, async () => {
      publishRelease(server, "v0.6.1");
      const first = await runInstaller(home, [...serverArgs(server), flag], { env: telemetryEnv() });
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stderr, /anonymous install events/);
      if (flag === "--json") JSON.parse(first.stdout);
      else assert.equal(first.stdout, "");
      const second = await runInstaller(home, [...serverArgs(server), flag, "--force"], {
        env: telemetryEnv(),
      });
      assert.doesNotMatch(second.stderr, /anonymous install events/, "seen once is enough");
      assert.deepEqual(sink.labels(), [
        "install_start",
        "install_complete",
        "install_start",
        "install_complete",
      ]);
    });
  }

  const failures: [string, () => Promise<string[]>, number, string][] = [
    [
      "release lookup failed",
      async () => {
        publishRelease(server, "v0.6.1");
        return [...serverArgs(server), "v9.9.9"];
      },
      3,
      "unknown",
    ],
    [
      "download failed",
      async () => {
        publishRelease(server, "v0.6.1");
        server.fault("/download/", { kind: "status", status: 404 }, 10);
        return serverArgs(server);
      },
      3,
      "v0.6.1",
    ],
    [
      "checksum mismatch",
      async () => {
        server.publish("v0.6.1", [
          { name: assetName("v0.6.1"), data: releaseTarGz(), digest: `sha256:${"1".repeat(64)}` },
        ]);
        return serverArgs(server);
      },
      4,
      "v0.6.1",
    ],
    [
      "extraction failed",
      async () => {
        server.publish("v0.6.1", [
          { name: assetName("v0.6.1"), data: Buffer.from("this is not gzip at all") },
        ]);
        return serverArgs(server);
      },
      4,
      "v0.6.1",
    ],
    [
      "smoke test failed",
      async () => {
        server.publish("v0.6.1", [{ name: assetName("v0.6.1"), data: releaseTarGz("0.6.1", "fail") }]);
        return serverArgs(server);
      },
      7,
      "v0.6.1",
    ],
    [
      "target path is a file",
      async () => {
        publishRelease(server, "v0.6.1");
        await writeFile(join(home, "not-a-dir"), "x");
        return [...serverArgs(server), "--dir", join(home, "not-a-dir")];
      },
      6,
      "v0.6.1",
    ],
  ];
  for (const [label, setUp, exitCode, release] of failures) {
    it(`${label}: exactly install_start then install_failed (exit ${exitCode})`, async () => {
      const args = await setUp();
      const run = await runInstaller(home, args, { env: telemetryEnv() });
      assert.equal(run.code, exitCode, run.stderr);
      assertEvents(["install_start", "install_failed"], release);
    });
  }

  it("a second Ctrl-C right after the first cannot lose the outcome: it went out on the first", async () => {
    for (let attempt = 0; attempt < 5; attempt++) {
      sink.reset();
      publishRelease(server, "v0.6.1");
      server.fault("/download/", { kind: "stall" }, 1);
      const run = await runInstaller(home, [...serverArgs(server), "--force"], {
        env: telemetryEnv(),
        onSpawn: (child) => {
          const poll = setInterval(() => {
            if (server.requests.some((r) => r.path.startsWith("/download/"))) {
              clearInterval(poll);
              child.kill("SIGINT");
              setTimeout(() => child.kill("SIGINT"), 30);
            }
          }, 10);
        },
      });
      assert.equal(run.code, 130, run.stderr);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(sink.labels(), ["install_start", "install_failed"], `attempt ${attempt + 1}`);
      server.reset();
    }
  });

  it("a finished install killed while the endpoint hangs has already sent install_complete", async () => {
    publishRelease(server, "v0.6.1");
    sink.mode = "hang";
    const run = await runInstaller(home, serverArgs(server), {
      env: telemetryEnv(),
      onSpawn: (child) => {
        child.stdout?.on("data", (chunk: Buffer) => {
          if (chunk.toString().includes("Installed RunMat")) setTimeout(() => child.kill("SIGKILL"), 50);
        });
      },
    });
    assert.equal(run.signal, "SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(sink.labels(), ["install_start", "install_complete"]);
  });

  it("permission denied: exactly install_start then install_failed (exit 6)", async () => {
    publishRelease(server, "v0.6.1");
    const dir = join(home, "locked");
    await mkdir(dir);
    const readOnly = await readOnlyDuringRun(dir);
    try {
      const run = await runInstaller(home, [...serverArgs(server), "--dir", dir], {
        env: telemetryEnv(),
        command: readOnly.command,
      });
      assert.equal(run.code, 6, run.stderr);
      assert.match(run.stderr, /Permission denied|read-only/i);
      assertEvents(["install_start", "install_failed"], "v0.6.1");
    } finally {
      await readOnly.restore();
    }
  });

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`${signal} during the download: exit 130, install_start then install_failed, nothing left`, async () => {
      publishRelease(server, "v0.6.1");
      server.fault("/download/", { kind: "stall" }, 1);
      const run = await runInstaller(home, serverArgs(server), {
        env: telemetryEnv(),
        onSpawn: (child) => {
          const poll = setInterval(() => {
            if (server.requests.some((r) => r.path.startsWith("/download/"))) {
              clearInterval(poll);
              child.kill(signal);
            }
          }, 20);
        },
      });
      assert.equal(run.code, 130, run.stderr);
      assert.match(run.stderr, /Interrupted/);
      assertEvents(["install_start", "install_failed"], "v0.6.1");
      assert.equal(existsSync(join(home, ".local", "bin", "runmat")), false);
      assert.equal(existsSync(join(home, ".local")), false, "the directories it created are gone again");
    });
  }

  it("platform unsupported: install_start then install_failed with platform unknown", async () => {
    const invocation = await parseCommandLine([...serverArgs(server), "--quiet"], {
      env: {},
      platform: "linux",
      runningAsBinary: false,
      entryPoint: "/checkout/bin/runmat-install.js",
      write: () => {},
      writeError: () => {},
    });
    assert.equal(invocation.command, "install");
    if (invocation.command !== "install") return;
    const env = baseEnv(home, telemetryEnv());
    const code = await runInstall({ ...invocation.options, home, runmatHome: join(home, ".runmat") }, env, {
      platform: "linux",
      machine: "riscv64",
      isAppleSilicon: () => false,
      isMusl: () => false,
    });
    assert.equal(code, 5);
    assert.deepEqual(sink.labels(), ["install_start", "install_failed"]);
    assert.equal(sink.events[0].platform, "unknown");
    assert.equal(sink.events[0].release, "unknown");
    assert.equal(sink.events[0].arch, "riscv64");
  });
});

describe("opt-out", () => {
  const routes: [string, Record<string, string>, string[]][] = [
    ["RUNMAT_NO_TELEMETRY=1", { RUNMAT_NO_TELEMETRY: "1" }, []],
    ["RUNMAT_NO_TELEMETRY=yes", { RUNMAT_NO_TELEMETRY: "yes" }, []],
    ["RUNMAT_TELEMETRY=0", { RUNMAT_TELEMETRY: "0" }, []],
    ["RUNMAT_TELEMETRY=off", { RUNMAT_TELEMETRY: "off" }, []],
    ["DO_NOT_TRACK=1", { DO_NOT_TRACK: "1" }, []],
    ["DO_NOT_TRACK=true", { DO_NOT_TRACK: "true" }, []],
    ["DO_NOT_TRACK=yes", { DO_NOT_TRACK: "yes" }, []],
    ["--no-telemetry", {}, ["--no-telemetry"]],
  ];
  for (const [label, env, flags] of routes) {
    it(`${label}: no connection to the endpoint and no id file`, async () => {
      publishRelease(server, "v0.6.1");
      const run = await runInstaller(home, [...serverArgs(server), ...flags], { env: telemetryEnv(env) });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(sink.connections, 0);
      assert.equal(existsSync(join(home, ".runmat", "telemetry_id")), false);
      assert.doesNotMatch(run.stderr, /anonymous install events/);
    });
  }

  it("`telemetry disable` persists and sends nothing, keeping the id RunMat's runtime shares and saying so; `enable` undoes it", async () => {
    publishRelease(server, "v0.6.1");
    await mkdir(join(home, ".runmat"));
    await writeFile(join(home, ".runmat", "telemetry_id"), "1700000000-12345\n");
    const disable = await runInstaller(home, ["telemetry", "disable"], { env: telemetryEnv() });
    assert.equal(disable.code, 0, disable.stderr);
    assert.equal(await readFile(join(home, ".runmat", "telemetry_id"), "utf8"), "1700000000-12345\n");
    assert.match(disable.stdout, /is kept: RunMat's own telemetry uses it too/);
    assert.match(disable.stdout, /RunMat itself has its own switch/);
    const status = await runInstaller(home, ["telemetry", "status"], { env: telemetryEnv() });
    assert.match(status.stdout, /^off: disabled by/);
    assert.match(status.stdout, new RegExp(sink.url));
    const run = await runInstaller(home, serverArgs(server), { env: telemetryEnv() });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(sink.connections, 0);
    await runInstaller(home, ["telemetry", "enable"], { env: telemetryEnv() });
    const on = await runInstaller(home, ["telemetry", "status"], { env: telemetryEnv() });
    assert.match(on.stdout, /^on:/);
    const envOff = await runInstaller(home, ["telemetry", "status"], {
      env: telemetryEnv({ DO_NOT_TRACK: "1" }),
    });
    assert.match(envOff.stdout, /^off: set by DO_NOT_TRACK/);
  });

  it("RUNMAT_TELEMETRY_DEBUG=1 prints each payload and sends nothing", async () => {
    publishRelease(server, "v0.6.1");
    const run = await runInstaller(home, serverArgs(server), {
      env: telemetryEnv({ RUNMAT_TELEMETRY_DEBUG: "1" }),
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(sink.connections, 0);
    const printed = [...run.stderr.matchAll(/telemetry \(debug, not sent\): (\{.*\})/g)].map((m) =>
      JSON.parse(m[1]),
    );
    assert.deepEqual(
      printed.map((p) => p.event_label),
      ["install_start", "install_complete"],
    );
    assert.deepEqual(Object.keys(printed[0]).sort(), [...PAYLOAD_KEYS].sort());
  });
});

describe("the anonymous id", () => {
  it("reuses a legacy id", async () => {
    publishRelease(server, "v0.6.1");
    await mkdir(join(home, ".runmat"));
    await writeFile(join(home, ".runmat", "telemetry_id"), "  1700000000-12345\n");
    assert.equal((await runInstaller(home, serverArgs(server), { env: telemetryEnv() })).code, 0);
    assert.deepEqual(
      sink.events.map((e) => e.cid),
      ["1700000000-12345", "1700000000-12345"],
    );
  });

  for (const [label, content] of [
    ["garbage", "hello <script>alert(1)</script>"],
    ["10 MB of data", "a".repeat(10 * 1024 * 1024)],
  ] as const) {
    it(`replaces ${label} with a new UUID and never sends it`, async () => {
      publishRelease(server, "v0.6.1");
      await mkdir(join(home, ".runmat"));
      await writeFile(join(home, ".runmat", "telemetry_id"), content);
      assert.equal((await runInstaller(home, serverArgs(server), { env: telemetryEnv() })).code, 0);
      const id = (await readFile(join(home, ".runmat", "telemetry_id"), "utf8")).trim();
      assert.match(id, /^[0-9a-f-]{36}$/);
      assert.ok(sink.events.every((e) => e.cid === id));
    });
  }

  it("a read-only HOME still installs, with a per-run id", async () => {
    publishRelease(server, "v0.6.1");
    const dir = await makeHome("dir");
    const readOnly = await readOnlyDuringRun(home);
    try {
      const run = await runInstaller(home, [...serverArgs(server), "--dir", dir, "--no-modify-path"], {
        env: telemetryEnv(),
        command: readOnly.command,
      });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /read-only/);
      assert.equal(
        (await runInstaller(home, [], { command: ["sh", "-c", `${dir}/runmat --version`] })).stdout.trim(),
        "runmat 0.6.1",
      );
      assertEvents(["install_start", "install_complete"], "v0.6.1");
      assert.match(String(sink.events[0].cid), /^[0-9a-f-]{36}$/);
      assert.equal(existsSync(join(home, ".runmat", "telemetry_id")), false);
    } finally {
      await readOnly.restore();
      await cleanHome(dir);
    }
  });
});

describe("a misbehaving endpoint never changes the install", () => {
  for (const mode of ["hang", "500", "garbage", "refused"] as const) {
    it(`endpoint ${mode}: same exit code and stdout as with telemetry off`, async () => {
      publishRelease(server, "v0.6.1");
      const off = await runInstaller(home, serverArgs(server));
      const other = await makeHome();
      try {
        if (mode !== "refused") sink.mode = mode;
        const endpoint = mode === "refused" ? "http://127.0.0.1:9/api/telemetry" : sink.url;
        const on = await runInstaller(other, serverArgs(server), {
          env: telemetryEnv({ RUNMAT_TELEMETRY_ENDPOINT: endpoint }),
        });
        assert.equal(on.code, off.code);
        assert.equal(on.stdout.replaceAll(other, "HOME"), off.stdout.replaceAll(home, "HOME"));
      } finally {
        await cleanHome(other);
      }
    });
  }
});

// Networks people really have, with runmat.org, github.com and api.github.com served over TLS
// inside a private namespace (named-hosts.ts): a company network whose TLS-inspecting root is in
// the system store only, a proxy that blocks one host, a name that does not exist, no network at
// all, a captive portal's login page, and a certificate nothing here trusts. Each ends in an
// install, or in one error that names the host and the fix, exit 3, and nothing written.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { inNamedHosts, type StepResult } from "../fixtures/named-hosts.js";
import { packThisCheckout, projectWith } from "../fixtures/package.js";
import { cleanHome, makeHome } from "../fixtures/run.js";
import { toolDirectory } from "../fixtures/tools.js";

const ONE_LINER = "curl -fsSL https://runmat.org/install.sh | sh";
const NODE_FREE_TOOLS = ["curl", "xz", "tar"];

let work: string;
let project: string;
let noNode: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "runmat-networks-"));
  project = await projectWith(packThisCheckout(work), work);
  // A PATH without node: install.sh then runs the single binary (Node 22), not the npm code.
  noNode = await toolDirectory(work, NODE_FREE_TOOLS);
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** One network error as the user sees it: exactly one error line and one hint, both naming `host`. */
function assertNamesHost(run: StepResult, host: string, cause: RegExp, hint: RegExp) {
  assert.equal(run.code, 3, `exit 3: ${run.stderr}`);
  const errors = run.stderr.split("\n").filter((line) => /^error:/.test(line));
  const hints = run.stderr.split("\n").filter((line) => /^\s*hint:/.test(line));
  assert.equal(errors.length, 1, run.stderr);
  assert.equal(hints.length, 1, run.stderr);
  assert.ok(errors[0].includes(host), `the error names ${host}: ${errors[0]}`);
  assert.match(errors[0], cause);
  assert.match(hints[0], hint);
}

async function withHome<T>(use: (home: string) => Promise<T>): Promise<T> {
  const home = await makeHome("networks");
  try {
    return await use(home);
  } finally {
    await cleanHome(home);
  }
}

describe("a company network that inspects TLS, its root in the system store only", () => {
  it("installs as curl does: the one-liner with Node and with the single binary, and npx; telemetry arrives", () =>
    withHome(async (home) => {
      const world = await inNamedHosts(home, [
        { publish: "v0.6.1" },
        { run: ONE_LINER },
        { run: `${ONE_LINER} -s -- --force`, env: { PATH: noNode } },
        { run: "npx runmat-install --force", cwd: project },
      ]);
      for (const run of world.steps) assert.equal(run.code, 0, `${run.run}: ${run.stderr}`);
      assert.equal(world.failedHandshakes, 0);
      assert.deepEqual(
        world.events.map((event) => `${event.event_label} ${event.method}`),
        [
          "install_start shell",
          "install_complete shell",
          "install_start shell",
          "install_complete shell",
          "install_start npx",
          "install_complete npx",
        ],
      );
      assert.ok(existsSync(join(home, ".local", "bin", "runmat")));
    }));

  it("through the company's CONNECT proxy too", () =>
    withHome(async (home) => {
      const world = await inNamedHosts(
        home,
        [
          { publish: "v0.6.1" },
          { run: ONE_LINER, env: { PATH: noNode } },
          { run: "npx runmat-install --force", cwd: project },
        ],
        { proxy: {} },
      );
      for (const run of world.steps) assert.equal(run.code, 0, `${run.run}: ${run.stderr}`);
      assert.ok(world.proxied.includes("CONNECT api.github.com:443"), world.proxied.join(", "));
      assert.ok(world.proxied.includes("CONNECT runmat.org:443"), "telemetry went through the proxy");
      assert.equal(world.events.length, 4);
    }));
});

describe("a certificate nothing on this machine trusts (a hotel portal, a missing company root)", () => {
  it("fails at once, naming the host and the certificate's issuer; --cacert with that root installs", () =>
    withHome(async (home) => {
      const world = await inNamedHosts(
        home,
        [
          { publish: "v0.6.1" },
          { run: "npx runmat-install", cwd: project },
          { run: 'npx runmat-install --cacert "$WORLD_CA"', cwd: project },
        ],
        { systemStore: "empty" },
      );
      const [untrusted, withCacert] = world.steps;
      assertNamesHost(untrusted, "api.github.com", /not trusted.*issued by "runmat test CA"/, /--cacert/);
      // One look at the lookup, one for the issuer, one telemetry connection: no retries.
      assert.ok(world.failedHandshakes <= 3, `${world.failedHandshakes} failed handshakes`);
      assert.equal(withCacert.code, 0, withCacert.stderr);
    }));
});

describe("errors that name the host", () => {
  it("a proxy that refuses CONNECT to api.github.com: names the proxy and the host", () =>
    withHome(async (home) => {
      const world = await inNamedHosts(
        home,
        [
          { publish: "v0.6.1" },
          { run: "npx runmat-install", cwd: project },
          // curl fetches install.sh and the single binary; the binary then meets the block.
          { run: ONE_LINER, env: { PATH: noNode } },
        ],
        { proxy: { refuseHosts: ["api.github.com"] } },
      );
      for (const run of world.steps) {
        assertNamesHost(run, "api.github.com", /proxy 127\.0\.0\.1:\d+ refused/, /allow it/);
      }
      assert.equal(existsSync(join(home, ".local", "bin", "runmat")), false);
    }));

  it("a host name that does not exist: named at once, no retries", () =>
    withHome(async (home) => {
      const world = await inNamedHosts(home, [
        { publish: "v0.6.1" },
        { run: "npx runmat-install --github-api https://api.githb.com", cwd: project },
        { run: `${ONE_LINER} -s -- --github-api https://api.githb.com`, env: { PATH: noNode } },
      ]);
      for (const run of world.steps) {
        assertNamesHost(run, "api.githb.com", /not found|cannot be reached/, /--archive|DNS/);
        assert.doesNotMatch(run.stderr, /trying again/);
      }
    }));

  it("a captive portal's login page instead of the archive: said as such, no retries", () =>
    withHome(async (home) => {
      const world = await inNamedHosts(
        home,
        [{ publish: "v0.6.1" }, { run: "npx runmat-install", cwd: project }],
        { faults: [{ path: "/download/", fault: { kind: "page", status: 200 } }] },
      );
      assertNamesHost(world.steps[0], "github.com", /web page.*captive portal/, /browser/);
      assert.equal(world.requests.filter((request) => request.includes("/download/")).length, 1);
      assert.equal(existsSync(join(home, ".local", "bin", "runmat")), false);
    }));

  it("a proxy's 403 block page for the API: the network's, not the token's", () =>
    withHome(async (home) => {
      const world = await inNamedHosts(
        home,
        [
          { publish: "v0.6.1" },
          { run: "npx runmat-install", cwd: project },
          { run: ONE_LINER, env: { PATH: noNode } },
        ],
        { faults: [{ path: "/repos/", fault: { kind: "page", status: 403 } }] },
      );
      for (const run of world.steps) {
        assertNamesHost(run, "api.github.com", /web page \(HTTP 403\)/, /IT department/);
        assert.doesNotMatch(run.stderr, /TOKEN/);
      }
    }));

  it("no network at all: quick, plain, and --archive offered", () =>
    withHome(async (home) => {
      // The world's /etc/hosts names none of the hosts this run asks for, and nothing routes out.
      const world = await inNamedHosts(home, [
        {
          run: "npx runmat-install --github-api https://api.example.invalid",
          cwd: project,
          env: { RUNMAT_TELEMETRY_ENDPOINT: "https://telemetry.example.invalid/api/telemetry" },
        },
      ]);
      assertNamesHost(world.steps[0], "api.example.invalid", /not found|offline/, /--archive/);
    }));
});

describe("a telemetry endpoint that moved (runmat.org → runmat.com)", () => {
  it("307 and 308: both events reach the new address, from npx, the single binary and install.sh's own", () =>
    withHome(async (home) => {
      const installerSums = "/runmat-org/runmat-install/releases/latest/download/SHA256SUMS";
      for (const status of [307, 308] as const) {
        const world = await inNamedHosts(
          home,
          [
            { publish: "v0.6.1" },
            { run: "npx runmat-install --force", cwd: project },
            { run: `${ONE_LINER} -s -- --force`, env: { PATH: noNode } },
          ],
          { telemetryMoved: status },
        );
        for (const run of world.steps) assert.equal(run.code, 0, `${run.run}: ${run.stderr}`);
        assert.equal(world.events.length, 4, `${status}: ${JSON.stringify(world.requests)}`);
        const arrived = world.requests.filter((request) => request === "runmat.com /api/telemetry");
        assert.equal(arrived.length, 4, `${status}: every event arrived at runmat.com`);
      }
      // install.sh's own events, when it fails before the installer starts, follow with curl -L.
      const early = await inNamedHosts(home, [{ publish: "v0.6.1" }, { run: ONE_LINER }], {
        telemetryMoved: 308,
        faults: [{ path: installerSums, fault: { kind: "status", status: 404 } }],
      });
      assert.equal(early.steps[0].code, 3, early.steps[0].stderr);
      assert.deepEqual(
        early.events.map((event) => event.event_label),
        ["install_start", "install_failed"],
      );
      assert.equal(early.requests.filter((request) => request === "runmat.com /api/telemetry").length, 2);
    }));

  it("301 is not followed for a POST (it would become a GET), and --verbose says so", () =>
    withHome(async (home) => {
      const world = await inNamedHosts(
        home,
        [{ publish: "v0.6.1" }, { run: "npx runmat-install --verbose", cwd: project }],
        { telemetryMoved: 301 },
      );
      assert.equal(world.steps[0].code, 0, world.steps[0].stderr);
      assert.equal(world.requests.filter((request) => request.startsWith("runmat.com")).length, 0);
      assert.match(world.steps[0].stderr, /runmat\.org answered 301; only 307 and 308 keep a POST/);
    }));
});

describe("install.sh on a captive portal", () => {
  it("a login page instead of the installer's files: named as such, exit 3, nothing run", () =>
    withHome(async (home) => {
      const world = await inNamedHosts(home, [{ publish: "v0.6.1" }, { run: ONE_LINER }], {
        faults: [{ path: "/runmat-install/releases/", fault: { kind: "page", status: 200 } }],
      });
      const run = world.steps[0];
      assert.equal(run.code, 3, run.stderr);
      assert.match(
        run.stderr,
        /github\.com answered with a web page instead of SHA256SUMS; .*captive portal/,
      );
      assert.match(run.stderr, /hint: Open https:\/\/github\.com\/ in a browser/);
      assert.equal(existsSync(join(home, ".local", "bin", "runmat")), false);
    }));
});

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import { ReleaseServer } from "../fixtures/release-server.js";
import { cleanHome, diffTrees, makeHome, snapshotTree } from "../fixtures/run.js";
import { requireTool } from "../fixtures/system-tools.js";
import { assetName, publishRelease, serverArgs } from "../fixtures/world.js";
import { runCustom, World, writeReport } from "./harness.js";

const world = new World();
const TOKEN = "ghp_fixtureTokenThatMustNeverLeak1234567890";
let certDir: string;

before(async () => {
  requireTool("openssl");
  await world.start();
  certDir = await mkdtemp(join(tmpdir(), "runmat-tls-"));
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"].concat([
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      join(certDir, "key.pem"),
      "-out",
      join(certDir, "cert.pem"),
    ]),
    { stdio: "ignore" },
  );
});
after(async () => {
  await world.stop();
  await rm(certDir, { recursive: true, force: true });
  await writeReport("5-security", world.results);
});

describe("security", () => {
  it("refuses plain http:// to a host that is not loopback", () =>
    runCustom(
      world,
      {
        name: "plain http:// to a non-loopback host",
        category: "security",
        exit: 2,
        invariants: ["exit", "state"],
      },
      async (check) => {
        await world.freshHome();
        try {
          const before = await snapshotTree(world.home);
          const run = await world.run({ args: ["--github-api", "http://example.com"] });
          await check("exit", () => {
            assert.equal(run.code, 2);
            assert.match(run.stderr, /Refusing --github-api over http/);
          });
          await check("state", async () => {
            assert.deepEqual(diffTrees(before, await snapshotTree(world.home)), []);
          });

          world.server.publish("v0.7.0", []);
          const json = world.server.releaseJson("v0.7.0");
          json.assets.push({
            name: assetName("v0.7.0"),
            size: 10,
            digest: null,
            browser_download_url: "http://example.com/x.tar.gz",
          });
          world.server.fault("/releases/", { kind: "garbage", body: JSON.stringify(json) });
          const asset = await world.run();
          assert.equal(asset.code, 3);
          assert.match(asset.stderr, /Refusing download over http/);
          return run.code;
        } finally {
          await cleanHome(world.home);
        }
      },
    ));

  it("refuses a redirect from HTTPS down to HTTP", () =>
    runCustom(
      world,
      {
        name: "redirect from HTTPS down to HTTP",
        category: "security",
        exit: 3,
        invariants: ["exit", "state", "telemetry"],
      },
      async (check) => {
        await world.freshHome();
        let https: Server | null = null;
        try {
          const key = await readFile(join(certDir, "key.pem"));
          const cert = await readFile(join(certDir, "cert.pem"));
          https = createServer({ key, cert }, (req, res) => {
            const origin = `https://127.0.0.1:${(https!.address() as AddressInfo).port}`;
            if (req.url?.includes("/releases/")) {
              const json = world.server.releaseJson("v0.7.0");
              for (const a of json.assets) a.browser_download_url = `${origin}/download/v0.7.0/${a.name}`;
              res.writeHead(200, { "content-type": "application/json" });
              res.end(JSON.stringify(json));
              return;
            }
            res.writeHead(302, { location: `${world.server.url}${req.url}` });
            res.end();
          });
          https.listen(0, "127.0.0.1");
          await once(https, "listening");
          const api = `https://127.0.0.1:${(https.address() as AddressInfo).port}`;
          const before = await snapshotTree(world.home);
          const run = await world.run({
            args: ["--github-api", api, "--repo", "runmat-org/runmat"],
            env: { NODE_EXTRA_CA_CERTS: join(certDir, "cert.pem") },
          });
          await check("exit", () => {
            assert.equal(run.code, 3, run.stderr);
            assert.match(run.stderr, /Refusing a redirect from HTTPS down to http:/);
          });
          await check("state", async () => {
            assert.deepEqual(diffTrees(before, await snapshotTree(world.home)), []);
            assert.ok(
              !world.server.requests.some((r) => r.path.startsWith("/download/")),
              "nothing fetched over http",
            );
          });
          await check("telemetry", () => {
            assert.deepEqual(world.sink.labels(), ["install_start", "install_failed"]);
          });
          return run.code;
        } finally {
          https?.close();
          await cleanHome(world.home);
        }
      },
    ));

  it("sends GITHUB_TOKEN only to the API host, never across a redirect, never printed", () =>
    runCustom(
      world,
      {
        name: "GITHUB_TOKEN scoped to the API host",
        category: "security",
        exit: 0,
        invariants: ["exit", "state"],
      },
      async (check) => {
        const cdn = await new ReleaseServer().start();
        await world.freshHome();
        try {
          // 1. Assets on another host (another loopback port): the token stays with the API.
          publishRelease(cdn, "v0.7.0");
          world.server.fault("/releases/", {
            kind: "garbage",
            body: JSON.stringify(cdn.releaseJson("v0.7.0")),
          });
          const direct = await world.run({
            args: [...serverArgs(world.server), "--verbose"],
            env: { GITHUB_TOKEN: TOKEN },
          });
          assert.equal(direct.code, 0, direct.stderr);
          const apiCalls = world.server.requests.filter((r) => r.path.includes("/releases/"));
          assert.ok(
            apiCalls.length > 0 && apiCalls.every((r) => r.headers.authorization === `Bearer ${TOKEN}`),
          );
          assert.ok(
            cdn.requests.length > 0 && cdn.requests.every((r) => r.headers.authorization === undefined),
          );
          assert.ok(
            !`${direct.stdout}${direct.stderr}`.includes(TOKEN),
            "never printed, even with --verbose",
          );

          // 2. An asset on the API host that redirects to another host: dropped at the hop.
          cdn.requests.length = 0;
          world.server.requests.length = 0;
          world.server.fault("/download/", {
            kind: "redirect",
            location: cdn.assetUrl("v0.7.0", assetName("v0.7.0")),
          });
          const redirected = await world.run({
            args: [...serverArgs(world.server), "--force", "--verbose"],
            env: { GH_TOKEN: TOKEN },
          });
          await check("exit", () => {
            assert.equal(direct.code, 0, direct.stderr);
            assert.equal(redirected.code, 0, redirected.stderr);
          });
          await check("state", () => {
            assert.ok(
              world.server.requests.some((r) => r.path.startsWith("/download/")),
              "the API host saw the first hop",
            );
            assert.ok(
              cdn.requests.length > 0 && cdn.requests.every((r) => r.headers.authorization === undefined),
            );
            assert.ok(!`${redirected.stdout}${redirected.stderr}`.includes(TOKEN));
          });
          return redirected.code;
        } finally {
          await cdn.stop();
          await cleanHome(world.home);
        }
      },
    ));

  it("writes files with the right modes, and nothing outside the dir, ~/.runmat and the receipt's profiles", () =>
    runCustom(
      world,
      {
        name: "file modes and the write footprint",
        category: "security",
        exit: 0,
        invariants: ["exit", "state"],
      },
      async (check) => {
        const home = await makeHome();
        world.home = home;
        try {
          publishRelease(world.server, "v0.7.0");
          const before = await snapshotTree(home);
          const run = await world.run();
          await check("exit", () => assert.equal(run.code, 0, run.stderr));
          await check("state", async () => {
            assert.equal((await stat(join(home, ".local", "bin", "runmat"))).mode & 0o777, 0o755);
            assert.equal((await stat(join(home, ".runmat", "telemetry_id"))).mode & 0o777, 0o600);
            assert.equal((await stat(join(home, ".runmat", "install-receipt.json"))).mode & 0o777, 0o644);
            const receipt = JSON.parse(await readFile(join(home, ".runmat", "install-receipt.json"), "utf8"));
            const allowed = [
              receipt.dir,
              join(home, ".runmat"),
              ...receipt.createdDirs,
              ...receipt.pathEdits.map((edit: { path: string }) => edit.path),
            ].map((p: string) => relative(home, p));
            const changes = diffTrees(before, await snapshotTree(home)).map((c) => c.slice(2));
            const outside = changes.filter(
              (path) => !allowed.some((a) => path === a || path.startsWith(`${a}/`)),
            );
            assert.deepEqual(outside, []);
            assert.ok(existsSync(join(home, ".profile")));
          });
          return run.code;
        } finally {
          await cleanHome(home);
        }
      },
    ));
});

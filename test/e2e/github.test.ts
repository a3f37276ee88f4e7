// GitHub as it really is: an API with a rate limit (60 an hour per address without a token)
// beside release pages that have none, ETags that make repeated checks free, and assets served
// by redirect from another host with a signed URL that expires.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { releaseTarGz, sha256 } from "../fixtures/archives.js";
import { ReleaseServer, SignedCdn } from "../fixtures/release-server.js";
import { cleanHome, makeHome, runInstaller } from "../fixtures/run.js";
import { assetName, publishRelease, serverArgs } from "../fixtures/world.js";

let server: ReleaseServer;
let home: string;
const TOKEN = "ghp_fixtureTokenForTheRedirectChain0123456789";
const RATE_LIMITED = { kind: "status", status: 403, headers: { "x-ratelimit-remaining": "0" } } as const;

before(async () => {
  server = await new ReleaseServer().start();
});
after(() => server.stop());
beforeEach(async () => {
  home = await makeHome("github");
  server.reset();
});
afterEach(() => cleanHome(home));

/** Publishes `tag` with its archive and, unless told otherwise, a SHA256SUMS naming it. */
function publishWithSums(tag: string, sums = true) {
  const data = releaseTarGz(tag.slice(1));
  const name = assetName(tag);
  const extra = sums ? [{ name: "SHA256SUMS", data: Buffer.from(`${sha256(data)}  ${name}\n`) }] : [];
  server.publish(tag, [{ name, data, digest: null }, ...extra]);
}

const apiCalls = () => server.requests.filter((r) => r.path.startsWith("/repos/"));
const bin = () => join(home, ".local", "bin", "runmat");

describe("GitHub's API rate limit, without a token", () => {
  it("falls back to the release pages: the latest tag from /releases/latest, the checksum from SHA256SUMS", async () => {
    publishWithSums("v0.6.1");
    server.fault("/repos/", RATE_LIMITED, 100);
    const run = await runInstaller(home, serverArgs(server));
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      /GitHub's API is rate-limited and no token is set: installing from .*release page instead, verified against SHA256SUMS/,
    );
    assert.equal(apiCalls().length, 1, "one API call, then none");
    assert.ok(server.requests.some((r) => r.path === "/runmat-org/runmat/releases/latest"));
    assert.ok(
      server.requests.some(
        (r) => r.path === `/runmat-org/runmat/releases/download/v0.6.1/${assetName("v0.6.1")}`,
      ),
    );
    assert.ok(existsSync(bin()));
  });

  it("a pinned version with no published checksum: installs with a warning, or refuses under --require-checksum", async () => {
    publishWithSums("v0.6.1", false);
    server.fault("/repos/", RATE_LIMITED, 100);
    const warned = await runInstaller(home, [...serverArgs(server), "v0.6.1"]);
    assert.equal(warned.code, 0, warned.stderr);
    assert.match(warned.stderr, /release page instead, where no checksum is published/);
    assert.match(warned.stderr, /installing it unverified/);
    server.fault("/repos/", RATE_LIMITED, 100);
    const strict = await runInstaller(home, [
      ...serverArgs(server),
      "v0.6.1",
      "--force",
      "--require-checksum",
    ]);
    assert.equal(strict.code, 4, strict.stderr);
    assert.match(strict.stderr, /--require-checksum is set/);
  });

  it("with a token, a rate limit is an error that names it (no fallback)", async () => {
    publishWithSums("v0.6.1");
    server.fault("/repos/", RATE_LIMITED, 100);
    const run = await runInstaller(home, serverArgs(server), { env: { GITHUB_TOKEN: TOKEN } });
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stderr, /rate limit exceeded/);
    assert.ok(
      !server.requests.some((r) => r.path.includes("/releases/latest") && !r.path.startsWith("/repos/")),
    );
  });

  it("status and update --check fall back too", async () => {
    publishWithSums("v0.6.1");
    assert.equal((await runInstaller(home, serverArgs(server))).code, 0);
    publishWithSums("v0.7.0");
    server.fault("/repos/", RATE_LIMITED, 100);
    const check = await runInstaller(home, ["update", "--check", ...serverArgs(server)]);
    assert.equal(check.code, 10, check.stderr);
    assert.match(check.stdout, /Update available: v0\.6\.1 → v0\.7\.0/);
  });
});

describe("conditional requests", () => {
  it("status and update --check send If-None-Match, and a 304 costs nothing against the limit", async () => {
    publishRelease(server, "v0.6.1");
    assert.equal((await runInstaller(home, serverArgs(server))).code, 0);
    server.requests.length = 0;
    for (const args of [["status"], ["status"], ["update", "--check"]]) {
      const run = await runInstaller(home, [...args, ...serverArgs(server)]);
      assert.equal(run.code, 0, run.stderr);
    }
    const lookups = apiCalls();
    assert.equal(lookups.length, 3);
    assert.equal(lookups[0].headers["if-none-match"], undefined, "nothing cached yet");
    assert.match(String(lookups[1].headers["if-none-match"]), /^"[0-9a-f]{32}"$/);
    assert.equal(lookups[2].headers["if-none-match"], lookups[1].headers["if-none-match"]);
    const status = await runInstaller(home, ["status", "--json", ...serverArgs(server)]);
    assert.equal(JSON.parse(status.stdout).latest, "v0.6.1", "the cached release answers a 304");
  });
});

describe("assets served by redirect from another host, with a signed URL that expires", () => {
  let cdn: SignedCdn;
  before(async () => {
    cdn = await new SignedCdn(server).start();
  });
  after(() => cdn.stop());

  it("follows the redirect, never sends the token to the asset host, and resumes across an expired signature", async () => {
    publishRelease(server, "v0.6.1");
    server.cdn = cdn;
    cdn.requests.length = 0;
    // The signature outlives one request but not the pause before the retry: a resume that
    // re-used the old URL would be refused. The download starts again from the API host.
    cdn.lifetimeMs = 150;
    cdn.cutOnce = 0.5;
    const run = await runInstaller(home, serverArgs(server), { env: { GITHUB_TOKEN: TOKEN } });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(existsSync(bin()));
    const assetRequests = cdn.requests.filter((r) => r.path.startsWith("/assets/"));
    assert.equal(assetRequests.length, 2, JSON.stringify(assetRequests.map((r) => r.path)));
    assert.equal(assetRequests[0].headers.range, undefined);
    assert.match(String(assetRequests[1].headers.range), /^bytes=[1-9]\d*-$/, "the resume asks for the rest");
    assert.notEqual(assetRequests[0].path, assetRequests[1].path, "a fresh signature for the resume");
    assert.ok(
      cdn.requests.every((r) => r.headers.authorization === undefined),
      "the token stays with the API",
    );
  });
});

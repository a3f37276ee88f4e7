// `npx runmat-install` as a user's first run: an empty npm cache and a registry (here a small
// one on loopback serving the packed checkout) from which npx must fetch exactly one tarball,
// because the package is one bundled file that declares no dependencies.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { VERSION } from "../../src/version.js";
import { NpmRegistry, userNpmEnv } from "../fixtures/npm-registry.js";
import { packThisCheckout } from "../fixtures/package.js";

const run = promisify(execFile);
let work: string;
let tarballPath: string;
let registry: NpmRegistry;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "runmat-npx-"));
  tarballPath = packThisCheckout(work);
  registry = await new NpmRegistry(await readFile(tarballPath)).start();
});
after(async () => {
  registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("npx runmat-install from a registry, with an empty cache", () => {
  it("the package declares no dependencies, and npx fetches one tarball and runs it", async () => {
    const packed = JSON.parse((await run("tar", ["-xOzf", tarballPath, "package/package.json"])).stdout);
    assert.deepEqual(packed.dependencies ?? {}, {}, "no runtime dependencies");
    console.log(`packed tarball: ${((await readFile(tarballPath)).length / 1024).toFixed(0)} KiB`);
    const { stdout } = await run(
      "npx",
      ["--yes", "--registry", registry.url, "--cache", join(work, "cache"), "runmat-install", "--version"],
      { env: userNpmEnv(join(work, "home")), cwd: work },
    );
    assert.equal(stdout.trim(), VERSION);
    const tarballs = registry.requests.filter((url) => url.endsWith(".tgz"));
    assert.deepEqual(
      tarballs,
      [`/runmat-install/-/runmat-install-${VERSION}.tgz`],
      registry.requests.join("\n"),
    );
  });
});

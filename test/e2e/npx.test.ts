// `npx runmat-install` as a user's first run: an empty npm cache and a registry (here a small
// one on loopback serving the packed checkout) from which npx must fetch exactly one tarball,
// because the package is one bundled file that declares no dependencies.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { VERSION } from "../../src/version.js";
import { packThisCheckout } from "../fixtures/package.js";

const run = promisify(execFile);
let work: string;
let tarball: Buffer;
let server: Server;
let registry: string;
const requests: string[] = [];

before(async () => {
  work = await mkdtemp(join(tmpdir(), "runmat-npx-"));
  tarball = await readFile(packThisCheckout(work));
  const manifest = JSON.parse(await readFile(join(import.meta.dirname, "..", "..", "package.json"), "utf8"));
  server = createServer((request, response) => {
    requests.push(request.url ?? "");
    if (request.url === "/runmat-install") {
      response.setHeader("content-type", "application/json");
      response.end(
        JSON.stringify({
          name: "runmat-install",
          "dist-tags": { latest: VERSION },
          versions: {
            [VERSION]: {
              name: "runmat-install",
              version: VERSION,
              bin: manifest.bin,
              engines: manifest.engines,
              dependencies: manifest.dependencies ?? {},
              dist: {
                tarball: `${registry}runmat-install/-/runmat-install-${VERSION}.tgz`,
                integrity: `sha512-${createHash("sha512").update(tarball).digest("base64")}`,
              },
            },
          },
        }),
      );
    } else if (request.url === `/runmat-install/-/runmat-install-${VERSION}.tgz`) {
      response.end(tarball);
    } else {
      response.statusCode = 404;
      response.end("{}");
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  registry = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
after(async () => {
  server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("npx runmat-install from a registry, with an empty cache", () => {
  it("the package declares no dependencies, and npx fetches one tarball and runs it", async () => {
    const packed = JSON.parse(
      (await run("tar", ["-xOzf", join(work, `runmat-install-${VERSION}.tgz`), "package/package.json"]))
        .stdout,
    );
    assert.deepEqual(packed.dependencies ?? {}, {}, "no runtime dependencies");
    console.log(`packed tarball: ${(tarball.length / 1024).toFixed(0)} KiB`);
    // npm's own settings from `npm test` (its cache, its registry) must not leak into the user's run.
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)),
    ) as NodeJS.ProcessEnv;
    const { stdout } = await run(
      "npx",
      ["--yes", "--registry", registry, "--cache", join(work, "cache"), "runmat-install", "--version"],
      { env: { ...env, HOME: join(work, "home"), npm_config_update_notifier: "false" }, cwd: work },
    );
    assert.equal(stdout.trim(), VERSION);
    const tarballs = requests.filter((url) => url.endsWith(".tgz"));
    assert.deepEqual(tarballs, [`/runmat-install/-/runmat-install-${VERSION}.tgz`], requests.join("\n"));
  });
});

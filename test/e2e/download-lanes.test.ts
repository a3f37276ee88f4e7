// How many connections a large download uses: more, up to 8, where a CDN caps each one;
// the starting 4 where one link caps them all together; exactly what --connections says; and
// never more than 8 requests open at once. Real installs against a paced fixture server.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { fakeRunmat, tarGz, zip } from "../fixtures/archives.js";
import { ReleaseServer } from "../fixtures/release-server.js";
import { cleanHome, makeHome, runInstaller } from "../fixtures/run.js";
import { assetName, serverArgs } from "../fixtures/world.js";

const PAYLOAD = randomBytes(40 * 1024 ** 2);
let server: ReleaseServer;

before(async () => {
  server = await new ReleaseServer().start();
  server.publish("v0.7.0", [
    {
      name: assetName("v0.7.0"),
      data: tarGz([
        { name: "runmat", content: fakeRunmat("0.7.0"), mode: 0o755 },
        { name: "share/payload.bin", content: PAYLOAD },
      ]),
    },
  ]);
  server.publish("v0.7.1", [
    {
      name: assetName("v0.7.1", ".zip"),
      data: zip([
        { name: "runmat", content: fakeRunmat("0.7.1"), mode: 0o100755 },
        { name: "share/payload.bin", content: PAYLOAD },
      ]),
    },
  ]);
});
after(() => server.stop());

/** Installs `tag` with --verbose and returns what it said of its connections. */
async function install(tag: string, extraArgs: string[] = [], env: Record<string, string> = {}) {
  const home = await makeHome("lanes");
  try {
    const run = await runInstaller(
      home,
      [...serverArgs(server), "--no-modify-path", "--verbose", ...extraArgs, tag],
      {
        env,
      },
    );
    assert.equal(run.code, 0, run.stderr);
    const said = run.stdout + run.stderr;
    const counts = [...said.matchAll(/download: (\d+) connections/g)].map((match) => Number(match[1]));
    return { said, counts };
  } finally {
    await cleanHome(home);
  }
}

describe("connections of a segmented download", () => {
  it("a CDN that caps each connection: more connections while the rate rises, never more than 8 requests open", async () => {
    server.pace = { bytesPerSecond: 6 * 1000 ** 2, firstByteMs: 30 };
    server.peakOpenAssetResponses = 0;
    const { counts, said } = await install("v0.7.0");
    assert.ok(Math.max(...counts) > 4, `grew beyond 4: ${counts.join(", ")}\n${said}`);
    assert.ok(server.peakOpenAssetResponses <= 8, `${server.peakOpenAssetResponses} requests open at once`);
    assert.match(
      said,
      /timing: .*first byte \d+ ms, transfer \d+ ms, hash and unpack after the last byte \d+ ms/,
    );
  });

  it("one link that caps every connection together: it stays at 4", async () => {
    server.pace = { bytesPerSecond: 24 * 1000 ** 2, firstByteMs: 30, shared: true };
    server.peakOpenAssetResponses = 0;
    const { counts, said } = await install("v0.7.0");
    assert.equal(counts.at(-1), 4, `ended at 4: ${counts.join(", ")}\n${said}`);
    assert.ok(server.peakOpenAssetResponses <= 8, `${server.peakOpenAssetResponses} requests open at once`);
  });

  it("--connections 3 is exactly 3, with one request per connection", async () => {
    server.pace = { bytesPerSecond: 6 * 1000 ** 2, firstByteMs: 30 };
    server.peakOpenAssetResponses = 0;
    const { counts } = await install("v0.7.0", ["--connections", "3"]);
    assert.deepEqual([...new Set(counts)], [3]);
    assert.ok(server.peakOpenAssetResponses <= 3, `${server.peakOpenAssetResponses} requests open at once`);
  });

  it("a .zip over capped connections is unpacked while it arrives", async () => {
    server.pace = { bytesPerSecond: 12 * 1000 ** 2, firstByteMs: 30 };
    const { said } = await install("v0.7.1");
    assert.match(said, /the \.zip was unpacked while it arrived, and its central directory agrees/);
  });
});

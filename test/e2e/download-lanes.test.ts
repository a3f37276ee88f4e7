// How many connections a large download uses: between 4 and 8 and never more than 8 requests
// open at once, exactly what --connections says, and a .zip unpacked while it arrives. Real
// installs against a paced fixture server.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fakeRunmat, tarGz, zip } from "../fixtures/archives.js";
import { ReleaseServer } from "../fixtures/release-server.js";
import { cleanHome, makeHome, runInstaller } from "../fixtures/run.js";
import { smallDisk } from "../fixtures/small-disk.js";
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
  it("a CDN that caps each connection: at most 8 requests open at once, and --verbose says where the time went", async () => {
    // How many it settles on depends on rates measured on a busy machine: the policy is unit
    // tested (test/unit/download-lanes.test.ts) and the bench reports what it chose.
    server.pace = { bytesPerSecond: 6 * 1000 ** 2, firstByteMs: 30 };
    server.peakOpenAssetResponses = 0;
    const { counts, said } = await install("v0.7.0");
    assert.ok(
      counts.every((count) => count >= 4 && count <= 8),
      counts.join(", "),
    );
    assert.ok(server.peakOpenAssetResponses <= 8, `${server.peakOpenAssetResponses} requests open at once`);
    assert.ok(
      server.peakOpenAssetResponses > 4,
      "a connection asks for its next segment before its current one ends",
    );
    assert.match(
      said,
      /timing: .*first byte \d+ ms, transfer \d+ ms, hash and unpack after the last byte \d+ ms/,
    );
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

  it("a .zip whose server stops honouring Range starts over as one stream, still unpacked while it arrives", async () => {
    server.pace = null;
    server.fault("/download/", { kind: "ignore-range" }, 1, 3);
    const { said } = await install("v0.7.1");
    assert.match(said, /does not honour Range consistently: one stream instead/);
    assert.match(said, /the \.zip was unpacked while it arrived, and its central directory agrees/);
    server.clearFaults();
  });

  it("a disk without room for a spool beside the unpacked files: one stream, and it installs", async () => {
    // 40 MiB of random bytes unpack to 40 MiB; with a 40 MiB spool beside them they would not fit in 64.
    server.pace = null;
    const disk = await smallDisk("64m");
    try {
      const home = join(disk.path, "home");
      await mkdir(home);
      const run = await runInstaller(home, [
        ...serverArgs(server),
        "--no-modify-path",
        "--verbose",
        "v0.7.0",
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(
        run.stdout + run.stderr,
        /too little free disk for a spool beside the unpacked files: one stream/,
      );
      assert.doesNotMatch(run.stdout + run.stderr, /connections at the end/);
    } finally {
      await disk.release();
    }
  });
});

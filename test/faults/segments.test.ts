// Segmented downloads: a 12 MiB asset over several connections, and every way a server can
// stop honouring Range between segments. Each falls back or fails cleanly, with the same
// invariants as every other scenario (exit, state, telemetry, retry).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { fakeRunmat, tarGz } from "../fixtures/archives.js";
import { type ForwardProxy, startProxy } from "../fixtures/proxy.js";
import { assetName } from "../fixtures/world.js";
import { runScenario, type Scenario, World, writeReport } from "./harness.js";

const world = new World();
let proxy: ForwardProxy;
/** Random bytes do not compress: the .tar.gz is as large as its payload. */
const LARGE = tarGz([
  { name: "runmat", content: fakeRunmat("0.7.0"), mode: 0o755 },
  { name: "payload.bin", content: randomBytes(12 * 1024 ** 2) },
]);
const SEGMENT = 4 * 1024 ** 2;

function publishLarge(w: World) {
  w.server.publish("v0.7.0", [{ name: assetName("v0.7.0"), data: LARGE }]);
}

const downloads = (w: World) => w.server.requests.filter((r) => r.path.startsWith("/download/"));
const ranges = (w: World) => downloads(w).map((r) => String(r.headers.range ?? "none"));

const segmented = (
  name: string,
  exit: number,
  s: Omit<Scenario, "name" | "category" | "exit">,
): Scenario => ({
  name,
  category: "segmented download",
  exit,
  ...s,
});

const scenarios: Scenario[] = [
  segmented("the server honours Range: 4 MiB segments over several connections", 0, {
    arrange: publishLarge,
    check: (w) => {
      const asked = ranges(w);
      assert.ok(asked.length >= 3, asked.join(", "));
      assert.equal(asked[0], `bytes=0-${SEGMENT - 1}`, "the first segment alone, first");
      assert.ok(asked.every((range) => /^bytes=\d+-\d+$/.test(range)));
    },
  }),
  segmented("Range ignored: one stream", 0, {
    arrange: (w) => {
      publishLarge(w);
      w.server.honourRange = false;
    },
    check: (w) => assert.deepEqual(ranges(w), [`bytes=0-${SEGMENT - 1}`, "none"]),
  }),
  segmented("200 instead of 206 for a later segment: one stream from the start", 0, {
    arrange: (w) => {
      publishLarge(w);
      w.server.fault("/download/", { kind: "ignore-range" }, 1, 1);
    },
    check: (w) => assert.equal(ranges(w).at(-1), "none"),
  }),
  segmented("a segment reset mid-way: that segment resumes", 0, {
    arrange: (w) => {
      publishLarge(w);
      w.server.fault("/download/", { kind: "reset", fraction: 0.5 }, 1, 2);
    },
    check: (w) => {
      const starts = ranges(w).map((range) => Number(/^bytes=(\d+)-/.exec(range)?.[1]));
      assert.ok(
        starts.some((start) => start % SEGMENT !== 0),
        "a resume from inside a segment",
      );
      assert.ok(!ranges(w).includes("none"), "no fallback to one stream");
    },
  }),
  segmented("a segment whose bytes differ: the digest catches it", 4, {
    message: /Checksum mismatch/,
    arrange: (w) => {
      publishLarge(w);
      w.server.fault("/download/", { kind: "corrupt" }, 1, 2);
    },
  }),
  segmented("another ETag between segments (the asset was replaced): one stream from the start", 0, {
    arrange: (w) => {
      publishLarge(w);
      w.server.fault("/download/", { kind: "etag", value: '"replaced"' }, 1, 2);
    },
    check: (w) => assert.equal(ranges(w).at(-1), "none"),
  }),
  segmented("through a proxy with credentials", 0, {
    arrange: (w) => {
      publishLarge(w);
      proxy.seen.length = 0;
      return { env: { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: new URL(w.sink.url).host } };
    },
    check: (w) => {
      // undici tunnels every connection through CONNECT: one per connection to the server.
      const tunnels = proxy.seen.filter(
        (request) => request.method === "CONNECT" && request.target === new URL(w.server.url).host,
      );
      assert.ok(tunnels.length >= 2, `${tunnels.length} connections through the proxy`);
      assert.ok(tunnels.every((request) => /^Basic /.test(String(request.auth))));
    },
  }),
  segmented("the server's size differs from the release's declared size", 4, {
    message: /but the release declares/,
    arrange: (w) => {
      publishLarge(w);
      const json = w.server.releaseJson("v0.7.0");
      json.assets[0].size = LARGE.length + 1000;
      w.server.fault("/releases/", { kind: "garbage", body: JSON.stringify(json) });
    },
  }),
  segmented("Ctrl-C while segments arrive: every connection stops, staging goes", 130, {
    message: /Interrupted by SIGINT/,
    arrange: (w) => {
      publishLarge(w);
      w.server.fault("/download/", { kind: "slow", chunks: 50, delayMs: 40 }, 10);
      return {
        onSpawn: (child) => {
          const poll = setInterval(() => {
            if (downloads(w).length >= 3) {
              clearInterval(poll);
              child.kill("SIGINT");
            }
          }, 10);
          child.on("exit", () => clearInterval(poll));
        },
      };
    },
  }),
];

before(async () => {
  await world.start();
  proxy = await startProxy();
});
after(async () => {
  proxy.close();
  await world.stop();
  await writeReport("7-segments", world.results);
});

describe("faults: segmented downloads", () => {
  for (const s of scenarios) it(s.name, { timeout: 120_000 }, () => runScenario(world, s));
  it("the asset is large enough to be segmented (control)", () => {
    assert.ok(LARGE.length >= 8 * 1024 ** 2);
  });
});

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import fc from "fast-check";
import { PAYLOAD_KEYS, SUPPORTED_PLATFORMS } from "../../src/contract.js";
import { handleTelemetry, type RelayConfig } from "../../src/relay/handler.js";
import { TokenBucketLimiter } from "../../src/relay/rate-limit.js";
import { startRelay } from "../../src/relay/server.js";
import { FakeGa, SAMPLE_EVENT } from "../fixtures/fake-ga.js";
import { ReleaseServer } from "../fixtures/release-server.js";
import { cleanHome, makeHome, ROOT, runInstaller } from "../fixtures/run.js";
import { publishRelease, serverArgs } from "../fixtures/world.js";

const SECRET = "s3cr3t-api-secret-DO-NOT-LEAK";
let ga: FakeGa;
let logs: string[];

function config(extra: Partial<RelayConfig> = {}): RelayConfig {
  return {
    measurementId: "G-TEST123",
    apiSecret: SECRET,
    gaEndpoint: ga.url,
    log: (line) => logs.push(line),
    limiter: new TokenBucketLimiter({ perSecond: 1e6, burst: 1e6 }),
    ...extra,
  };
}

function post(body: unknown, headers: Record<string, string> = {}): Request {
  return new Request("http://relay.test/api/telemetry", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

const event = SAMPLE_EVENT;

before(async () => {
  ga = await new FakeGa().start();
});
after(async () => {
  await ga.stop();
});
beforeEach(() => {
  ga.hits.length = 0;
  ga.mode = "ok";
  logs = [];
});
afterEach(() => {
  for (const line of logs) assert.ok(!line.includes(SECRET), "the api secret never reaches a log");
});

describe("relay handler", () => {
  for (const label of ["install_start", "install_complete", "install_failed"]) {
    it(`forwards ${label} with exactly the allowlisted parameters`, async () => {
      const response = await handleTelemetry(post({ ...event, event_label: label }), config());
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { ok: true, forwarded: true });
      assert.equal(ga.hits.length, 1);
      const [hit] = ga.hits;
      assert.equal(hit.path, "/mp/collect");
      assert.deepEqual([...hit.query.keys()].sort(), ["api_secret", "measurement_id"]);
      assert.equal(hit.query.get("measurement_id"), "G-TEST123");
      assert.deepEqual(hit.body, {
        client_id: event.cid,
        events: [
          {
            name: label,
            params: {
              event_label: label,
              os: "linux",
              arch: "x86_64",
              platform: "linux-x86_64",
              release: "v0.6.1",
              method: "shell",
              engagement_time_msec: 1,
            },
          },
        ],
      });
    });
  }

  it("maps unknown dimensions to other, cleans values, drops extra keys and replaces a bad cid", async () => {
    const hostile = {
      ...event,
      os: "TempleOS",
      arch: "  x86_64  ",
      platform: "linux-x86_64; rm -rf /",
      release: ` v0.6.1<script>${"x".repeat(100)}`,
      method: "curl",
      cid: "not a valid id!",
      email: "someone@example.com",
      __proto__: { polluted: true },
    };
    const response = await handleTelemetry(post(hostile), config());
    assert.equal(response.status, 200);
    const body = ga.hits[0].body as { client_id: string; events: { params: Record<string, unknown> }[] };
    assert.match(body.client_id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(body.events[0].params, {
      event_label: "install_start",
      os: "other",
      arch: "x86_64",
      platform: "other",
      release: `v0.6.1script${"x".repeat(100)}`.slice(0, 64),
      method: "other",
      engagement_time_msec: 1,
    });
    assert.ok(!JSON.stringify(ga.hits).includes("example.com"));
  });

  const rejections: [string, () => Request, number, string][] = [
    ["GET", () => new Request("http://relay.test/api/telemetry"), 405, "method_not_allowed"],
    [
      "a text body",
      () => post(JSON.stringify(event), { "content-type": "text/plain" }),
      415,
      "unsupported_media_type",
    ],
    ["a body over 8 KB", () => post({ ...event, pad: "x".repeat(9000) }), 413, "payload_too_large"],
    ["malformed JSON", () => post("{nope"), 400, "invalid_json"],
    ["a JSON array", () => post([event]), 400, "invalid_json"],
    ["an unknown event", () => post({ ...event, event_label: "install_hacked" }), 400, "invalid_event"],
  ];
  for (const [label, request, status, error] of rejections) {
    it(`answers ${status} to ${label}`, async () => {
      const response = await handleTelemetry(request(), config());
      assert.equal(response.status, status);
      assert.equal(((await response.json()) as { error: string }).error, error);
      assert.equal(ga.hits.length, 0);
    });
  }

  it("decides on an oversized streamed body without a Content-Length", async () => {
    const chunk = new TextEncoder().encode("x".repeat(4096));
    let pulled = 0;
    const stream = new ReadableStream({
      pull(controller) {
        pulled += 1;
        if (pulled > 1000) controller.close();
        else controller.enqueue(chunk);
      },
    });
    const request = new Request("http://relay.test/api/telemetry", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: stream,
      duplex: "half",
    } as RequestInit);
    const response = await handleTelemetry(request, config());
    assert.equal(response.status, 413);
    assert.ok(pulled < 10, `stopped reading early (pulled ${pulled} chunks)`);
  });

  it("rate-limits per client with a token bucket", async () => {
    const limiter = new TokenBucketLimiter({ perSecond: 0.001, burst: 3 });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await handleTelemetry(
        post(event, { "x-forwarded-for": "10.0.0.1" }),
        config({ limiter }),
      );
      statuses.push(response.status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    const other = await handleTelemetry(post(event, { "x-forwarded-for": "10.0.0.2" }), config({ limiter }));
    assert.equal(other.status, 200);
    assert.ok(!logs.some((line) => line.includes("10.0.0")), "IPs are never logged");
  });

  for (const mode of ["500", "hang"] as const) {
    it(`still answers 2xx when GA ${mode === "500" ? "fails" : "hangs"}, logging no secret`, async () => {
      ga.mode = mode;
      const response = await handleTelemetry(post(event), config());
      assert.equal(response.status, 200);
      const text = await response.text();
      assert.deepEqual(JSON.parse(text), { ok: true, forwarded: false });
      assert.ok(!text.includes(SECRET));
      assert.ok(logs.length > 0);
    });
  }

  it("never leaks the secret when GA is unreachable or in debug mode", async () => {
    const unreachable = await handleTelemetry(
      post(event),
      config({ gaEndpoint: "http://127.0.0.1:9/mp/collect" }),
    );
    assert.ok(!(await unreachable.text()).includes(SECRET));
    const debug = await handleTelemetry(post(event), config({ gaDebug: true }));
    assert.equal(debug.status, 200);
    assert.equal(ga.hits.at(-1)?.path, "/debug/mp/collect");
    assert.ok(logs.some((line) => line.includes("validationMessages")));
  });

  it("without GA credentials logs one JSON line per accepted event and forwards nothing", async () => {
    const response = await handleTelemetry(
      post(event),
      config({ measurementId: undefined, apiSecret: undefined }),
    );
    assert.deepEqual(await response.json(), { ok: true, forwarded: false });
    assert.equal(ga.hits.length, 0);
    assert.equal(logs.length, 1);
    assert.equal(JSON.parse(logs[0]).accepted.event_label, "install_start");
  });

  it("property: any body gives no 5xx, and nothing off-schema is forwarded", async () => {
    const anyValue = fc.oneof(
      fc.string(),
      fc.string({ unit: "grapheme", maxLength: 300 }),
      fc.constantFrom(
        ...SUPPORTED_PLATFORMS,
        "linux",
        "darwin",
        "x86_64",
        "npx",
        "install_start",
        "install_failed",
      ),
      fc.integer(),
      fc.constant(null),
      fc.object(),
      fc.array(fc.string()),
    );
    const keys = fc.constantFrom(
      ...PAYLOAD_KEYS,
      "__proto__",
      "constructor",
      "prototype",
      "client_id",
      "events",
      "api_secret",
    );
    const body = fc.oneof(
      fc.dictionary(keys, anyValue),
      fc
        .record({ event_label: fc.constantFrom("install_start", "install_complete", "install_failed") })
        .chain((base) => fc.dictionary(keys, anyValue).map((rest) => ({ ...rest, ...base }))),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 10_000 }),
    );
    // What the relay may forward: the payload's keys, with cid turned into GA's client_id.
    const allowed = new Set<string>([...PAYLOAD_KEYS.filter((key) => key !== "cid"), "engagement_time_msec"]);
    const local = config({ measurementId: undefined, apiSecret: undefined });
    await fc.assert(
      fc.asyncProperty(body, async (input) => {
        const before = logs.length;
        const response = await handleTelemetry(post(input), local);
        assert.ok(response.status < 500);
        if (response.status === 200) {
          const { accepted } = JSON.parse(logs[before]) as { accepted: Record<string, unknown> };
          assert.deepEqual(
            Object.keys(accepted).filter((k) => !allowed.has(k)),
            [],
          );
          for (const [key, value] of Object.entries(accepted)) {
            if (key !== "engagement_time_msec") assert.match(String(value), /^[A-Za-z0-9_.-]{1,64}$/);
          }
          assert.equal(({} as Record<string, unknown>).polluted, undefined);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe("relay server", () => {
  it("serves /healthz, logs accepted events and stops on SIGTERM", async () => {
    const child = spawn(process.execPath, [join(ROOT, "bin", "runmat-telemetry-relay.js")], {
      env: { PATH: process.env.PATH, PORT: "0", HOST: "127.0.0.1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    let stderr = "";
    const port = await new Promise<number>((resolve, reject) => {
      child.stderr.on("data", (chunk) => {
        stderr += chunk;
        const match = /127\.0\.0\.1:(\d+)/.exec(stderr);
        if (match) resolve(Number(match[1]));
      });
      child.on("exit", () => reject(new Error(stderr)));
    });
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 200);
    const response = await fetch(`http://127.0.0.1:${port}/api/telemetry`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(event),
    });
    assert.deepEqual(await response.json(), { ok: true, forwarded: false });
    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    assert.equal(code, 0);
    assert.equal(JSON.parse(stdout.trim()).accepted.release, "v0.6.1");
  });

  it("end to end: runmat-install → relay → GA receives exactly install_start and install_complete", async () => {
    const releases = await new ReleaseServer().start();
    let relay: Server | null = null;
    const home = await makeHome();
    try {
      relay = await startRelay({ port: 0, host: "127.0.0.1", config: config() });
      const endpoint = `http://127.0.0.1:${(relay.address() as AddressInfo).port}/api/telemetry`;
      publishRelease(releases, "v0.6.1");
      const run = await runInstaller(home, serverArgs(releases), {
        env: {
          RUNMAT_NO_TELEMETRY: undefined,
          RUNMAT_TELEMETRY_ENDPOINT: endpoint,
          RUNMAT_INSTALL_METHOD: "shell",
        },
      });
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(
        ga.hits.map((hit) => (hit.body as { events: { name: string }[] }).events[0].name),
        ["install_start", "install_complete"],
      );
      for (const hit of ga.hits) {
        const params = (hit.body as { events: { params: Record<string, unknown> }[] }).events[0].params;
        assert.equal(params.method, "shell");
        assert.equal(params.release, "v0.6.1");
      }
    } finally {
      relay?.close();
      await releases.stop();
      await cleanHome(home);
    }
  });
});

it("npm run demo shows the install and both relay log lines, then cleans up", async () => {
  const run = await runInstaller(tmpdir(), [], {
    command: [process.execPath, "--import", "tsx", join(ROOT, "scripts", "demo.ts")],
  });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /runmat 0\.6\.1/);
  const accepted = run.stdout
    .split("\n")
    .filter((line) => line.startsWith('{"accepted"'))
    .map((line) => JSON.parse(line).accepted.event_label);
  assert.deepEqual(accepted, ["install_start", "install_complete"]);
  const home = /HOME: (\S+)/.exec(run.stdout)?.[1];
  assert.ok(home && !existsSync(home), "the throwaway HOME is gone");
});

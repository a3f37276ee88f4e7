import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import type { IncomingMessage, Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import fc from "fast-check";
import { PAYLOAD_KEYS, SUPPORTED_PLATFORMS } from "../../src/contract.js";
import { handleTelemetry, type RelayConfig } from "../../src/relay/handler.js";
import { BackgroundQueue } from "../../src/relay/queue.js";
import { TokenBucketLimiter } from "../../src/relay/rate-limit.js";
import { clientAddress, startRelay } from "../../src/relay/server.js";
import { FakeGa, SAMPLE_EVENT } from "../fixtures/fake-ga.js";
import { ReleaseServer } from "../fixtures/release-server.js";
import { cleanHome, makeHome, ROOT, runInstaller } from "../fixtures/run.js";
import { publishRelease, serverArgs } from "../fixtures/world.js";

const SECRET = "s3cr3t-api-secret-DO-NOT-LEAK";
let ga: FakeGa;
let logs: string[];
/** Forwarding the relay deferred until after its answer; `forwarded()` waits for all of it. */
let deferred: Promise<void>[];

function config(extra: Partial<RelayConfig> = {}): RelayConfig {
  return {
    measurementId: "G-TEST123",
    apiSecret: SECRET,
    gaEndpoint: ga.url,
    log: (line) => logs.push(line),
    limiter: new TokenBucketLimiter({ perSecond: 1e6, burst: 1e6 }),
    defer: (task) => {
      deferred.push(task());
    },
    ...extra,
  };
}

async function forwarded(): Promise<void> {
  await Promise.all(deferred);
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
  deferred = [];
});
afterEach(() => {
  for (const line of logs) assert.ok(!line.includes(SECRET), "the api secret never reaches a log");
});

describe("relay handler", () => {
  for (const label of ["install_start", "install_complete", "install_failed"]) {
    it(`forwards ${label} with exactly the allowlisted parameters`, async () => {
      const now = Date.UTC(2026, 10, 25, 12, 0, 0);
      const response = await handleTelemetry(
        post({ ...event, event_label: label }),
        config({ now: () => now }),
      );
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { ok: true });
      await forwarded();
      assert.equal(ga.hits.length, 1);
      const [hit] = ga.hits;
      assert.equal(hit.path, "/mp/collect");
      assert.deepEqual([...hit.query.keys()].sort(), ["api_secret", "measurement_id"]);
      assert.equal(hit.query.get("measurement_id"), "G-TEST123");
      const body = hit.body as { events: { params: Record<string, unknown> }[] };
      const sessionId = body.events[0].params.session_id;
      assert.match(String(sessionId), /^\d{6,}$/);
      assert.deepEqual(hit.body, {
        client_id: event.cid,
        timestamp_micros: now * 1000,
        consent: { ad_user_data: "DENIED", ad_personalization: "DENIED" },
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
              session_id: sessionId,
              engagement_time_msec: 1,
            },
          },
        ],
      });
    });
  }

  it("gives one install's events one session_id, and another client or half hour another", async () => {
    const at = (cid: string, now: number) =>
      handleTelemetry(post({ ...event, cid }), config({ now: () => now })).then(forwarded);
    const start = Date.UTC(2026, 10, 25, 12, 0, 0);
    await at(event.cid, start);
    await at(event.cid, start + 60_000);
    await at("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b", start);
    await at(event.cid, start + 31 * 60_000);
    const ids = ga.hits.map(
      (hit) => (hit.body as { events: { params: { session_id: string } }[] }).events[0].params.session_id,
    );
    assert.equal(ids[0], ids[1]);
    assert.notEqual(ids[0], ids[2]);
    assert.notEqual(ids[0], ids[3]);
  });

  for (const [release, forwardedAs] of [
    ["v0.6.1", "v0.6.1"],
    ["0.6.1", "v0.6.1"],
    ["v1.0.0-rc.1", "v1.0.0-rc.1"],
    ["unknown", "unknown"],
    ["aliceexample.com", "other"],
    ["v0.6.1.evil", "other"],
  ]) {
    it(`forwards release ${JSON.stringify(release)} as ${JSON.stringify(forwardedAs)}: a version tag or nothing free`, async () => {
      await handleTelemetry(post({ ...event, release }), config()).then(forwarded);
      const params = (ga.hits[0].body as { events: { params: Record<string, unknown> }[] }).events[0].params;
      assert.equal(params.release, forwardedAs);
    });
  }

  for (const [cid, kept] of [
    ["9b7f0ee2-0a5a-4bda-8f1a-3a9d53f1b3e7", true],
    ["1700000000-12345", true],
    ["john-smith-laptop-serial-C02XK1", false],
    ["ABCDEFGH", false],
  ] as const) {
    it(`${kept ? "keeps" : "replaces"} the client id ${cid}`, async () => {
      await handleTelemetry(post({ ...event, cid }), config()).then(forwarded);
      const clientId = (ga.hits[0].body as { client_id: string }).client_id;
      if (kept) assert.equal(clientId, cid);
      else assert.match(clientId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
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
    await forwarded();
    const body = ga.hits[0].body as { client_id: string; events: { params: Record<string, unknown> }[] };
    assert.match(body.client_id, /^[0-9a-f-]{36}$/);
    const { session_id: _session, ...params } = body.events[0].params;
    assert.deepEqual(params, {
      event_label: "install_start",
      os: "other",
      arch: "x86_64",
      platform: "other",
      release: "other",
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
      await forwarded();
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

  it("rate-limits per client address, as the platform gives it, with a token bucket", async () => {
    const limiter = new TokenBucketLimiter({ perSecond: 0.001, burst: 3 });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await handleTelemetry(post(event), config({ limiter }), { address: "10.0.0.1" });
      statuses.push(response.status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    const other = await handleTelemetry(post(event), config({ limiter }), { address: "10.0.0.2" });
    assert.equal(other.status, 200);
    await forwarded();
    assert.ok(!logs.some((line) => line.includes("10.0.0")), "IPs are never logged");
  });

  it("trusts no header a client sets: spoofed cf-connecting-ip, x-forwarded-for and x-real-ip raise no limit", async () => {
    // The default configuration with no platform address: only the global cap applies, and
    // headers the client writes change nothing about it.
    const globalLimiter = new TokenBucketLimiter({ perSecond: 0.001, burst: 10 });
    let accepted = 0;
    for (let i = 0; i < 200; i++) {
      const spoofed = {
        "cf-connecting-ip": `203.0.113.${i}`,
        "x-forwarded-for": `198.51.100.${i}`,
        "x-real-ip": `192.0.2.${i}`,
      };
      const response = await handleTelemetry(post(event, spoofed), config({ globalLimiter }));
      if (response.status === 200) accepted += 1;
    }
    assert.equal(accepted, 10);
  });

  for (const mode of ["500", "hang"] as const) {
    it(`answers at once when GA ${mode === "500" ? "fails" : "hangs"}, and logs the failure without the secret`, async () => {
      ga.mode = mode;
      const response = await handleTelemetry(post(event), config());
      assert.equal(response.status, 200);
      const text = await response.text();
      assert.deepEqual(JSON.parse(text), { ok: true });
      assert.equal(logs.length, 0, "the answer did not wait for GA");
      await forwarded();
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
    await forwarded();
    assert.equal(ga.hits.at(-1)?.path, "/debug/mp/collect");
    assert.ok(logs.some((line) => line.includes("validationMessages")));
  });

  it("without GA credentials logs one JSON line per accepted event and forwards nothing", async () => {
    const response = await handleTelemetry(
      post(event),
      config({ measurementId: undefined, apiSecret: undefined }),
    );
    assert.deepEqual(await response.json(), { ok: true });
    await forwarded();
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
    const allowed = new Set<string>([
      ...PAYLOAD_KEYS.filter((key) => key !== "cid"),
      "session_id",
      "engagement_time_msec",
    ]);
    const local = config({ measurementId: undefined, apiSecret: undefined });
    await fc.assert(
      fc.asyncProperty(body, async (input) => {
        const before = logs.length;
        const response = await handleTelemetry(post(input), local);
        assert.ok(response.status < 500);
        await forwarded();
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
    assert.deepEqual(await response.json(), { ok: true });
    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    assert.equal(code, 0);
    assert.equal(JSON.parse(stdout.trim()).accepted.release, "v0.6.1");
  });

  for (const [name, value] of [
    ["RELAY_RATE_PER_SECOND", "abc"],
    ["RELAY_RATE_BURST", "0"],
    ["RELAY_GLOBAL_RATE_PER_SECOND", "-5"],
    ["RELAY_TRUSTED_PROXY_HOPS", "1.5"],
  ]) {
    it(`refuses to start with ${name}=${value} (never "unlimited")`, async () => {
      const child = spawn(process.execPath, [join(ROOT, "bin", "runmat-telemetry-relay.js")], {
        env: { PATH: process.env.PATH, PORT: "0", [name]: value },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (chunk) => {
        stderr += chunk;
      });
      const [code] = await once(child, "exit");
      assert.equal(code, 2);
      assert.match(stderr, new RegExp(`${name} must be`));
    });
  }

  it("keys clients by the socket, or behind N trusted proxies by the entry the outermost appended", () => {
    const req = (xff: string | undefined) =>
      ({
        socket: { remoteAddress: "10.1.1.1" },
        headers: { "x-forwarded-for": xff },
      }) as unknown as IncomingMessage;
    assert.equal(clientAddress(req("6.6.6.6"), 0), "10.1.1.1", "no hops: a client's header is ignored");
    assert.equal(
      clientAddress(req("6.6.6.6, 203.0.113.9"), 1),
      "203.0.113.9",
      "the client cannot prepend its way in",
    );
    assert.equal(clientAddress(req("6.6.6.6, 203.0.113.9, 10.0.0.2"), 2), "203.0.113.9");
    assert.equal(clientAddress(req(undefined), 1), "10.1.1.1");
  });

  it("forwards through a bounded queue: a hanging GA can neither hold clients nor grow memory", async () => {
    const queue = new BackgroundQueue(4, 10);
    const hanging: (() => void)[] = [];
    for (let i = 0; i < 100; i++) {
      queue.defer(() => new Promise<void>((resolve) => hanging.push(resolve)));
    }
    assert.deepEqual(queue.size, { running: 4, waiting: 10 });
    assert.equal(queue.dropped, 86);
    for (const release of hanging.splice(0)) release();
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(queue.size, { running: 4, waiting: 6 });
  });

  it("end to end: runmat-install → relay → GA receives exactly install_start and install_complete", async () => {
    const releases = await new ReleaseServer().start();
    let relay: Server | null = null;
    const home = await makeHome();
    try {
      relay = await startRelay({ port: 0, host: "127.0.0.1", config: config({ defer: undefined }) });
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
      // The relay forwards after answering: give it a moment to reach GA.
      for (let i = 0; i < 100 && ga.hits.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
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

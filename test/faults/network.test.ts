import { after, before, describe, it } from "node:test";
import { type ForwardProxy, startProxy } from "../fixtures/proxy.js";
import { serverArgs } from "../fixtures/world.js";
import { runScenario, type Scenario, World, writeReport } from "./harness.js";

const world = new World();
let proxy: ForwardProxy;
/** The telemetry sink's host:port, for NO_PROXY: the broken proxy is the fault, not the endpoint. */
const sinkHost = (w: World) => new URL(w.sink.url).host;
const fail = (name: string, s: Omit<Scenario, "name" | "category">): Scenario => ({
  name,
  category: "network",
  ...s,
});

const scenarios: Scenario[] = [
  fail("DNS failure", {
    exit: 3,
    release: "unknown",
    // Named, whichever the resolver says: no such name, or no resolver answering (offline).
    message: /runmat-no-such-host\.invalid (was not found|cannot be reached)/,
    arrange: () => ({ args: ["--github-api", "https://runmat-no-such-host.invalid"] }),
  }),
  fail("connection refused", {
    exit: 3,
    release: "unknown",
    message: /127\.0\.0\.1:9 refused the connection/,
    arrange: () => ({ args: ["--github-api", "http://127.0.0.1:9"] }),
  }),
  fail("API 500, then success (retried)", {
    exit: 0,
    arrange: (w) => void w.server.fault("/releases/latest", { kind: "status", status: 500 }, 1),
  }),
  fail("API 500 every time", {
    exit: 3,
    release: "unknown",
    message: /HTTP 500/,
    arrange: (w) => void w.server.fault("/releases/latest", { kind: "status", status: 500 }, 10),
  }),
  fail("API 403 rate limit without a token: the release pages instead", {
    exit: 0,
    message: /rate-limited and no token is set: installing from .* release page instead/,
    arrange: (w) =>
      void w.server.fault(
        "/repos/",
        { kind: "status", status: 403, headers: { "x-ratelimit-remaining": "0" } },
        10,
      ),
  }),
  fail("API 403 rate limit with a token", {
    exit: 3,
    release: "unknown",
    message: /rate limit[\s\S]*GITHUB_TOKEN/,
    arrange: (w) => {
      w.server.fault("/repos/", { kind: "status", status: 403, headers: { "x-ratelimit-remaining": "0" } });
      return { env: { GITHUB_TOKEN: "ghp_exhaustedToken0123456789" } };
    },
  }),
  fail("API 429 rate limit with a token", {
    exit: 3,
    release: "unknown",
    message: /rate limit[\s\S]*GITHUB_TOKEN/,
    arrange: (w) => {
      w.server.fault("/repos/", { kind: "status", status: 429 });
      return { env: { GITHUB_TOKEN: "ghp_exhaustedToken0123456789" } };
    },
  }),
  fail("API answers garbage", {
    exit: 3,
    release: "unknown",
    message: /did not answer with a GitHub release/,
    arrange: (w) =>
      void w.server.fault("/releases/", { kind: "garbage", body: "<html>captive portal</html>" }),
  }),
  fail("asset 404", {
    exit: 3,
    message: /not found \(HTTP 404\)/,
    arrange: (w) => void w.server.fault("/download/", { kind: "status", status: 404 }, 10),
  }),
  fail("redirect loop", {
    exit: 3,
    message: /Too many redirects/,
    arrange: (w) =>
      void w.server.fault("/download/", { kind: "redirect", location: "/download/v0.7.0/loop" }, 100),
  }),
  ...[0, 0.5, 0.99].map((fraction) =>
    fail(`body cut at ${Math.round(fraction * 100)}% every time`, {
      exit: 3,
      message: /failed after 4 attempts/,
      arrange: (w) => void w.server.fault("/download/", { kind: "truncate", fraction }, 10),
    }),
  ),
  fail("body cut at 50% once (resumed with Range)", {
    exit: 0,
    arrange: (w) => void w.server.fault("/download/", { kind: "truncate", fraction: 0.5 }, 1),
  }),
  fail("reset mid-stream every time", {
    exit: 3,
    message: /connection reset|failed after 4 attempts/,
    arrange: (w) => void w.server.fault("/download/", { kind: "reset", fraction: 0.5 }, 10),
  }),
  fail("stall after headers", {
    exit: 3,
    message: /stopped answering \(timed out\)/,
    arrange: (w) => {
      w.server.fault("/download/", { kind: "stall" }, 10);
      return { args: [...serverArgs(w.server), "--timeout", "0.3"] };
    },
  }),
  fail("Content-Length larger than the body", {
    exit: 3,
    arrange: (w) => void w.server.fault("/download/", { kind: "length-lie", extra: 100 }, 10),
  }),
  fail("resume (Range) ignored by the server", {
    exit: 0,
    arrange: (w) => {
      w.server.honourRange = false;
      w.server.fault("/download/", { kind: "truncate", fraction: 0.5 }, 1);
    },
  }),
  fail("proxy refuses connections", {
    exit: 3,
    release: "unknown",
    arrange: (w) => ({
      env: { HTTP_PROXY: "http://127.0.0.1:9", HTTPS_PROXY: "http://127.0.0.1:9", NO_PROXY: sinkHost(w) },
    }),
  }),
  fail("proxy needs credentials that are missing", {
    exit: 3,
    release: "unknown",
    message: /authentication required/,
    arrange: (w) => ({
      env: { HTTP_PROXY: proxy.bareUrl, HTTPS_PROXY: proxy.bareUrl, NO_PROXY: sinkHost(w) },
    }),
  }),
];

before(async () => {
  await world.start();
  proxy = await startProxy();
});
after(async () => {
  proxy.close();
  await world.stop();
  await writeReport("1-network", world.results);
});

describe("faults: network", () => {
  for (const scenario of scenarios) it(scenario.name, () => runScenario(world, scenario));
});

// runmat-telemetry-relay: a Node server around handleTelemetry, plus GET /healthz and a
// graceful SIGTERM. With no GA credentials it is a working local collector that logs events.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { DEFAULT_GA_ENDPOINT, DEFAULT_RATES, processTelemetry, type RelayConfig } from "./handler.js";
import { BackgroundQueue } from "./queue.js";
import { TokenBucketLimiter } from "./rate-limit.js";

/** A positive number from the environment, or a startup error (never "unlimited"). */
function positive(env: NodeJS.ProcessEnv, name: string, fallback: number, integer = false): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (
    !Number.isFinite(value) ||
    value < (integer ? 0 : Number.MIN_VALUE) ||
    (integer && !Number.isInteger(value))
  ) {
    throw new Error(`${name} must be ${integer ? "a whole number ≥ 0" : "a positive number"}, not "${raw}".`);
  }
  return value;
}

export interface RelayServerOptions {
  port: number;
  host: string;
  config: RelayConfig;
  /** How many reverse proxies in front of the relay append to X-Forwarded-For (0: trust none). */
  trustedProxyHops?: number;
  /** Where config.defer puts the GA forwarding, drained on shutdown. */
  queue?: BackgroundQueue;
}

function relayOptionsFromEnv(env: NodeJS.ProcessEnv): RelayServerOptions {
  const queue = new BackgroundQueue();
  return {
    port: positive(env, "PORT", 8787, true),
    host: env.HOST || "127.0.0.1",
    trustedProxyHops: positive(env, "RELAY_TRUSTED_PROXY_HOPS", 0, true),
    queue,
    config: {
      measurementId: env.GA_MEASUREMENT_ID || undefined,
      apiSecret: env.GA_API_SECRET || undefined,
      gaEndpoint: env.GA_ENDPOINT || DEFAULT_GA_ENDPOINT,
      gaDebug: env.GA_DEBUG === "1",
      limiter: new TokenBucketLimiter({
        perSecond: positive(env, "RELAY_RATE_PER_SECOND", DEFAULT_RATES.perClient.perSecond),
        burst: positive(env, "RELAY_RATE_BURST", DEFAULT_RATES.perClient.burst),
      }),
      globalLimiter: new TokenBucketLimiter({
        perSecond: positive(env, "RELAY_GLOBAL_RATE_PER_SECOND", DEFAULT_RATES.global.perSecond),
        burst: positive(env, "RELAY_GLOBAL_RATE_BURST", DEFAULT_RATES.global.burst),
      }),
      defer: queue.defer,
    },
  };
}

/**
 * The client's address: the socket's, or behind `hops` trusted reverse proxies, the entry of
 * X-Forwarded-For that the outermost of them appended (entries further left are the client's
 * own claims, which anyone can write).
 */
export function clientAddress(req: IncomingMessage, hops: number): string | undefined {
  if (hops === 0) return req.socket.remoteAddress;
  const header = req.headers["x-forwarded-for"];
  const entries = (Array.isArray(header) ? header.join(",") : (header ?? ""))
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  return entries.length >= hops ? entries[entries.length - hops] : req.socket.remoteAddress;
}

/** Reads a node:http body up to `limit` bytes; null (and the rest discarded) beyond it. */
function readNodeBody(req: IncomingMessage, limit: number): Promise<string | null> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.resolve(null);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    req.on("data", (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) {
        req.removeAllListeners("data");
        req.resume();
        resolve(null);
      } else {
        chunks.push(chunk);
      }
    });
    req.on("end", () => resolve(total > limit ? null : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * The Node server calls the relay's core directly rather than building Fetch Request and
 * Response objects, which cost more than the rest of the request put together.
 */
function createRelayServer(config: RelayConfig, trustedProxyHops: number): Server {
  return createServer(async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const path = (req.url ?? "/").split("?")[0];
      if (path === "/healthz" && req.method === "GET") return send(res, 200, { ok: true });
      if (path !== "/api/telemetry") return send(res, 404, { ok: false, error: "not_found" });
      const answer = await processTelemetry(
        {
          method: req.method ?? "",
          contentType: req.headers["content-type"] ?? null,
          // Keys the rate limiter and goes nowhere else.
          clientAddress: clientAddress(req, trustedProxyHops),
          readBody: (limit) => readNodeBody(req, limit),
        },
        config,
      );
      send(res, answer.status, answer.body, answer.headers);
    } catch {
      if (!res.headersSent) send(res, 500, { ok: false, error: "internal" });
      else res.end();
    }
  });
}

export async function startRelay(options: RelayServerOptions): Promise<Server> {
  const server = createRelayServer(options.config, options.trustedProxyHops ?? 0);
  await new Promise<void>((resolve) => server.listen(options.port, options.host, resolve));
  return server;
}

export async function runRelayFromEnv(env: NodeJS.ProcessEnv): Promise<void> {
  let options: RelayServerOptions;
  try {
    options = relayOptionsFromEnv(env);
  } catch (error) {
    console.error(`runmat-telemetry-relay: ${(error as Error).message}`);
    process.exit(2);
  }
  const server = await startRelay(options);
  const { port } = server.address() as AddressInfo;
  const forwarding =
    options.config.measurementId && options.config.apiSecret
      ? "forwarding to GA"
      : "logging only (no GA credentials)";
  console.error(
    `runmat-telemetry-relay listening on http://${options.host}:${port}/api/telemetry, ${forwarding}`,
  );
  const stop = () => {
    // Events already answered are still forwarded before the process ends.
    server.close(() => void (options.queue?.drained() ?? Promise.resolve()).then(() => process.exit(0)));
    server.closeIdleConnections();
    // Requests and forwards still in flight get GA's timeout to finish.
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

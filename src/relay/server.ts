// runmat-telemetry-relay: a Node server around handleTelemetry, plus GET /healthz and a
// graceful SIGTERM. With no GA credentials it is a working local collector that logs events.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { DEFAULT_GA_ENDPOINT, processTelemetry, type RelayConfig } from "./handler.js";
import { TokenBucketLimiter } from "./rate-limit.js";

export interface RelayServerOptions {
  port: number;
  host: string;
  config: RelayConfig;
}

function relayOptionsFromEnv(env: NodeJS.ProcessEnv): RelayServerOptions {
  return {
    port: Number(env.PORT ?? 8787),
    host: env.HOST || "127.0.0.1",
    config: {
      measurementId: env.GA_MEASUREMENT_ID || undefined,
      apiSecret: env.GA_API_SECRET || undefined,
      gaEndpoint: env.GA_ENDPOINT || DEFAULT_GA_ENDPOINT,
      gaDebug: env.GA_DEBUG === "1",
      limiter: new TokenBucketLimiter({
        perSecond: Number(env.RELAY_RATE_PER_SECOND ?? 5),
        burst: Number(env.RELAY_RATE_BURST ?? 30),
      }),
    },
  };
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
function createRelayServer(config: RelayConfig): Server {
  return createServer(async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const path = (req.url ?? "/").split("?")[0];
      if (path === "/healthz" && req.method === "GET") return send(res, 200, { ok: true });
      if (path !== "/api/telemetry") return send(res, 404, { ok: false, error: "not_found" });
      const answer = await processTelemetry(
        {
          method: req.method ?? "",
          contentType: req.headers["content-type"] ?? null,
          // The socket address keys the rate limiter and goes nowhere else.
          clientKey: req.socket.remoteAddress ?? "unknown",
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
  const server = createRelayServer(options.config);
  await new Promise<void>((resolve) => server.listen(options.port, options.host, resolve));
  return server;
}

export async function runRelayFromEnv(env: NodeJS.ProcessEnv): Promise<void> {
  const options = relayOptionsFromEnv(env);
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
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    // Requests still in flight get GA's timeout to finish.
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

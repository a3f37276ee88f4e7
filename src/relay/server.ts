// runmat-telemetry-relay: a Node server around handleTelemetry, plus GET /healthz and a
// graceful SIGTERM. With no GA credentials it is a working local collector that logs events.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { DEFAULT_GA_ENDPOINT, handleTelemetry, type RelayConfig } from "./handler.js";
import { TokenBucketLimiter } from "./rate-limit.js";

export interface RelayServerOptions {
  port: number;
  host: string;
  config: RelayConfig;
}

export function relayOptionsFromEnv(env: NodeJS.ProcessEnv): RelayServerOptions {
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

async function respond(res: ServerResponse, response: Response): Promise<void> {
  res.writeHead(response.status, Object.fromEntries(response.headers));
  res.end(Buffer.from(await response.arrayBuffer()));
}

export function createRelayServer(config: RelayConfig): Server {
  // The socket address keys the rate limiter; it is kept here and never reaches a log.
  const addressOf = new WeakMap<Request, string>();
  const handlerConfig: RelayConfig = {
    ...config,
    clientKey: (request) => addressOf.get(request) ?? "unknown",
  };
  return createServer(async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const url = new URL(req.url ?? "/", "http://relay.local");
      if (url.pathname === "/healthz" && req.method === "GET") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"ok":true}');
        return;
      }
      if (url.pathname !== "/api/telemetry") {
        res.writeHead(404, { "content-type": "application/json" });
        res.end('{"ok":false,"error":"not_found"}');
        return;
      }
      const hasBody = req.method !== "GET" && req.method !== "HEAD";
      const request = new Request(url, {
        method: req.method,
        headers: req.headers as Record<string, string>,
        body: hasBody ? (Readable.toWeb(req) as ReadableStream) : undefined,
        duplex: "half",
      } as RequestInit);
      addressOf.set(request, req.socket.remoteAddress ?? "unknown");
      await respond(res, await handleTelemetry(request, handlerConfig));
    } catch {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end('{"ok":false,"error":"internal"}');
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

// The receiving end of install telemetry: one framework-free handler on the Fetch API.
// It validates an event, keeps only the allowlisted parameters, and forwards them to
// Google Analytics 4 (Measurement Protocol), or logs them when no GA credentials are set.
// It drops unchanged into a Next.js route, a Cloudflare Worker or Deno (see README).
import { METHODS, SUPPORTED_PLATFORMS, sanitizeDimension, TELEMETRY_EVENTS } from "../contract.js";
import { type RateLimiter, TokenBucketLimiter } from "./rate-limit.js";

export const MAX_BODY_BYTES = 8 * 1024;
const GA_TIMEOUT_MS = 2000;
export const DEFAULT_GA_ENDPOINT = "https://www.google-analytics.com/mp/collect";

const KNOWN: Record<"os" | "arch" | "platform" | "method", ReadonlySet<string>> = {
  os: new Set(["linux", "darwin", "windows"]),
  arch: new Set(["x86_64", "arm64"]),
  platform: new Set([...SUPPORTED_PLATFORMS, "unknown"]),
  method: new Set(METHODS),
};
const EVENTS: ReadonlySet<string> = new Set(TELEMETRY_EVENTS);
const CLIENT_ID = /^[A-Za-z0-9-]{8,64}$/;

export interface RelayConfig {
  measurementId?: string;
  apiSecret?: string;
  /** GA collect URL; GA_DEBUG switches it to the /debug/mp/collect validation endpoint. */
  gaEndpoint?: string;
  gaDebug?: boolean;
  /** The forwarder's HTTP client; injected so tests and every runtime can supply their own. */
  fetch?: typeof fetch;
  /** One JSON line per accepted event or forwarding error; never holds an IP, user agent or secret. */
  log?: (line: string) => void;
  limiter?: RateLimiter;
  /** How to tell clients apart for rate limiting; the key is never logged or forwarded. */
  clientKey?: (request: Request) => string;
}

export interface ForwardedEvent {
  client_id: string;
  events: { name: string; params: Record<string, string | number> }[];
}

/** Proxies set these; Cloudflare sets cf-connecting-ip. The Node server injects the socket address instead. */
function defaultClientKey(request: Request): string {
  return (
    request.headers.get("cf-connecting-ip") ??
    request.headers.get("x-forwarded-for")?.split(",")[0]?.trim() ??
    "unknown"
  );
}

/** Reads at most MAX_BODY_BYTES, deciding on a too-large body before buffering it whole. */
async function readBoundedBody(request: Request, limit: number): Promise<string | null> {
  const declared = Number(request.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > limit) return null;
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  // No Buffer: the handler must also run on Workers and Deno.
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

function clean(value: unknown): string {
  return typeof value === "string" ? sanitizeDimension(value.trim()) : "";
}

function dimension(name: keyof typeof KNOWN, value: unknown): string {
  const cleaned = clean(value);
  return KNOWN[name].has(cleaned) ? cleaned : "other";
}

/** The only shape that ever leaves the relay; built field by field, never copied from input. */
export function toForwardedEvent(body: Record<string, unknown>, event: string): ForwardedEvent {
  const cid = typeof body.cid === "string" ? body.cid.trim() : "";
  return {
    client_id: CLIENT_ID.test(cid) ? cid : crypto.randomUUID(),
    events: [
      {
        name: event,
        params: {
          event_label: event,
          os: dimension("os", body.os),
          arch: dimension("arch", body.arch),
          platform: dimension("platform", body.platform),
          release: clean(body.release) || "unknown",
          method: dimension("method", body.method),
          // Without it GA leaves the events out of its Realtime report.
          engagement_time_msec: 1,
        },
      },
    ],
  };
}

const defaultLimiter = new TokenBucketLimiter({ perSecond: 5, burst: 30 });

/** One request as the relay needs to see it, whatever carried it (Fetch API or node:http). */
export interface TelemetryRequest {
  method: string;
  contentType: string | null;
  /** Rate-limit key; never logged or forwarded. */
  clientKey: string;
  /** Reads the body, or answers null once it exceeds `limit` bytes. */
  readBody(limit: number): Promise<string | null>;
}

export interface TelemetryReply {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

const reply = (
  status: number,
  body: Record<string, unknown>,
  headers?: Record<string, string>,
): TelemetryReply => ({
  status,
  body,
  headers,
});

/** The relay's rules, free of any transport: both adapters below and the Node server use it. */
export async function processTelemetry(
  request: TelemetryRequest,
  config: RelayConfig = {},
): Promise<TelemetryReply> {
  if (request.method !== "POST")
    return reply(405, { ok: false, error: "method_not_allowed" }, { allow: "POST" });
  if (!(config.limiter ?? defaultLimiter).take(request.clientKey)) {
    return reply(429, { ok: false, error: "rate_limited" }, { "retry-after": "1" });
  }
  const type = (request.contentType ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json") return reply(415, { ok: false, error: "unsupported_media_type" });
  const text = await request.readBody(MAX_BODY_BYTES);
  if (text === null) return reply(413, { ok: false, error: "payload_too_large" });
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return reply(400, { ok: false, error: "invalid_json" });
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return reply(400, { ok: false, error: "invalid_json" });
  }
  const fields = body as Record<string, unknown>;
  const event = typeof fields.event_label === "string" ? fields.event_label.trim() : "";
  if (!EVENTS.has(event)) return reply(400, { ok: false, error: "invalid_event" });

  const forwarded = toForwardedEvent(fields, event);
  const log = config.log ?? ((line: string) => console.log(line));
  if (!config.measurementId || !config.apiSecret) {
    log(JSON.stringify({ accepted: forwarded.events[0].params, at: new Date().toISOString() }));
    return reply(200, { ok: true, forwarded: false });
  }
  const ok = await forwardToGa(forwarded, config, log);
  return reply(200, { ok: true, forwarded: ok });
}

/** The Fetch API adapter: drops unchanged into a Next.js route, a Cloudflare Worker or Deno. */
export async function handleTelemetry(request: Request, config: RelayConfig = {}): Promise<Response> {
  const answer = await processTelemetry(
    {
      method: request.method,
      contentType: request.headers.get("content-type"),
      clientKey: (config.clientKey ?? defaultClientKey)(request),
      readBody: (limit) => readBoundedBody(request, limit),
    },
    config,
  );
  return new Response(JSON.stringify(answer.body), {
    status: answer.status,
    headers: { "content-type": "application/json", ...answer.headers },
  });
}

async function forwardToGa(event: ForwardedEvent, config: RelayConfig, log: (line: string) => void) {
  const base = config.gaEndpoint ?? DEFAULT_GA_ENDPOINT;
  const endpoint = config.gaDebug ? base.replace(/\/mp\/collect$/, "/debug/mp/collect") : base;
  const url = new URL(endpoint);
  url.searchParams.set("measurement_id", config.measurementId!);
  url.searchParams.set("api_secret", config.apiSecret!);
  const send = config.fetch ?? fetch;
  try {
    const response = await send(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(event),
      signal: AbortSignal.timeout(GA_TIMEOUT_MS),
    });
    const answer = await response.text();
    if (config.gaDebug) log(JSON.stringify({ ga_debug: answer.slice(0, 2000) }));
    if (!response.ok) {
      log(JSON.stringify({ error: "ga_rejected", status: response.status }));
      return false;
    }
    return true;
  } catch (error) {
    // The message can carry the URL, and the URL carries the secret: log only the kind of failure.
    const kind = (error as Error).name === "TimeoutError" ? "timeout" : "unreachable";
    log(JSON.stringify({ error: "ga_forward_failed", kind }));
    return false;
  }
}

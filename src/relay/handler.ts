// The receiving end of install telemetry: one framework-free handler on the Fetch API.
// It validates an event, keeps only the allowlisted parameters, answers at once, and then
// forwards them to Google Analytics 4 (Measurement Protocol), or logs them when no GA
// credentials are set. It drops into a Next.js route, a Cloudflare Worker or Deno (see README).
import {
  METHODS,
  RELEASE_PATTERN,
  SUPPORTED_PLATFORMS,
  sanitizeDimension,
  TELEMETRY_EVENTS,
  TELEMETRY_ID_PATTERN,
} from "../contract.js";
import { type RateLimiter, TokenBucketLimiter } from "./rate-limit.js";

export const MAX_BODY_BYTES = 8 * 1024;
const GA_TIMEOUT_MS = 2000;
export const DEFAULT_GA_ENDPOINT = "https://www.google-analytics.com/mp/collect";
/** GA's sessions: events of one client within this window share a session_id. */
const SESSION_WINDOW_MS = 30 * 60 * 1000;

const KNOWN: Record<"os" | "arch" | "platform" | "method", ReadonlySet<string>> = {
  os: new Set(["linux", "darwin", "windows"]),
  arch: new Set(["x86_64", "arm64"]),
  platform: new Set([...SUPPORTED_PLATFORMS, "unknown"]),
  method: new Set(METHODS),
};
const EVENTS: ReadonlySet<string> = new Set(TELEMETRY_EVENTS);
const CLIENT_ID = new RegExp(TELEMETRY_ID_PATTERN);
const RELEASE = new RegExp(RELEASE_PATTERN);

/**
 * The default limits (documented in the README): generous enough for a university behind one
 * NAT address on release day, and a cap on everything together, which is all that applies when
 * the deployment cannot tell clients apart.
 */
export const DEFAULT_RATES = {
  perClient: { perSecond: 20, burst: 200 },
  global: { perSecond: 500, burst: 5000 },
} as const;

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
  /** Per client address. */
  limiter?: RateLimiter;
  /** For all requests together. */
  globalLimiter?: RateLimiter;
  /**
   * Runs the forwarding to GA after the answer has gone, so GA's latency never holds the
   * installer: `ctx.waitUntil` on Workers, `after` in Next.js, a bounded queue in the Node
   * server. By default it simply runs in the background.
   */
  defer?: (task: () => Promise<void>) => void;
  /** The clock, for tests. */
  now?: () => number;
}

/** What the platform (never the client) says about who is asking. */
export interface ClientInfo {
  /**
   * The client's address as the platform knows it: Cloudflare's cf-connecting-ip, Vercel's
   * x-real-ip, Deno's info.remoteAddr, the socket. Never a header a client can set itself;
   * without it, only the global limit applies.
   */
  address?: string;
}

export interface ForwardedEvent {
  client_id: string;
  timestamp_micros: number;
  consent: { ad_user_data: "DENIED"; ad_personalization: "DENIED" };
  events: { name: string; params: Record<string, string | number> }[];
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

/** A version tag ("v" added when missing), "unknown", or "other": never free text. */
function releaseOf(value: unknown): string {
  const cleaned = clean(value);
  if (cleaned === "unknown" || cleaned === "") return "unknown";
  if (!RELEASE.test(cleaned)) return "other";
  return cleaned.startsWith("v") ? cleaned : `v${cleaned}`;
}

/** Importing a key costs more than using it: one import per secret, for the process's life. */
type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;
const hmacKeys = new Map<string, Promise<HmacKey>>();

function hmacKeyFor(secret: string): Promise<HmacKey> {
  let key = hmacKeys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    hmacKeys.set(secret, key);
  }
  return key;
}

/**
 * GA's session_id, derived here (the client never sends one): a keyed hash of the client id and
 * the 30-minute window, so the two events of one install share a session and nothing else links.
 */
async function sessionId(clientId: string, receivedAt: number, key: string): Promise<string> {
  const encoder = new TextEncoder();
  const hmacKey = await hmacKeyFor(key);
  const window = Math.floor(receivedAt / SESSION_WINDOW_MS);
  const digest = new Uint8Array(
    await crypto.subtle.sign("HMAC", hmacKey, encoder.encode(`${clientId}:${window}`)),
  );
  // Six bytes as a decimal number: GA wants a number-like session id.
  let value = 0;
  for (const byte of digest.subarray(0, 6)) value = value * 256 + byte;
  return String(value);
}

/**
 * A key for session ids when the relay has no API secret to use: this process's own, made on
 * first use (Workers forbid random values in global scope).
 */
let processSessionKey: string | null = null;

function ownSessionKey(): string {
  processSessionKey ??= crypto.randomUUID();
  return processSessionKey;
}

/** The only shape that ever leaves the relay; built field by field, never copied from input. */
export async function toForwardedEvent(
  body: Record<string, unknown>,
  event: string,
  receivedAt: number,
  sessionKey?: string,
): Promise<ForwardedEvent> {
  const cid = typeof body.cid === "string" ? body.cid.trim() : "";
  // An id that is neither a UUID nor the legacy form may name someone: a random one instead.
  const clientId = CLIENT_ID.test(cid) ? cid : crypto.randomUUID();
  return {
    client_id: clientId,
    timestamp_micros: receivedAt * 1000,
    consent: { ad_user_data: "DENIED", ad_personalization: "DENIED" },
    events: [
      {
        name: event,
        params: {
          event_label: event,
          os: dimension("os", body.os),
          arch: dimension("arch", body.arch),
          platform: dimension("platform", body.platform),
          release: releaseOf(body.release),
          method: dimension("method", body.method),
          // Both are needed for GA's Realtime report to show the events.
          session_id: await sessionId(clientId, receivedAt, sessionKey ?? ownSessionKey()),
          engagement_time_msec: 1,
        },
      },
    ],
  };
}

const defaultLimiter = new TokenBucketLimiter(DEFAULT_RATES.perClient);
const defaultGlobalLimiter = new TokenBucketLimiter(DEFAULT_RATES.global);
const GLOBAL_KEY = "all";

/** One request as the relay needs to see it, whatever carried it (Fetch API or node:http). */
export interface TelemetryRequest {
  method: string;
  contentType: string | null;
  /** The platform's client address (see ClientInfo); never logged or forwarded. */
  clientAddress?: string;
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
  const perClient =
    request.clientAddress === undefined || (config.limiter ?? defaultLimiter).take(request.clientAddress);
  if (!perClient || !(config.globalLimiter ?? defaultGlobalLimiter).take(GLOBAL_KEY)) {
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

  const receivedAt = (config.now ?? Date.now)();
  const log = config.log ?? ((line: string) => console.log(line));
  // The answer goes now; building and forwarding the GA event happens after it.
  const forward = async () => {
    const forwarded = await toForwardedEvent(fields, event, receivedAt, config.apiSecret);
    if (!config.measurementId || !config.apiSecret) {
      log(JSON.stringify({ accepted: forwarded.events[0].params, at: new Date(receivedAt).toISOString() }));
      return;
    }
    await forwardToGa(forwarded, config, log);
  };
  const defer = config.defer ?? ((task: () => Promise<void>) => void task().catch(() => {}));
  defer(forward);
  return reply(200, { ok: true });
}

/**
 * The Fetch API adapter, for a Next.js route, a Cloudflare Worker or Deno. `client.address` is
 * what the platform says the client's address is (see the README's snippets); no header of the
 * request itself is trusted.
 */
export async function handleTelemetry(
  request: Request,
  config: RelayConfig = {},
  client: ClientInfo = {},
): Promise<Response> {
  const answer = await processTelemetry(
    {
      method: request.method,
      contentType: request.headers.get("content-type"),
      clientAddress: client.address || undefined,
      readBody: (limit) => readBoundedBody(request, limit),
    },
    config,
  );
  return new Response(JSON.stringify(answer.body), {
    status: answer.status,
    headers: { "content-type": "application/json", ...answer.headers },
  });
}

async function forwardToGa(
  event: ForwardedEvent,
  config: RelayConfig,
  log: (line: string) => void,
): Promise<void> {
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
    if (!response.ok) log(JSON.stringify({ error: "ga_rejected", status: response.status }));
  } catch (error) {
    // The message can carry the URL, and the URL carries the secret: log only the kind of failure.
    const kind = (error as Error).name === "TimeoutError" ? "timeout" : "unreachable";
    log(JSON.stringify({ error: "ga_forward_failed", kind }));
  }
}

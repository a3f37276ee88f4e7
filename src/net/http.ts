// Every download and API request the installer makes goes through here: the proxy-aware undici
// dispatcher, token scoping, redirects (each hop checked by url-policy.ts), timeouts and retries.
import type { Dispatcher } from "undici";
import { InstallError, isAbortError } from "../errors.js";
import { sleep } from "../sleep.js";
import { VERSION } from "../version.js";
import { trustedContext } from "./trust.js";
import { checkUrlAllowed, proxyForUrl } from "./url-policy.js";

export interface HttpSettings {
  /** Origin of the GitHub API; the only origin that ever sees the token. */
  apiOrigin: string;
  token?: string;
  /** Bounds connecting, waiting for headers, and any stall between body chunks. */
  timeoutMs: number;
  /** Certificate authorities to trust besides Node's and the system's (--cacert). */
  caFile?: string;
  signal: AbortSignal;
  /** Writes diagnostics for --verbose; never receives the token. */
  debug: (message: string) => void;
  /** The proxy environment (HTTPS_PROXY and friends), to say when a failure was the proxy's. */
  env: NodeJS.ProcessEnv;
  /** Says on screen that a request failed and is being tried again. */
  retrying: (message: string) => void;
  /** Tries per request (default 4); `status` asks once, as its answer is only informative. */
  attempts?: number;
}

export interface HttpClient {
  settings: HttpSettings;
  dispatcher: Dispatcher;
}

export interface OpenResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData["body"];
  url: URL;
}

const MAX_REDIRECTS = 10;
const RETRY_DELAYS_MS = [250, 750, 1500];
const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;

export class HttpStatusError extends Error {
  constructor(
    readonly statusCode: number,
    readonly url: URL,
    readonly headers: OpenResponse["headers"],
  ) {
    super(`HTTP ${statusCode} from ${url.host}`);
  }
}

export async function createHttpClient(settings: HttpSettings): Promise<HttpClient> {
  // Loaded lazily so that --help and --dry-run of usage errors do not pay for undici.
  const { EnvHttpProxyAgent } = await import("undici");
  // The same trust for a direct connection, one tunnelled through a proxy, and one to the proxy.
  const tls = { secureContext: trustedContext(settings.env, settings.caFile) };
  const dispatcher = new EnvHttpProxyAgent({
    connect: { timeout: settings.timeoutMs, ...tls },
    requestTls: tls,
    proxyTls: tls,
    headersTimeout: settings.timeoutMs,
    bodyTimeout: settings.timeoutMs,
  });
  return { settings, dispatcher };
}

/** Opens a GET, following redirects by hand so that the token never leaves the API origin. */
export async function openUrl(
  client: HttpClient,
  startUrl: URL,
  extraHeaders: Record<string, string> = {},
  options: { method?: "GET" | "HEAD"; followRedirects?: boolean; signal?: AbortSignal } = {},
): Promise<OpenResponse> {
  const method = options.method ?? "GET";
  const { settings, dispatcher } = client;
  const { request } = await import("undici");
  let url = checkUrlAllowed(startUrl, "download", "network");
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers: Record<string, string> = { "user-agent": `runmat-install/${VERSION}`, ...extraHeaders };
    if (settings.token && url.origin === settings.apiOrigin)
      headers.authorization = `Bearer ${settings.token}`;
    settings.debug(`${method} ${url.href}${headers.authorization ? " (with token)" : ""}`);
    const response = await request(url, {
      method,
      headers,
      dispatcher,
      signal: options.signal ?? settings.signal,
    }).catch((error: unknown) => {
      // The host that failed may be a redirect's, not the one asked for: errors name it.
      if (error !== null && typeof error === "object") failedAt.set(error, url);
      throw error;
    });
    const location = response.headers.location;
    const redirect = response.statusCode >= 300 && response.statusCode < 400 && typeof location === "string";
    if (redirect && options.followRedirects !== false) {
      await response.body.dump();
      const next = new URL(location, url);
      if (url.protocol === "https:" && next.protocol !== "https:") {
        throw new InstallError(
          "network",
          `Refusing a redirect from HTTPS down to ${next.protocol} (${next.origin}).`,
          "The server or a proxy is downgrading the connection; check your network.",
        );
      }
      url = checkUrlAllowed(next, "redirect", "network");
      continue;
    }
    return { statusCode: response.statusCode, headers: response.headers, body: response.body, url };
  }
  throw new InstallError(
    "network",
    `Too many redirects (more than ${MAX_REDIRECTS}) starting at ${startUrl.href}.`,
    "The server is misconfigured (a redirect loop); try again later or use --github-api with a mirror.",
  );
}

/** Where each failed request was going (the hop of a redirect chain that failed). */
const failedAt = new WeakMap<object, URL>();

function errorCode(error: unknown): string | undefined {
  const err = error as (Error & { code?: string; cause?: { code?: string } }) | undefined;
  return err?.code ?? err?.cause?.code;
}

/** TLS verification failures: no retry makes a certificate trusted. */
const CERTIFICATE_ERRORS = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "CERT_UNTRUSTED",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_SIGNATURE_FAILURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** No answer from any resolver, or no route at all: this machine looks offline. */
const OFFLINE_ERRORS = new Set(["EAI_AGAIN", "ENETUNREACH", "EHOSTUNREACH", "EADDRNOTAVAIL", "ENETDOWN"]);

const NETWORK_HINT =
  "Check your network connection and proxy settings (HTTPS_PROXY, NO_PROXY), then run the installer again.";
const OFFLINE_HINT =
  "Connect to a network and run the installer again, or install from a downloaded release with --archive <file>.";

/** What went wrong with one request, said so that the user knows which host and what to do. */
interface Failure {
  /** Whether another attempt may succeed (a refused or reset connection, a stall, a 5xx). */
  transient: boolean;
  /** Short, for the retry line: "connection refused by api.github.com". */
  summary: string;
  /** The error to report when this is the last word, after this many attempts. */
  error: (attempts: number) => Promise<unknown>;
}

function describeFailure(what: string, error: unknown, client: HttpClient, asked: URL): Failure {
  const url = (error !== null && typeof error === "object" && failedAt.get(error)) || asked;
  const host = url.host;
  const proxy = proxyForUrl(url, client.settings.env);
  const via = proxy ? ` (through the proxy ${proxy.host})` : "";
  const fail = (message: string, hint: string) =>
    new InstallError("network", message, hint, { cause: error });
  if (error instanceof HttpStatusError) {
    const transient = error.statusCode >= 500 || error.statusCode === 408;
    return { transient, summary: `HTTP ${error.statusCode} from ${host}`, error: async () => error };
  }
  // Ours, or an interruption: the caller explains it.
  if (error instanceof InstallError || isAbortError(error)) {
    const refused = proxyRefusal(error, proxy, host);
    return { transient: false, summary: String(error), error: async () => refused ?? error };
  }
  const code = errorCode(error) ?? "";
  if (CERTIFICATE_ERRORS.has(code)) {
    return {
      transient: false,
      summary: `untrusted certificate from ${host}`,
      error: async () => {
        const issuer = await certificateIssuer(url, proxy, client.settings.timeoutMs);
        return fail(
          `${what} failed: the TLS certificate of ${host}${via} is not trusted (${certificateProblem(code)})${issuer ? `; it was issued by "${issuer}"` : ""}.`,
          "If your network inspects TLS (a company proxy), add its root certificate to the system's certificate store or pass it with --cacert <file>; on a hotel or guest network, log in through a browser first.",
        );
      },
    };
  }
  if (code === "ENOTFOUND") {
    return {
      transient: false,
      summary: `${url.hostname} not found`,
      error: async () =>
        fail(
          `${what} failed: the host name ${url.hostname} was not found (DNS)${via}.`,
          proxy
            ? "Check the host name and your proxy settings (HTTPS_PROXY, NO_PROXY)."
            : `Check the host name (--github-api, RUNMAT_GITHUB_API_URL) and your DNS; offline, install from a downloaded release with --archive <file>.`,
        ),
    };
  }
  if (OFFLINE_ERRORS.has(code)) {
    return {
      transient: false,
      summary: `${host} unreachable`,
      error: async () =>
        fail(
          `${what} failed: ${url.hostname} cannot be reached (${code === "EAI_AGAIN" ? "no DNS server answered" : "no route to it"}); this machine looks offline.`,
          OFFLINE_HINT,
        ),
    };
  }
  const summary = transientSummary(code, host, proxy, error);
  const proxyDown = proxy !== null && code === "ECONNREFUSED";
  return {
    transient: true,
    summary,
    error: async (attempts) =>
      fail(
        `${what} failed${attempts > 1 ? ` after ${attempts} attempts` : ""}: ${summary}${proxyDown ? "" : via}.`,
        proxyDown
          ? "Check that the proxy in HTTPS_PROXY / HTTP_PROXY is running at that address, or add the host to NO_PROXY."
          : NETWORK_HINT,
      ),
  };
}

function certificateProblem(code: string): string {
  switch (code) {
    case "CERT_HAS_EXPIRED":
      return "it has expired";
    case "CERT_NOT_YET_VALID":
      return "it is not valid yet";
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return "it is for another host name";
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
      return "it is self-signed";
    default:
      return "no trusted certificate authority signed it";
  }
}

function transientSummary(code: string, host: string, proxy: URL | null, error: unknown): string {
  switch (code) {
    case "ECONNREFUSED":
      return proxy ? `the proxy ${proxy.host} refused the connection` : `${host} refused the connection`;
    case "ECONNRESET":
    case "UND_ERR_SOCKET":
      return `the connection to ${host} was reset`;
    case "UND_ERR_CONNECT_TIMEOUT":
      return `connecting to ${host} timed out`;
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
      return `${host} stopped answering (timed out)`;
    default:
      return `${(error as Error | undefined)?.message ?? String(error)} (${host})`;
  }
}

/**
 * The issuer of the certificate a host presents, for an error message: one look with
 * verification off, through the same proxy, sending nothing and closing at once.
 */
async function certificateIssuer(url: URL, proxy: URL | null, timeoutMs: number): Promise<string | null> {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port || 443);
  const { connect } = await import("node:tls");
  const { tunnelThrough } = await import("./tunnel.js");
  const look = async (): Promise<string | null> => {
    const socket = proxy ? await tunnelThrough(proxy, host, port) : undefined;
    return new Promise((resolve) => {
      const tls = connect({ host, port, socket, servername: host, rejectUnauthorized: false }, () => {
        const chain = tls.getPeerCertificate(true);
        tls.destroy();
        let top = chain;
        // The root of the chain as presented: the name a user's IT department would recognise.
        while (top?.issuerCertificate && top.issuerCertificate !== top) top = top.issuerCertificate;
        const name = top?.issuer?.CN ?? top?.issuer?.O;
        resolve(typeof name === "string" ? name.replace(/[\x00-\x1f\x7f]/g, "?").slice(0, 100) : null);
      });
      tls.on("error", () => resolve(null));
    });
  };
  const giveUp = new Promise<null>((resolve) =>
    setTimeout(resolve, Math.min(timeoutMs, 5_000), null).unref(),
  );
  return Promise.race([look().catch(() => null), giveUp]);
}

function proxyRefusal(error: unknown, proxy: URL | null, host: string): InstallError | null {
  const match = /Proxy response \((\d+)\)/.exec((error as Error | undefined)?.message ?? "");
  if (!match) return null;
  const status = match[1];
  const name = proxy ? ` ${proxy.host}` : "";
  if (status !== "401" && status !== "407") {
    return new InstallError(
      "network",
      `The proxy${name} refused to connect to ${host} (HTTP ${status}).`,
      `Your network blocks ${host}: ask your IT department to allow it, add it to NO_PROXY if it is reachable directly, or install from a downloaded release with --archive <file>.`,
      { cause: error },
    );
  }
  if (proxy?.username) {
    return new InstallError(
      "network",
      `The proxy ${proxy.host} rejected the credentials in its URL (HTTP ${status}).`,
      "Check the user name and password in HTTPS_PROXY / HTTP_PROXY; URL-encode special characters (@ as %40, : as %3A).",
      { cause: error },
    );
  }
  return new InstallError(
    "network",
    `The proxy${name} refused the connection (HTTP ${status}: authentication required).`,
    "Put credentials in the proxy URL, e.g. HTTPS_PROXY=http://user:password@proxy:8080 (URL-encode special characters).",
    { cause: error },
  );
}

/**
 * Runs `attempt` until it succeeds, a failure that retrying cannot heal occurs, or MAX_ATTEMPTS
 * are spent; each retry is said on screen as it happens.
 */
export async function withRetries<T>(
  client: HttpClient,
  what: string,
  url: URL,
  attempt: (attemptNumber: number) => Promise<T>,
): Promise<T> {
  const attempts = client.settings.attempts ?? MAX_ATTEMPTS;
  let last: Failure | null = null;
  for (let n = 0; n < attempts; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (client.settings.signal.aborted) throw client.settings.signal.reason ?? error;
      last = describeFailure(what, error, client, url);
      if (!last.transient) throw await last.error(n + 1);
      if (n < attempts - 1) {
        client.settings.retrying(`${what}: ${last.summary}; trying again (${n + 2} of ${attempts})`);
        await sleep(RETRY_DELAYS_MS[n], client.settings.signal);
      }
    }
  }
  const lastError = await last!.error(attempts);
  if (lastError instanceof HttpStatusError) {
    throw new InstallError(
      "network",
      `${what} failed: ${lastError.url.host} answered HTTP ${lastError.statusCode} ${attempts === 1 ? "once" : `${attempts} times`}.`,
      "The server is having trouble; try again in a few minutes.",
      { cause: lastError },
    );
  }
  throw lastError;
}

/** Statuses at which a web page is the network's answer (a portal's login, a proxy's block page). */
const NETWORK_PAGE_STATUSES = new Set([401, 403, 407]);

/**
 * A web page where a document or an archive was expected: a captive portal's login, a proxy's
 * block page. Said as such, and never retried, instead of blaming the token or the transfer.
 */
export function webPageAnswer(what: string, response: OpenResponse, expected: string): InstallError | null {
  const type = String(response.headers["content-type"] ?? "");
  const status = response.statusCode;
  const page = /^\s*(text\/html|application\/xhtml)/i.test(type);
  if (!page || !(status < 300 || NETWORK_PAGE_STATUSES.has(status))) return null;
  return webPageError(what, response.url, expected, status);
}

/** The same, when the body's first bytes are a page although its type did not say so. */
export function startsLikeWebPage(chunk: Buffer): boolean {
  return /^\s*<(!doctype|html|head|body|\?xml)/i.test(chunk.subarray(0, 64).toString("latin1"));
}

export function webPageError(what: string, url: URL, expected: string, status: number): InstallError {
  return new InstallError(
    "network",
    `${what}: ${url.host} answered with a web page (HTTP ${status}) instead of ${expected}; a proxy, firewall or captive portal is answering for it.`,
    `Open https://${url.host}/ in a browser: log in to the network, or ask your IT department to allow ${url.host}; then run the installer again.`,
  );
}

export interface Document {
  statusCode: number;
  headers: OpenResponse["headers"];
  text: string;
  /** The body as it came, for a document that is not text (a compressed bundle). */
  bytes: Buffer;
}

/**
 * GETs a small JSON or text document with retries. Non-2xx statuses surface as HttpStatusError,
 * except those `accepted` (a 304 to a conditional request, a 404 for an optional file).
 */
/** A release listing is tens of KB and a checksum list less: a server's flood stops here. */
export const MAX_DOCUMENT_BYTES = 4 * 1024 ** 2;
/** A document must have arrived within this many --timeouts: a server that trickles it ends too. */
const DOCUMENT_DEADLINE_TIMEOUTS = 2;

/** What a request's Accept header asks for, in words. */
function expectedOf(headers: Record<string, string>): string {
  return /json/.test(headers.accept ?? "") ? "GitHub's JSON answer" : "the file";
}

export async function fetchDocument(
  client: HttpClient,
  url: URL,
  what: string,
  headers: Record<string, string>,
  accepted: number[] = [],
): Promise<Document> {
  return withRetries(client, what, url, async () => {
    const response = await openUrl(client, url, headers);
    const ok = response.statusCode >= 200 && response.statusCode < 300;
    const page = accepted.includes(response.statusCode)
      ? null
      : webPageAnswer(what, response, expectedOf(headers));
    if (page) {
      await response.body.dump();
      throw page;
    }
    if (!ok && !accepted.includes(response.statusCode)) {
      await response.body.dump();
      throw new HttpStatusError(response.statusCode, response.url, response.headers);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const deadline = Date.now() + DOCUMENT_DEADLINE_TIMEOUTS * client.settings.timeoutMs;
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (Date.now() > deadline) {
        response.body.destroy();
        throw new InstallError(
          "network",
          `${what}: ${url.host} sends too slowly (${size} bytes in ${(DOCUMENT_DEADLINE_TIMEOUTS * client.settings.timeoutMs) / 1000} s).`,
          "Try again later or on another network; a larger --timeout allows slower answers.",
        );
      }
      if (size > MAX_DOCUMENT_BYTES) {
        response.body.destroy();
        throw new InstallError(
          "network",
          `${what}: ${url.host} sent more than ${MAX_DOCUMENT_BYTES / 1024 ** 2} MiB for a small document.`,
          "A proxy or mirror is answering with something else; check --github-api and your proxy.",
        );
      }
      chunks.push(chunk);
    }
    const bytes = Buffer.concat(chunks);
    return {
      statusCode: response.statusCode,
      headers: response.headers,
      text: bytes.toString("utf8"),
      bytes,
    };
  });
}

export async function fetchText(client: HttpClient, url: URL, what: string, accept: string): Promise<string> {
  return (await fetchDocument(client, url, what, { accept })).text;
}

// Every download and API request the installer makes goes through here: the proxy-aware undici
// dispatcher, token scoping, redirects (each hop checked by url-policy.ts), timeouts and retries.
import type { Dispatcher } from "undici";
import { InstallError, isAbortError } from "../errors.js";
import { sleep } from "../sleep.js";
import { VERSION } from "../version.js";
import { checkUrlAllowed, proxyForUrl } from "./url-policy.js";

export interface HttpSettings {
  /** Origin of the GitHub API; the only origin that ever sees the token. */
  apiOrigin: string;
  token?: string;
  /** Bounds connecting, waiting for headers, and any stall between body chunks. */
  timeoutMs: number;
  signal: AbortSignal;
  /** Writes diagnostics for --verbose; never receives the token. */
  debug: (message: string) => void;
  /** The proxy environment (HTTPS_PROXY and friends), to say when a failure was the proxy's. */
  env: NodeJS.ProcessEnv;
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
  const dispatcher = new EnvHttpProxyAgent({
    connect: { timeout: settings.timeoutMs },
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

function isTransient(error: unknown): boolean {
  if (error instanceof HttpStatusError) return error.statusCode >= 500 || error.statusCode === 408;
  // undici reports a proxy's refusal (407 and the like) as an abort; retrying cannot help.
  if (error instanceof InstallError || isAbortError(error)) return false;
  return true;
}

function proxyRefusal(error: unknown, proxy: URL | null): InstallError | null {
  const match = /Proxy response \((\d+)\)/.exec((error as Error | undefined)?.message ?? "");
  if (!match) return null;
  const status = match[1];
  if (status !== "401" && status !== "407") {
    return new InstallError(
      "network",
      `The proxy refused the connection (HTTP ${status}).`,
      "Check HTTPS_PROXY / HTTP_PROXY, or add the host to NO_PROXY.",
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
    `The proxy${proxy ? ` ${proxy.host}` : ""} refused the connection (HTTP ${status}: authentication required).`,
    "Put credentials in the proxy URL, e.g. HTTPS_PROXY=http://user:password@proxy:8080 (URL-encode special characters).",
    { cause: error },
  );
}

/** Runs `attempt` until it succeeds, a permanent error occurs, or MAX_ATTEMPTS are spent. */
export async function withRetries<T>(
  client: HttpClient,
  what: string,
  url: URL,
  attempt: (attemptNumber: number) => Promise<T>,
): Promise<T> {
  const proxy = proxyForUrl(url, client.settings.env);
  let lastError: unknown;
  for (let n = 0; n < MAX_ATTEMPTS; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (client.settings.signal.aborted) throw client.settings.signal.reason ?? error;
      if (!isTransient(error)) throw proxyRefusal(error, proxy) ?? permanent(what, error);
      lastError = error;
      if (n < RETRY_DELAYS_MS.length) {
        client.settings.debug(`${what}: ${describeNetworkError(error)}; retrying`);
        await sleep(RETRY_DELAYS_MS[n], client.settings.signal);
      }
    }
  }
  if (lastError instanceof HttpStatusError) {
    throw new InstallError(
      "network",
      `${what} failed: the server answered HTTP ${lastError.statusCode} ${MAX_ATTEMPTS} times.`,
      "The server is having trouble; try again in a few minutes.",
      { cause: lastError },
    );
  }
  if (proxy && errorCode(lastError) === "ECONNREFUSED") {
    throw new InstallError(
      "network",
      `${what} failed: the proxy ${proxy.host} refused the connection (${MAX_ATTEMPTS} attempts).`,
      "Check that the proxy in HTTPS_PROXY / HTTP_PROXY is running at that address, or add the host to NO_PROXY.",
      { cause: lastError },
    );
  }
  throw new InstallError(
    "network",
    `${what} failed after ${MAX_ATTEMPTS} attempts: ${describeNetworkError(lastError)}.`,
    "Check your network connection and proxy settings (HTTPS_PROXY, NO_PROXY), then run the installer again.",
    { cause: lastError },
  );
}

/** An error that retrying cannot fix: InstallErrors and statuses pass through for the caller to explain. */
function permanent(what: string, error: unknown): unknown {
  if (error instanceof InstallError || error instanceof HttpStatusError) return error;
  return new InstallError(
    "network",
    `${what} failed: ${describeNetworkError(error)}.`,
    "Check your network connection and proxy settings (HTTPS_PROXY, NO_PROXY), then run the installer again.",
    { cause: error },
  );
}

function errorCode(error: unknown): string | undefined {
  const err = error as (Error & { code?: string; cause?: { code?: string } }) | undefined;
  return err?.code ?? err?.cause?.code;
}

function describeNetworkError(error: unknown): string {
  const err = error as Error | undefined;
  switch (errorCode(error)) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host name not found (DNS)";
    case "ECONNRESET":
    case "UND_ERR_SOCKET":
      return "connection reset";
    case "UND_ERR_CONNECT_TIMEOUT":
      return "connect timed out";
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
      return "server stalled (timed out)";
    default:
      return err?.message ?? String(error);
  }
}

export interface Document {
  statusCode: number;
  headers: OpenResponse["headers"];
  text: string;
}

/**
 * GETs a small JSON or text document with retries. Non-2xx statuses surface as HttpStatusError,
 * except those `accepted` (a 304 to a conditional request, a 404 for an optional file).
 */
/** No JSON or checksum list the installer reads is anywhere near this; a server's flood stops here. */
const MAX_DOCUMENT_BYTES = 64 * 1024 ** 2;

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
    if (!ok && !accepted.includes(response.statusCode)) {
      await response.body.dump();
      throw new HttpStatusError(response.statusCode, response.url, response.headers);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      size += chunk.length;
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
    return {
      statusCode: response.statusCode,
      headers: response.headers,
      text: Buffer.concat(chunks).toString("utf8"),
    };
  });
}

export async function fetchText(client: HttpClient, url: URL, what: string, accept: string): Promise<string> {
  return (await fetchDocument(client, url, what, { accept })).text;
}

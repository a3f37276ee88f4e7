// Release lookup on the GitHub REST API (or a GitHub Enterprise / mirror with the same shape),
// and what GitHub's refusals mean.

import { InstallError } from "../errors.js";
import { readRegularFile, writeFileAtomic } from "../fs-atomic.js";
import {
  createHttpClient,
  fetchDocument,
  type HttpClient,
  type HttpSettings,
  HttpStatusError,
  openUrl,
  withRetries,
} from "../net/http.js";
import type { ReleaseOptions } from "../options.js";
import type { Release, ReleaseAsset } from "./assets.js";
import { type Tag, toTag } from "./versions.js";

/** The longest `status` waits for GitHub: it has already said what this machine knows. */
const STATUS_TIMEOUT_MS = 10_000;

/** An HTTP client for the release lookup and downloads that `options` describe. */
export function gitHubClient(
  options: ReleaseOptions,
  signal: AbortSignal,
  log: Pick<HttpSettings, "debug" | "retrying">,
  env: NodeJS.ProcessEnv,
  /** Bounds for a lookup whose answer is only informative (status): one try, at most 10 s. */
  quick = false,
): Promise<HttpClient> {
  return createHttpClient({
    apiOrigin: new URL(options.apiUrl).origin,
    token: options.token,
    timeoutMs: quick ? Math.min(options.timeoutMs, STATUS_TIMEOUT_MS) : options.timeoutMs,
    attempts: quick ? 1 : undefined,
    caFile: options.caFile,
    signal,
    debug: log.debug,
    retrying: log.retrying,
    env,
  });
}

function isAsset(value: unknown): value is ReleaseAsset {
  const asset = value as ReleaseAsset;
  return typeof asset?.name === "string" && typeof asset.browser_download_url === "string";
}

/** A release or a Sigstore bundle is a few levels deep; JSON nested deeper costs memory and time for nothing. */
const MAX_JSON_DEPTH = 32;

/** How deep `text`'s arrays and objects nest, counted outside strings, stopping past `limit`. */
function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length && deepest <= limit; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "[" || c === "{") deepest = Math.max(deepest, ++depth);
    else if (c === "]" || c === "}") depth--;
  }
  return deepest;
}

/** A server's JSON, or undefined when it is not JSON or nests deeper than any answer of GitHub's. */
export function parseBoundedJson(text: string): unknown {
  if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function parseRelease(text: string, source: string): Release {
  const release = parseBoundedJson(text) as { tag_name?: unknown; assets?: unknown } | null | undefined;
  if (!release || typeof release.tag_name !== "string" || !Array.isArray(release.assets)) {
    throw new InstallError(
      "network",
      `${source} did not answer with a GitHub release.`,
      "Check --github-api and --repo; a proxy or captive portal may be answering instead.",
    );
  }
  // The tag names files and is printed: only a version tag may pass, never a path or escapes.
  const tag = toTag(release.tag_name);
  if (!tag) {
    throw new InstallError(
      "network",
      `${source} answered with a release whose tag is not a version (${JSON.stringify(release.tag_name.slice(0, 40))}).`,
      "RunMat's releases are tagged like v0.6.1; check --github-api and --repo, or pass a version.",
    );
  }
  return { tag_name: tag, assets: release.assets.filter(isAsset) };
}

/** What to do about GitHub's rate limit, wherever it stops a request. */
export const RATE_LIMIT_HINT =
  "Set GITHUB_TOKEN or GH_TOKEN to a GitHub token to raise the limit, or wait and retry.";

/** The API's rate limit answered and no token was set: github.com's release pages still work. */
export class RateLimitedError extends InstallError {}

/** A release JSON kept with its ETag, so a repeated check costs nothing against the rate limit. */
interface CachedRelease {
  url: string;
  etag: string;
  body: string;
}

async function readCache(file: string | undefined, url: URL): Promise<CachedRelease | null> {
  if (!file) return null;
  try {
    const cached = JSON.parse((await readRegularFile(file)) ?? "null") as CachedRelease | null;
    return cached &&
      cached.url === url.href &&
      typeof cached.etag === "string" &&
      typeof cached.body === "string"
      ? cached
      : null;
  } catch {
    return null;
  }
}

/**
 * Looks a release up on the API. With `cacheFile` (status, update), the request is conditional:
 * GitHub answers an unchanged release with 304, which does not count against its rate limit.
 */
export async function fetchRelease(
  client: HttpClient,
  apiUrl: string,
  repo: string,
  tag: Tag | null,
  cacheFile?: string,
): Promise<Release> {
  const path = tag ? `releases/tags/${encodeURIComponent(tag)}` : "releases/latest";
  const url = new URL(`${apiUrl}/repos/${repo}/${path}`);
  const cached = await readCache(cacheFile, url);
  let text: string;
  try {
    const headers: Record<string, string> = { accept: "application/vnd.github+json" };
    if (cached) headers["if-none-match"] = cached.etag;
    const answer = await fetchDocument(client, url, "Release lookup", headers, [304]);
    text = answer.statusCode === 304 && cached ? cached.body : answer.text;
    const etag = answer.headers.etag;
    if (cacheFile && answer.statusCode === 200 && typeof etag === "string") {
      await writeFileAtomic(cacheFile, JSON.stringify({ url: url.href, etag, body: text }), 0o644).catch(
        () => {},
      );
    }
  } catch (error) {
    if (!(error instanceof HttpStatusError)) throw error;
    const limited = rateLimitOrAuthError(error, Boolean(client.settings.token));
    if (limited) throw limited;
    if (error.statusCode === 404) {
      throw new InstallError(
        "network",
        tag ? `Release ${tag} was not found in ${repo}.` : `${repo} has no published release.`,
        `See the releases at https://github.com/${repo}/releases and pass one of their versions.`,
      );
    }
    throw new InstallError(
      "network",
      `Release lookup failed: HTTP ${error.statusCode} from ${url.host}.`,
      "Check --github-api, --repo and your proxy settings, then try again.",
    );
  }
  return parseRelease(text, url.host);
}

/**
 * Turns a 401/403/429 into the message every GitHub API user needs, naming the token variables.
 * Without a token, a rate limit is a RateLimitedError: the caller can use github.com's pages.
 */
export function rateLimitOrAuthError(error: HttpStatusError, withToken: boolean): InstallError | null {
  const { statusCode, headers } = error;
  if (statusCode === 429 || (statusCode === 403 && headers["x-ratelimit-remaining"] === "0")) {
    const reset = Number(headers["x-ratelimit-reset"]);
    const when =
      Number.isFinite(reset) && reset > 0 ? ` It resets at ${new Date(reset * 1000).toISOString()}.` : "";
    return new (withToken ? InstallError : RateLimitedError)(
      "network",
      `GitHub API rate limit exceeded (HTTP ${statusCode}).${when}`,
      RATE_LIMIT_HINT,
    );
  }
  if (statusCode === 401 || statusCode === 403) {
    return new InstallError(
      "network",
      `GitHub API refused the request (HTTP ${statusCode}).`,
      "If GITHUB_TOKEN or GH_TOKEN is set, check that it is valid; for rate limits, set one of them.",
    );
  }
  return null;
}

/**
 * The host of the release pages for an API base: github.com for api.github.com, the server
 * itself for GitHub Enterprise (/api/v3) and for mirrors that serve both.
 */
export function releasePagesBase(apiUrl: string): string {
  const url = new URL(apiUrl);
  return url.hostname === "api.github.com" ? "https://github.com" : url.origin;
}

/** The latest release's tag from github.com's /releases/latest redirect: no API call, no rate limit. */
export async function latestTagFromPages(client: HttpClient, pages: string, repo: string): Promise<Tag> {
  const url = new URL(`${pages}/${repo}/releases/latest`);
  const response = await withRetries(client, "Release lookup", url, () =>
    openUrl(client, url, {}, { method: "HEAD", followRedirects: false }),
  );
  await response.body.dump();
  const location = typeof response.headers.location === "string" ? response.headers.location : "";
  const tag = toTag(decodeURIComponent(/\/releases\/tag\/([^/?#]+)/.exec(location)?.[1] ?? ""));
  if (!tag) {
    throw new InstallError(
      "network",
      `${url.host} did not say which release is the latest (HTTP ${response.statusCode}).`,
      "GitHub's API is rate-limited: set GITHUB_TOKEN or GH_TOKEN, pass a version, or wait an hour.",
    );
  }
  return tag;
}

/** A small text file from a release page, or null when there is none (404). */
export async function optionalReleaseFile(client: HttpClient, url: URL): Promise<string | null> {
  const answer = await fetchDocument(
    client,
    url,
    `Download of ${url.pathname.split("/").pop()}`,
    { accept: "text/plain" },
    [404],
  );
  return answer.statusCode === 404 ? null : answer.text;
}

/** Whether a release page has this asset: a HEAD that follows the redirect to the asset host. */
export async function releaseFileExists(client: HttpClient, url: URL): Promise<boolean> {
  const response = await withRetries(client, `Lookup of ${url.pathname.split("/").pop()}`, url, () =>
    openUrl(client, url, {}, { method: "HEAD" }),
  );
  await response.body.dump();
  return response.statusCode >= 200 && response.statusCode < 300;
}

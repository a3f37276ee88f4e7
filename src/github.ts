// Release lookup on the GitHub REST API (or a GitHub Enterprise / mirror with the same shape),
// and what GitHub's refusals mean.

import type { ReleaseOptions } from "./cli.js";
import { InstallError } from "./errors.js";
import { createHttpClient, fetchText, type HttpClient, HttpStatusError } from "./http.js";
import { type Release, type ReleaseAsset, type Tag, toTag } from "./release.js";

/** An HTTP client for the release lookup and downloads that `options` describe. */
export function gitHubClient(
  options: ReleaseOptions,
  signal: AbortSignal,
  debug: (message: string) => void,
  env: NodeJS.ProcessEnv,
): Promise<HttpClient> {
  return createHttpClient({
    apiOrigin: new URL(options.apiUrl).origin,
    token: options.token,
    timeoutMs: options.timeoutMs,
    signal,
    debug,
    env,
  });
}

function isAsset(value: unknown): value is ReleaseAsset {
  const asset = value as ReleaseAsset;
  return typeof asset?.name === "string" && typeof asset.browser_download_url === "string";
}

function parseRelease(text: string, source: string): Release {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = null;
  }
  const release = value as { tag_name?: unknown; assets?: unknown } | null;
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

export async function fetchRelease(
  client: HttpClient,
  apiUrl: string,
  repo: string,
  tag: Tag | null,
): Promise<Release> {
  const path = tag ? `releases/tags/${encodeURIComponent(tag)}` : "releases/latest";
  const url = new URL(`${apiUrl}/repos/${repo}/${path}`);
  let text: string;
  try {
    text = await fetchText(client, url, "Release lookup", "application/vnd.github+json");
  } catch (error) {
    if (!(error instanceof HttpStatusError)) throw error;
    const limited = rateLimitOrAuthError(error);
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

export async function fetchChecksumFile(client: HttpClient, asset: ReleaseAsset): Promise<string> {
  try {
    return await fetchText(
      client,
      new URL(asset.browser_download_url),
      `Download of ${asset.name}`,
      "text/plain",
    );
  } catch (error) {
    if (!(error instanceof HttpStatusError)) throw error;
    throw new InstallError(
      "network",
      `Could not download the checksum file ${asset.name} (HTTP ${error.statusCode}).`,
      "Try again later; the release may be being edited.",
    );
  }
}

/** Turns a 401/403/429 into the message every GitHub API user needs, naming the token variables. */
function rateLimitOrAuthError(error: HttpStatusError): InstallError | null {
  const { statusCode, headers } = error;
  if (statusCode === 429 || (statusCode === 403 && headers["x-ratelimit-remaining"] === "0")) {
    const reset = Number(headers["x-ratelimit-reset"]);
    const when =
      Number.isFinite(reset) && reset > 0 ? ` It resets at ${new Date(reset * 1000).toISOString()}.` : "";
    return new InstallError(
      "network",
      `GitHub API rate limit exceeded (HTTP ${statusCode}).${when}`,
      "Set GITHUB_TOKEN or GH_TOKEN to a GitHub token to raise the limit, or wait and retry.",
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

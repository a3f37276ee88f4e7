// Release lookup on the GitHub REST API (or a GitHub Enterprise / mirror with the same shape).
import { InstallError } from "./errors.js";
import { fetchText, type HttpClient, HttpStatusError, rateLimitOrAuthError } from "./http.js";
import type { Release, ReleaseAsset } from "./release.js";

function isAsset(value: unknown): value is ReleaseAsset {
  const asset = value as ReleaseAsset;
  return typeof asset?.name === "string" && typeof asset.browser_download_url === "string";
}

export function parseRelease(text: string, source: string): Release {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = null;
  }
  const release = value as Release | null;
  if (!release || typeof release.tag_name !== "string" || !Array.isArray(release.assets)) {
    throw new InstallError(
      "network",
      `${source} did not answer with a GitHub release.`,
      "Check --github-api and --repo; a proxy or captive portal may be answering instead.",
    );
  }
  return { tag_name: release.tag_name, assets: release.assets.filter(isAsset) };
}

export async function fetchRelease(client: HttpClient, apiUrl: string, repo: string, tag: string | null) {
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

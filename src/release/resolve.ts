// Which bytes are RunMat, and how we know: the one entry point, resolveSource, answers with the
// asset to fetch (a URL, or a local --archive) and the SHA-256 it must hash to. It looks the
// release up on GitHub's API, or on the release pages when the API is rate-limited; checksums.ts
// says where each digest comes from. What it learns on the way goes to the observer.
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { archiveKindOf } from "../archive/extract.js";
import { InstallError } from "../errors.js";
import type { HttpClient } from "../net/http.js";
import type { InstallOptions } from "../options.js";
import type { Target } from "../platform/resolve.js";
import { type AssetChoice, assetCandidates, type Release, selectAsset } from "./assets.js";
import { checksumBesideArchive, checksumFromApi, checksumFromPages, parseChecksumList } from "./checksums.js";
import {
  fetchRelease,
  latestTagFromPages,
  optionalReleaseFile,
  RateLimitedError,
  releaseFileExists,
  releasePagesBase,
} from "./github.js";
import { type Tag, tagFromArchiveName } from "./versions.js";

/** Where the archive comes from and what it must hash to. */
export interface Source {
  tag: Tag | null;
  platform: string;
  assetName: string;
  /** A URL to download, or a local file for --archive. */
  location: { url: URL; size?: number } | { file: string };
  sha256: string | null;
  /** Found on the release pages because the API answered with its rate limit (no token). */
  apiRateLimited?: boolean;
}

/** What the lookup tells the user without stopping. */
export type ReleaseWarning =
  | { kind: "emulated"; tag: Tag; wanted: string; used: string }
  | { kind: "unverified"; assetName: string }
  /** The API was rate-limited: the release pages were used, the checksum from where it says. */
  | { kind: "api-rate-limited"; host: string; checksumFrom: string | null };

export interface ReleaseObserver {
  /** The release tag (null when unknown, as for an archive named unusually) and the build chosen. */
  releaseResolved(tag: Tag | null, platform: string): void;
  warning(warning: ReleaseWarning): void;
}

/**
 * The asset this host installs and its expected SHA-256: from `--archive` when `http` is null,
 * else from the release. `known` is a release already fetched (by `update`), not looked up twice.
 */
export function resolveSource(
  options: InstallOptions,
  target: Target,
  http: HttpClient | null,
  observer: ReleaseObserver,
  known?: Release,
): Promise<Source> {
  return http
    ? resolveFromRelease(options, target, http, observer, known)
    : resolveFromArchive(options, target, observer);
}

async function resolveFromRelease(
  options: InstallOptions,
  target: Target,
  http: HttpClient,
  observer: ReleaseObserver,
  known?: Release,
): Promise<Source> {
  let release: Release;
  try {
    release = known ?? (await fetchRelease(http, options.apiUrl, options.repo, options.tag));
  } catch (error) {
    if (!(error instanceof RateLimitedError)) throw error;
    return resolveFromReleasePages(options, target, http, observer);
  }
  let choice: AssetChoice;
  try {
    choice = selectAsset(release, target);
  } catch (error) {
    observer.releaseResolved(release.tag_name, target.platform);
    throw error;
  }
  observer.releaseResolved(release.tag_name, choice.platform);
  announceEmulation(target, choice.platform, release.tag_name, observer);
  const sha256 = await checksumFromApi(http, release.assets, choice.asset);
  if (!sha256) missingChecksum(choice.asset.name, options.requireChecksum, observer);
  return {
    tag: release.tag_name,
    platform: choice.platform,
    assetName: choice.asset.name,
    location: {
      url: new URL(choice.asset.browser_download_url),
      size: typeof choice.asset.size === "number" ? choice.asset.size : undefined,
    },
    sha256,
  };
}

/**
 * The API answered with its rate limit and no token is set (a lab or CI fleet behind one NAT
 * address on release day): the release pages on github.com are not rate-limited. The latest
 * tag comes from /releases/latest's redirect, the asset from /releases/download/<tag>/, and
 * its checksum from the release's SHA256SUMS or <asset>.sha256 when there is one.
 */
async function resolveFromReleasePages(
  options: InstallOptions,
  target: Target,
  http: HttpClient,
  observer: ReleaseObserver,
): Promise<Source> {
  const pages = releasePagesBase(options.apiUrl);
  const tag = options.tag ?? (await latestTagFromPages(http, pages, options.repo));
  const base = `${pages}/${options.repo}/releases/download/${encodeURIComponent(tag)}`;
  // SHA256SUMS names the release's assets: with it, no request is spent guessing names.
  const sums = await optionalReleaseFile(http, new URL(`${base}/SHA256SUMS`));
  const platforms = [target.platform, ...(target.fallbackPlatform ? [target.fallbackPlatform] : [])];
  for (const platform of platforms) {
    for (const name of assetCandidates(tag, platform, target)) {
      const url = new URL(`${base}/${name}`);
      const listed = sums !== null && parseChecksumList(sums, name) !== null;
      if (!listed && !(await releaseFileExists(http, url))) continue;
      observer.releaseResolved(tag, platform);
      announceEmulation(target, platform, tag, observer);
      const checksum = await checksumFromPages(http, url, name, sums);
      observer.warning({
        kind: "api-rate-limited",
        host: new URL(pages).host,
        checksumFrom: checksum?.from ?? null,
      });
      if (!checksum) missingChecksum(name, options.requireChecksum, observer);
      return {
        tag,
        platform,
        assetName: name,
        location: { url },
        sha256: checksum?.sha256 ?? null,
        apiRateLimited: true,
      };
    }
  }
  observer.releaseResolved(tag, target.platform);
  throw new InstallError(
    "network",
    `No build of ${tag} for ${target.platform} on ${new URL(pages).host}'s release page (GitHub's API is rate-limited).`,
    "Pick another version, or set GITHUB_TOKEN or GH_TOKEN to use GitHub's API.",
  );
}

async function resolveFromArchive(
  options: InstallOptions,
  target: Target,
  observer: ReleaseObserver,
): Promise<Source> {
  const file = options.archive!;
  const assetName = basename(file);
  const tag = tagFromArchiveName(assetName) ?? options.tag;
  // An archive built for the fallback (x64 on ARM64 Windows) runs emulated: said as for a download.
  const platform =
    target.fallbackPlatform && assetName.includes(`-${target.fallbackPlatform}.`)
      ? target.fallbackPlatform
      : target.platform;
  observer.releaseResolved(tag, platform);
  const info = await stat(file).catch(() => null);
  if (!info?.isFile()) {
    throw new InstallError(
      "usage",
      `The archive ${file} does not exist.`,
      "Pass the path of a downloaded release archive.",
    );
  }
  if (!archiveKindOf(assetName)) {
    throw new InstallError(
      "usage",
      `${assetName} is not a .tar.gz or .zip archive.`,
      "Pass a RunMat release archive.",
    );
  }
  if (tag) announceEmulation(target, platform, tag, observer);
  const sha256 = await checksumBesideArchive(file, assetName);
  if (!sha256) missingChecksum(assetName, options.requireChecksum, observer);
  return { tag, platform, assetName, location: { file }, sha256 };
}

/** Says once that the build being installed is the fallback, which runs under emulation. */
function announceEmulation(target: Target, platform: string, tag: Tag, observer: ReleaseObserver): void {
  if (platform === target.platform) return;
  observer.warning({ kind: "emulated", tag, wanted: target.platform, used: platform });
}

/** No checksum is published: an error under --require-checksum, else a warning. */
function missingChecksum(assetName: string, required: boolean, observer: ReleaseObserver): void {
  if (required) {
    throw new InstallError(
      "integrity",
      `No SHA-256 checksum is published for ${assetName}, and --require-checksum is set.`,
      "Install without --require-checksum to accept an unverified download, or ask the maintainers to publish checksums.",
    );
  }
  observer.warning({ kind: "unverified", assetName });
}

// Where the archive comes from: the release (tag, asset, checksum) on GitHub, or a local
// --archive with an optional checksum file beside it. Reports what it learns to the observer.
import { stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { archiveKindOf } from "../archive/extract.js";
import type { InstallOptions } from "../cli/args.js";
import { InstallError } from "../errors.js";
import { readRegularFile } from "../fs-atomic.js";
import type { InstallObserver, Source } from "../install/types.js";
import type { HttpClient } from "../net/http.js";
import type { Target } from "../platform/resolve.js";
import {
  type AssetChoice,
  assetCandidates,
  findChecksumAsset,
  parseChecksumList,
  parseDigest,
  type Release,
  type ReleaseAsset,
  selectAsset,
  tagFromArchiveName,
} from "./assets.js";
import {
  fetchChecksumFile,
  fetchRelease,
  latestTagFromPages,
  optionalReleaseFile,
  RateLimitedError,
  releaseFileExists,
  releasePagesBase,
} from "./github.js";

/**
 * The release's asset for this target and its published SHA-256. `known` is a release that was
 * already fetched (by `update`), so it is not looked up twice.
 */
export async function resolveFromRelease(
  options: InstallOptions,
  target: Target,
  http: HttpClient,
  observer: InstallObserver,
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
  if (choice.usedFallback) {
    observer.warning({
      kind: "emulated",
      tag: release.tag_name,
      wanted: target.platform,
      used: choice.platform,
    });
  }
  const sha256 = await publishedChecksum(
    http,
    release.assets,
    choice.asset,
    options.requireChecksum,
    observer,
  );
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

async function publishedChecksum(
  http: HttpClient,
  assets: ReleaseAsset[],
  asset: ReleaseAsset,
  required: boolean,
  observer: InstallObserver,
): Promise<string | null> {
  const fromDigest = parseDigest(asset.digest, asset.name);
  if (fromDigest) return fromDigest;
  const checksumAsset = findChecksumAsset(assets, asset.name);
  if (checksumAsset) {
    const listed = parseChecksumList(await fetchChecksumFile(http, checksumAsset), asset.name);
    if (listed) return listed;
  }
  return missingChecksum(asset.name, required, observer);
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
  observer: InstallObserver,
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
      const listed = sums ? parseChecksumList(sums, name) : null;
      if (!listed && !(await releaseFileExists(http, url))) continue;
      observer.releaseResolved(tag, platform);
      let sha256 = listed;
      let checksumFrom = listed ? "SHA256SUMS" : null;
      if (!sha256) {
        const own = await optionalReleaseFile(http, new URL(`${url.href}.sha256`));
        sha256 = own === null ? null : parseChecksumList(own, name);
        if (sha256) checksumFrom = `${name}.sha256`;
      }
      observer.warning({ kind: "api-rate-limited", host: new URL(pages).host, checksumFrom });
      if (!sha256) missingChecksum(name, options.requireChecksum, observer);
      return { tag, platform, assetName: name, location: { url }, sha256 };
    }
  }
  observer.releaseResolved(tag, target.platform);
  throw new InstallError(
    "network",
    `No build of ${tag} for ${target.platform} on ${new URL(pages).host}'s release page (GitHub's API is rate-limited).`,
    "Pick another version, or set GITHUB_TOKEN or GH_TOKEN to use GitHub's API.",
  );
}

function missingChecksum(assetName: string, required: boolean, observer: InstallObserver): null {
  if (required) {
    throw new InstallError(
      "integrity",
      `No SHA-256 checksum is published for ${assetName}, and --require-checksum is set.`,
      "Install without --require-checksum to accept an unverified download, or ask the maintainers to publish checksums.",
    );
  }
  observer.warning({ kind: "unverified", assetName });
  return null;
}

export async function resolveFromArchive(
  options: InstallOptions,
  target: Target,
  observer: InstallObserver,
): Promise<Source> {
  const file = options.archive!;
  const assetName = basename(file);
  const tag = tagFromArchiveName(assetName) ?? options.tag;
  observer.releaseResolved(tag, target.platform);
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
  // An air-gapped user can copy SHA256SUMS (or <archive>.sha256) next to the archive.
  let sha256: string | null = null;
  for (const name of ["SHA256SUMS", `${assetName}.sha256`]) {
    // Never blocks: a FIFO in its place is no checksum file.
    const text = await readRegularFile(join(dirname(file), name)).catch(() => null);
    sha256 = text === null ? null : parseChecksumList(text, assetName);
    if (sha256) break;
  }
  if (!sha256) missingChecksum(assetName, options.requireChecksum, observer);
  return { tag, platform: target.platform, assetName, location: { file }, sha256 };
}

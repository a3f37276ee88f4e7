// Where the archive comes from: the release (tag, asset, checksum) on GitHub, or a local
// --archive with an optional checksum file beside it. Reports what it learns to the observer.
import { readFile, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { archiveKindOf } from "./archive.js";
import type { InstallOptions } from "./cli.js";
import { InstallError } from "./errors.js";
import { fetchChecksumFile, fetchRelease } from "./github.js";
import type { HttpClient } from "./http.js";
import type { InstallObserver, Source } from "./install-types.js";
import type { Target } from "./platform.js";
import {
  type AssetChoice,
  findChecksumAsset,
  parseChecksumList,
  parseDigest,
  type Release,
  type ReleaseAsset,
  selectAsset,
  tagFromArchiveName,
} from "./release.js";

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
  const release = known ?? (await fetchRelease(http, options.apiUrl, options.repo, options.tag));
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
    const text = await readFile(join(dirname(file), name), "utf8").catch(() => null);
    sha256 = text === null ? null : parseChecksumList(text, assetName);
    if (sha256) break;
  }
  if (!sha256) missingChecksum(assetName, options.requireChecksum, observer);
  return { tag, platform: target.platform, assetName, location: { file }, sha256 };
}

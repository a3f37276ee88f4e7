// Every way the installer learns the SHA-256 an asset must hash to, and nowhere else: GitHub's
// per-asset digest, the release's SHA256SUMS or <asset>.sha256 (through the API or the release
// pages), and the files copied beside an --archive. Parsing is pure; the lookups return null
// when nothing is published, and resolve.ts decides what a missing checksum means.
import { dirname, join } from "node:path";
import { InstallError } from "../errors.js";
import { readRegularFile } from "../fs-atomic.js";
import { fetchText, type HttpClient, HttpStatusError } from "../net/http.js";
import type { ReleaseAsset } from "./assets.js";
import { optionalReleaseFile } from "./github.js";

/** The checksum files a release (or a folder beside an --archive) may carry, in the order tried. */
function checksumFileNames(assetName: string): string[] {
  return ["SHA256SUMS", `${assetName}.sha256`];
}

/** Parses GitHub's asset digest ("sha256:<hex>"). Absent → null; present but malformed → integrity error. */
export function parseDigest(digest: string | null | undefined, assetName: string): string | null {
  if (digest === undefined || digest === null || digest === "") return null;
  const match = /^sha256:([0-9a-fA-F]{64})$/.exec(digest.trim());
  if (!match) {
    throw new InstallError(
      "integrity",
      `The release publishes a digest for ${assetName} in a form this installer cannot check: ${JSON.stringify(digest.slice(0, 80))}.`,
      "Report this to the RunMat maintainers; do not install this asset unverified.",
    );
  }
  return match[1].toLowerCase();
}

/**
 * Finds the hash for `assetName` in `sha256sum` output ("<hex>  name" or "<hex> *name"),
 * or a bare "<hex>" as in a per-asset .sha256 file.
 */
export function parseChecksumList(text: string, assetName: string): string | null {
  const lines = text.split(/\r?\n/).map((line) => line.trim());
  for (const line of lines) {
    const match = /^([0-9a-fA-F]{64})(?:\s+\*?(.+))?$/.exec(line);
    if (!match) continue;
    const name = match[2]?.trim();
    if (name === undefined || name === assetName || name.endsWith(`/${assetName}`))
      return match[1].toLowerCase();
  }
  return null;
}

/** The checksum an API release publishes for `asset`: its digest, else its checksum file's line. */
export async function checksumFromApi(
  http: HttpClient,
  assets: ReleaseAsset[],
  asset: ReleaseAsset,
): Promise<string | null> {
  const fromDigest = parseDigest(asset.digest, asset.name);
  if (fromDigest) return fromDigest;
  for (const name of checksumFileNames(asset.name)) {
    const file = assets.find((candidate) => candidate.name === name);
    if (file) return parseChecksumList(await fetchChecksumFile(http, file), asset.name);
  }
  return null;
}

async function fetchChecksumFile(client: HttpClient, asset: ReleaseAsset): Promise<string> {
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

/**
 * The checksum of `url`'s asset from the release pages: its line in SHA256SUMS (already fetched,
 * as it also lists the assets) or its own <asset>.sha256, with the file it came from.
 */
export async function checksumFromPages(
  http: HttpClient,
  url: URL,
  assetName: string,
  sums: string | null,
): Promise<{ sha256: string; from: string } | null> {
  const listed = sums === null ? null : parseChecksumList(sums, assetName);
  if (listed) return { sha256: listed, from: "SHA256SUMS" };
  const own = await optionalReleaseFile(http, new URL(`${url.href}.sha256`));
  const sha256 = own === null ? null : parseChecksumList(own, assetName);
  return sha256 ? { sha256, from: `${assetName}.sha256` } : null;
}

/** An air-gapped user can copy SHA256SUMS (or <archive>.sha256) next to the archive. */
export async function checksumBesideArchive(file: string, assetName: string): Promise<string | null> {
  for (const name of checksumFileNames(assetName)) {
    // Never blocks: a FIFO in its place is no checksum file.
    const text = await readRegularFile(join(dirname(file), name)).catch(() => null);
    const sha256 = text === null ? null : parseChecksumList(text, assetName);
    if (sha256) return sha256;
  }
  return null;
}

// Pure release logic: version parsing, asset choice and checksum parsing. No I/O.
import { InstallError } from "../errors.js";
import type { Target } from "../platform/resolve.js";

export interface ReleaseAsset {
  name: string;
  size?: number;
  digest?: string | null;
  browser_download_url: string;
}

export interface Release {
  tag_name: Tag;
  assets: ReleaseAsset[];
}

/**
 * Two shapes of one release, never mixed: a tag names it on GitHub ("v0.6.1"), a version is
 * what `runmat --version` prints ("0.6.1").
 */
export type Tag = `v${string}`;

const VERSION_PATTERN = /^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$/;

/** "0.6.1" and "v0.6.1" → "v0.6.1"; anything else (a path, an escape sequence) → null. */
export function toTag(value: string): Tag | null {
  if (value.length > 64 || !VERSION_PATTERN.test(value)) return null;
  return (value.startsWith("v") ? value : `v${value}`) as Tag;
}

/** "latest" → null; "0.6.1" and "v0.6.1" → "v0.6.1". */
export function parseRequestedTag(input: string | undefined): Tag | null {
  const value = (input ?? "latest").trim();
  if (value === "" || value === "latest") return null;
  const tag = toTag(value);
  if (!tag) {
    throw new InstallError(
      "usage",
      `"${value}" is not a version.`,
      'Pass "latest", or a version such as v0.6.1 or 0.6.1.',
    );
  }
  return tag;
}

/** The version `runmat --version` must print for a tag: the tag without its leading "v". */
export function versionOfTag(tag: Tag): string {
  return tag.slice(1);
}

/**
 * True when `output` (what `runmat --version` printed) names exactly `version` as a word:
 * "runmat 0.6.1" matches 0.6.1, but neither "runmat 0.6.10" nor "runmat 10.6.1" does.
 */
export function printsVersion(output: string, version: string): boolean {
  return output.split(/[\s,;()]+/).some((word) => word === version || word === `v${version}`);
}

/** Compares two versions numerically on major.minor.patch; a pre-release sorts before its release. */
export function compareVersions(a: Tag, b: Tag): number {
  const parse = (v: Tag) => {
    const [core, pre] = versionOfTag(v).split(/-(.*)/s);
    return {
      parts: core
        .split("+")[0]
        .split(".")
        .map((n) => Number.parseInt(n, 10) || 0),
      pre: pre ?? "",
    };
  };
  const left = parse(a);
  const right = parse(b);
  for (let i = 0; i < 3; i++) {
    const diff = (left.parts[i] ?? 0) - (right.parts[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  if (left.pre === right.pre) return 0;
  if (!left.pre) return 1;
  if (!right.pre) return -1;
  return left.pre < right.pre ? -1 : 1;
}

/** The names the old scripts looked for, in order; Unix also accepts a .zip as a last resort. */
export function assetCandidates(tag: Tag, platform: string, target: Pick<Target, "os">): string[] {
  const extensions = target.os === "windows" ? [".zip"] : [".tar.gz", ".zip"];
  return extensions.flatMap((ext) => [`runmat-${tag}-${platform}${ext}`, `runmat-${platform}${ext}`]);
}

export interface AssetChoice {
  asset: ReleaseAsset;
  platform: string;
  usedFallback: boolean;
}

/** The first `max` items, then how many more: a server's list never floods the terminal. */
function listCut(items: string[], max: number): string {
  const shown = items.slice(0, max).map((item) => (item.length > 80 ? `${item.slice(0, 80)}…` : item));
  return items.length > max ? `${shown.join(", ")} and ${items.length - max} more` : shown.join(", ");
}

export function selectAsset(release: Release, target: Target): AssetChoice {
  const platforms = [target.platform, ...(target.fallbackPlatform ? [target.fallbackPlatform] : [])];
  for (const platform of platforms) {
    for (const name of assetCandidates(release.tag_name, platform, target)) {
      const asset = release.assets.find((candidate) => candidate.name === name);
      if (asset) return { asset, platform, usedFallback: platform !== target.platform };
    }
  }
  const available = release.assets.map((a) => a.name).filter((n) => n.startsWith("runmat"));
  throw new InstallError(
    "network",
    `No build of ${release.tag_name} for ${target.platform}.`,
    available.length
      ? `This release has: ${listCut(available, 8)}. Pick another version, or build from source.`
      : "This release has no RunMat archives at all. Pick another version.",
  );
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

/** The checksum file to fetch when the asset carries no digest: SHA256SUMS, then <asset>.sha256. */
export function findChecksumAsset(assets: ReleaseAsset[], assetName: string): ReleaseAsset | undefined {
  return assets.find((a) => a.name === "SHA256SUMS") ?? assets.find((a) => a.name === `${assetName}.sha256`);
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

/** Reads "v0.6.1" out of a release archive's file name, for offline installs. */
export function tagFromArchiveName(fileName: string): Tag | null {
  const match = /^runmat-(v\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+?)?)-(?:linux|macos|windows)-/.exec(fileName);
  return match ? toTag(match[1]) : null;
}

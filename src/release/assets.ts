// Pure: a release as the API describes it, and which of its assets this host installs. No I/O.
import { InstallError } from "../errors.js";
import type { Target } from "../platform/resolve.js";
import type { Tag } from "./versions.js";

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

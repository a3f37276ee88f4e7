// Pure: what a release is called. A tag names it on GitHub ("v0.6.1"), a version is what
// `runmat --version` prints ("0.6.1"); parsing, comparing and matching them. No I/O.
import { InstallError } from "../errors.js";

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

/** Reads "v0.6.1" out of a release archive's file name, for offline installs. */
export function tagFromArchiveName(fileName: string): Tag | null {
  const match = /^runmat-(v\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+?)?)-(?:linux|macos|windows)-/.exec(fileName);
  return match ? toTag(match[1]) : null;
}

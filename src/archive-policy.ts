// Pure rules for what a release archive may contain. Both the tar and the zip reader ask
// EntryGuard about every entry before writing a byte of it.
import { posix } from "node:path";
import { InstallError } from "./errors.js";

export type EntryType = "file" | "directory" | "symlink" | "hardlink" | "other";

export interface ArchiveEntry {
  name: string;
  type: EntryType;
  /** Declared uncompressed size in bytes. */
  size: number;
  /** Target of a symlink (relative to the entry) or hardlink (relative to the archive root). */
  linkTarget?: string;
}

export interface ExtractLimits {
  maxEntries: number;
  maxTotalBytes: number;
}

const DEFAULT_LIMITS: ExtractLimits = { maxEntries: 10_000, maxTotalBytes: 2 * 1024 ** 3 };

function unsafe(name: string, why: string): InstallError {
  const shown = JSON.stringify(name).slice(0, 120);
  return new InstallError(
    "integrity",
    `Refusing the archive: entry ${shown} ${why}.`,
    "The release archive is unsafe or corrupt; do not install it. Report it to the RunMat maintainers.",
  );
}

/** Returns the entry's path as safe relative segments, or throws. An empty result means the root itself. */
function safeRelativePath(name: string): string[] {
  if (/[\x00-\x1f\x7f]/.test(name)) throw unsafe(name, "has control characters in its name");
  if (/^[/\\]/.test(name) || /^[A-Za-z]:/.test(name)) throw unsafe(name, "has an absolute path");
  const segments = name.split(/[/\\]+/).filter((segment) => segment !== "" && segment !== ".");
  if (segments.includes("..")) throw unsafe(name, "climbs out of the install directory with ..");
  return segments;
}

export class EntryGuard {
  private entries = 0;
  private totalBytes = 0;
  private readonly symlinks = new Set<string>();

  constructor(private readonly limits: ExtractLimits = DEFAULT_LIMITS) {}

  /** Throws unless the entry is safe to write; returns its normalised relative path. */
  check(entry: ArchiveEntry): string {
    const segments = safeRelativePath(entry.name);
    const path = segments.join("/");
    this.entries += 1;
    if (this.entries > this.limits.maxEntries) {
      throw unsafe(
        entry.name,
        `is one of more than ${this.limits.maxEntries} entries (a RunMat release has a few)`,
      );
    }
    this.totalBytes += Math.max(0, entry.size);
    if (this.totalBytes > this.limits.maxTotalBytes) {
      throw unsafe(
        entry.name,
        `takes the unpacked size past ${this.limits.maxTotalBytes} bytes (a zip bomb?)`,
      );
    }
    for (let i = 1; i <= segments.length; i++) {
      if (this.symlinks.has(segments.slice(0, i).join("/"))) {
        throw unsafe(entry.name, "is written through a symbolic link");
      }
    }
    switch (entry.type) {
      case "file":
      case "directory":
        return path;
      case "symlink": {
        const target = entry.linkTarget ?? "";
        if (target === "" || /^[/\\]/.test(target) || /^[A-Za-z]:/.test(target)) {
          throw unsafe(entry.name, `is a link to an absolute path (${target})`);
        }
        const resolved = posix.normalize(posix.join(posix.dirname(path), target.replace(/\\/g, "/")));
        if (resolved === ".." || resolved.startsWith("../")) {
          throw unsafe(entry.name, `is a link pointing outside the archive (${target})`);
        }
        this.symlinks.add(path);
        return path;
      }
      case "hardlink": {
        const target = entry.linkTarget ?? "";
        const targetSegments = safeRelativePath(target);
        if (targetSegments.length === 0) throw unsafe(entry.name, "is a hard link to the archive root");
        return path;
      }
      default:
        throw unsafe(entry.name, "is a device, FIFO or other special file");
    }
  }
}

const LIBRARY_PATTERN = /\.(?:so(?:\.\d+)*|dylib|dll)$/i;

export function isSharedLibrary(fileName: string): boolean {
  return LIBRARY_PATTERN.test(fileName);
}

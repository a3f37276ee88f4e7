// Pure rules for what a release archive may contain. Both the tar and the zip reader ask
// EntryGuard about every entry before writing a byte of it.
import { InstallError } from "../errors.js";
import { printable, UNPRINTABLE } from "../text.js";

export type EntryType = "file" | "directory" | "symlink" | "hardlink" | "other";

export interface ArchiveEntry {
  name: string;
  type: EntryType;
  /** Declared uncompressed size in bytes. */
  size: number;
}

export interface ExtractLimits {
  maxEntries: number;
  maxTotalBytes: number;
}

const DEFAULT_LIMITS: ExtractLimits = { maxEntries: 10_000, maxTotalBytes: 2 * 1024 ** 3 };

/** Longer names or deeper paths are no RunMat release's (and would cost the filesystem dearly). */
export const MAX_NAME_LENGTH = 1024;
export const MAX_DEPTH = 32;

function unsafe(name: string, why: string): InstallError {
  const shown = `"${printable(name.slice(0, 80))}"${name.length > 80 ? "…" : ""}`;
  return new InstallError(
    "integrity",
    `Refusing the archive: entry ${shown} ${why}.`,
    "The release archive is unsafe or corrupt; do not install it. Report it to the RunMat maintainers.",
  );
}

/**
 * Returns the entry's path as safe relative segments, or throws. An empty result means the root
 * itself. Linear in the name's length, which is bounded before anything else is looked at.
 */
function safeRelativePath(name: string): string[] {
  if (name.length > MAX_NAME_LENGTH)
    throw unsafe(name, `has a name longer than ${MAX_NAME_LENGTH} characters`);
  if (UNPRINTABLE.test(name))
    throw unsafe(name, "has control characters or text-direction marks in its name");
  if (/^[/\\]/.test(name) || /^[A-Za-z]:/.test(name)) throw unsafe(name, "has an absolute path");
  const segments = name.split(/[/\\]+/).filter((segment) => segment !== "" && segment !== ".");
  if (segments.includes("..")) throw unsafe(name, "climbs out of the install directory with ..");
  if (segments.length > MAX_DEPTH) throw unsafe(name, `is more than ${MAX_DEPTH} directories deep`);
  return segments;
}

/**
 * Decides about every entry before a byte of it is written. Links of any kind are refused:
 * RunMat's releases hold regular files only (the binary, and on Windows its DLLs), and a link is
 * the one entry whose path can be checked as inside the staging directory and still resolve
 * outside it, through other links. Without links, every checked path is where it lands.
 */
export class EntryGuard {
  private entries = 0;
  private totalBytes = 0;

  constructor(private readonly limits: ExtractLimits = DEFAULT_LIMITS) {}

  /** Throws unless the entry is safe to write; returns its normalised relative path. */
  check(entry: ArchiveEntry): string {
    this.entries += 1;
    if (this.entries > this.limits.maxEntries) {
      throw unsafe(
        entry.name,
        `is one of more than ${this.limits.maxEntries} entries (a RunMat release has a few)`,
      );
    }
    const path = safeRelativePath(entry.name).join("/");
    this.totalBytes += Math.max(0, entry.size);
    if (this.totalBytes > this.limits.maxTotalBytes) {
      throw unsafe(
        entry.name,
        `takes the unpacked size past ${this.limits.maxTotalBytes} bytes (a zip bomb?)`,
      );
    }
    switch (entry.type) {
      case "file":
      case "directory":
        return path;
      case "symlink":
      case "hardlink":
        throw unsafe(entry.name, "is a link (a RunMat release holds regular files only)");
      default:
        throw unsafe(entry.name, "is a device, FIFO or other special file");
    }
  }

  /** Refuses an archive that announces more entries than the limit, before reading any. */
  checkDeclaredCount(count: number): void {
    if (count > this.limits.maxEntries) {
      throw unsafe(
        `(${count} entries)`,
        `declares more than ${this.limits.maxEntries} entries (a RunMat release has a few)`,
      );
    }
  }
}

const LIBRARY_PATTERN = /\.(?:so(?:\.\d+)*|dylib|dll)$/i;

export function isSharedLibrary(fileName: string): boolean {
  return LIBRARY_PATTERN.test(fileName);
}

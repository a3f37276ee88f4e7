// Safe extraction of release archives into a staging directory. Every entry passes
// EntryGuard first; tar.gz streams through node-tar (even while it downloads) and zip
// through yauzl, so neither holds the archive in memory.
import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { chmod, lstat, mkdir, open, readdir, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { crc32, createGunzip, createInflateRaw, type Gunzip, type ZlibOptions } from "node:zlib";
import type { Entry as ZipEntry, ZipFile } from "yauzl";
import { InstallError, isAbortError, toInstallError } from "../errors.js";
import { EntryGuard, type EntryType, type ExtractLimits, isSharedLibrary } from "./policy.js";
import type { StreamedEntry, ZipStreamExtraction } from "./zip-stream.js";

export type ArchiveKind = "tar.gz" | "zip";

export function archiveKindOf(fileName: string): ArchiveKind | null {
  if (/\.(?:tar\.gz|tgz)$/i.test(fileName)) return "tar.gz";
  if (/\.zip$/i.test(fileName)) return "zip";
  return null;
}

const FILESYSTEM_CODES = new Set(["EACCES", "EPERM", "EROFS", "ENOSPC", "EFBIG", "EDQUOT", "EMFILE"]);

/** What went wrong while unpacking, as an InstallError: a write error, or a damaged archive. */
function corrupt(error: unknown, kind: ArchiveKind): unknown {
  if (error instanceof InstallError || isAbortError(error)) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code && FILESYSTEM_CODES.has(code)) return toInstallError(error);
  const detail = error instanceof Error ? error.message : String(error);
  return new DamagedArchiveError(kind, detail, error);
}

/**
 * Bytes that do not decode: damaged in transit (the checksum, once the download ends, will say
 * so) or damaged in the release itself.
 */
export class DamagedArchiveError extends InstallError {
  constructor(kind: ArchiveKind, detail: string, cause: unknown) {
    super(
      "integrity",
      `The ${kind} archive is corrupt and cannot be unpacked: ${detail}.`,
      "Run the installer again; if it keeps failing, the release asset is damaged — report it.",
      { cause },
    );
  }
}

/**
 * Unpacks `file` into `destination`. For a .zip, `streamed` is what ZipStreamExtraction already
 * unpacked there while the download arrived: kept only when the central directory names
 * exactly those entries, and unpacked again from the file otherwise.
 */
export async function extractArchive(
  file: string,
  kind: ArchiveKind,
  destination: string,
  signal: AbortSignal,
  limits?: ExtractLimits,
  streamed?: ZipStreamExtraction,
): Promise<{ keptStreamed: boolean }> {
  if (kind === "tar.gz") {
    const tar = await TarExtraction.start(destination, limits);
    try {
      for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 })) {
        signal.throwIfAborted();
        await tar.write(chunk as Buffer);
      }
      await tar.end();
    } catch (error) {
      tar.abort(error);
      await tar.settled();
      throw corrupt(error, kind);
    }
    return { keptStreamed: false };
  }
  try {
    return { keptStreamed: await extractZip(file, destination, new EntryGuard(limits), signal, streamed) };
  } catch (error) {
    throw corrupt(error, kind);
  }
}

/**
 * What unverified data may expand to: 20 times its compressed size, and 64 MiB in any case.
 * RunMat's archives compress about 3 to 1; a bomb compresses a thousand to one.
 */
export const MAX_EXPANSION_RATIO = 20;
const MIN_EXPANSION_ALLOWANCE = 64 * 1024 ** 2;

export function expansionAllowance(compressedBytes: number): number {
  return Math.max(MIN_EXPANSION_ALLOWANCE, MAX_EXPANSION_RATIO * compressedBytes);
}

/**
 * Large output chunks mean few, large file writes; a large input buffer means a writer waits
 * for the inflater once per few megabytes, not once per 16 KiB.
 */
export const LARGE_ZLIB_BUFFERS = {
  chunkSize: 512 * 1024,
  writableHighWaterMark: 4 * 1024 ** 2,
} as ZlibOptions;

const TAR_TYPES = new Map<string, EntryType>([
  ["File", "file"],
  ["OldFile", "file"],
  ["ContiguousFile", "file"],
  ["Directory", "directory"],
  ["SymbolicLink", "symlink"],
  ["Link", "hardlink"],
]);

/**
 * Unpacks a .tar.gz that is fed to it chunk by chunk, so that a download can be unpacked
 * while it arrives. Every entry passes EntryGuard first; the first unsafe entry, corrupt
 * byte or write error stops it, and write() then throws that reason as an InstallError.
 */
export class TarExtraction {
  private failure: unknown = null;
  private readonly finished: Promise<void>;
  private rejectFinished!: (reason: unknown) => void;
  private readonly unpack: import("tar").Unpack;
  private readonly gunzip: Gunzip;
  private compressedBytes = 0;
  private expandedBytes = 0;

  private constructor(Unpack: typeof import("tar").Unpack, destination: string, guard: EntryGuard) {
    // Node's own gunzip runs on the thread pool, beside the download and the writes, and its
    // large output chunks mean few, large file writes; tar then parses a plain tar stream.
    this.gunzip = createGunzip(LARGE_ZLIB_BUFFERS);
    this.unpack = new Unpack({
      cwd: destination,
      strict: true,
      // As root, tar would otherwise restore the archive's owner ids onto our files.
      preserveOwner: false,
      filter: (path, entry) => {
        if (this.failure) return false;
        const info = entry as { type?: string; size?: number };
        try {
          guard.check({
            name: path,
            type: TAR_TYPES.get(info.type ?? "") ?? "other",
            size: info.size ?? 0,
          });
          return true;
        } catch (error) {
          this.abort(error);
          return false;
        }
      },
    });
    this.finished = new Promise<void>((resolve, reject) => {
      this.rejectFinished = reject;
      this.unpack.on("close", () => resolve());
    });
    this.finished.catch(() => {}); // observed through write(), end() and settled()
    this.unpack.on("error", (error: unknown) => this.abort(error));
    this.gunzip.on("error", (error: unknown) => this.abort(error));
    this.gunzip.on("data", (chunk: Buffer) => {
      this.expandedBytes += chunk.length;
      // Data not yet verified against its checksum may not expand without bound.
      if (this.expandedBytes > expansionAllowance(this.compressedBytes)) {
        this.abort(
          new InstallError(
            "integrity",
            `Refusing the archive: it expands to more than ${MAX_EXPANSION_RATIO} times its compressed size (a decompression bomb?).`,
            "The release archive is unsafe or corrupt; do not install it. Report it to the RunMat maintainers.",
          ),
        );
      }
    });
    this.gunzip.pipe(this.unpack as unknown as NodeJS.WritableStream);
  }

  static async start(destination: string, limits?: ExtractLimits): Promise<TarExtraction> {
    const { Unpack } = await import("tar");
    return new TarExtraction(Unpack, destination, new EntryGuard(limits));
  }

  /** Feeds bytes, waiting while the unpacker catches up. */
  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    this.compressedBytes += chunk.length;
    if (!this.gunzip.write(chunk)) await Promise.race([once(this.gunzip, "drain"), this.finished]);
    if (this.failure) throw this.failure;
  }

  /** Every byte has been given: waits until the last file is written. */
  async end(): Promise<void> {
    if (this.failure) throw this.failure;
    this.gunzip.end();
    await this.finished;
  }

  /** Stops unpacking, for the given reason; later writes throw it. */
  abort(reason: unknown): void {
    if (this.failure) return;
    this.failure = corrupt(reason, "tar.gz");
    this.gunzip.unpipe();
    this.gunzip.destroy();
    this.rejectFinished(this.failure);
  }

  /** Resolves once unpacking has stopped, however it ended. */
  settled(): Promise<void> {
    return this.finished.catch(() => {});
  }
}

function zipEntryType(entry: ZipEntry): EntryType {
  const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
  if (mode === 0o120000) return "symlink";
  if (mode !== 0 && mode !== 0o100000 && mode !== 0o040000) return "other";
  return (entry.fileName as unknown as Buffer).toString("utf8").endsWith("/") || mode === 0o040000
    ? "directory"
    : "file";
}

async function extractZip(
  file: string,
  destination: string,
  guard: EntryGuard,
  signal: AbortSignal,
  streamed?: ZipStreamExtraction,
): Promise<boolean> {
  await streamed?.close();
  const yauzl = await import("yauzl");
  const zip = await new Promise<ZipFile>((resolve, reject) =>
    // decodeStrings:false hands us raw names so EntryGuard, not yauzl, explains what is wrong with them.
    yauzl.open(
      file,
      { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true },
      (error, zipFile) => (error ? reject(error) : resolve(zipFile)),
    ),
  );
  try {
    // The end record says how many entries follow: too many is refused before reading one.
    guard.checkDeclaredCount(zip.entryCount);
    // Every entry is checked, declared sizes included, as the central directory is read and
    // before anything is written: a zip bomb or a hostile name stops the reading there.
    // The bound is on the whole archive, not per entry: 31 entries that each stay under it
    // would still write 31 times as much.
    const archiveBytes = (await stat(file)).size;
    let declaredTotal = 0;
    const entries = await new Promise<{ entry: ZipEntry; path: string; type: EntryType }[]>(
      (resolve, reject) => {
        const all: { entry: ZipEntry; path: string; type: EntryType }[] = [];
        zip.on("entry", (entry: ZipEntry) => {
          try {
            if (signal.aborted) throw signal.reason;
            const type = zipEntryType(entry);
            const name = (entry.fileName as unknown as Buffer).toString("utf8");
            declaredTotal += entry.uncompressedSize;
            if (
              entry.uncompressedSize > expansionAllowance(entry.compressedSize) ||
              declaredTotal > expansionAllowance(archiveBytes)
            ) {
              throw new InstallError(
                "integrity",
                `Refusing the archive: entry ${JSON.stringify(name.slice(0, 80))} expands more than ${MAX_EXPANSION_RATIO} times (a zip bomb?).`,
                "The release archive is unsafe or corrupt; do not install it. Report it to the RunMat maintainers.",
              );
            }
            all.push({ entry, type, path: guard.check({ name, type, size: entry.uncompressedSize }) });
            zip.readEntry();
          } catch (error) {
            reject(error);
          }
        });
        zip.on("end", () => resolve(all));
        zip.on("error", reject);
        zip.readEntry();
      },
    );
    refuseOverlappingEntries(entries.map(({ entry }) => entry));
    if (streamed?.complete && sameEntries(streamed.entries, entries)) {
      for (const { entry, path, type } of entries) {
        if (type === "file") await chmod(join(destination, path), zipFileMode(entry));
      }
      return true;
    }
    if (streamed) {
      // What the stream unpacked is not what the central directory describes: start over.
      for (const name of await readdir(destination)) {
        await rm(join(destination, name), { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
      }
    }
    for (const { entry, path, type } of entries) {
      signal.throwIfAborted();
      const target = join(destination, path);
      if (type === "directory") {
        await mkdir(target, { recursive: true });
        continue;
      }
      await mkdir(dirname(target), { recursive: true });
      const mode = zipFileMode(entry);
      await pipeline(
        [
          ...(await zipEntryData(file, entry)),
          createWriteStream(target, { mode, flags: "wx", highWaterMark: 4 * 1024 ** 2 }),
        ],
        {
          signal,
        },
      );
    }
    return false;
  } finally {
    zip.close();
  }
}

function zipFileMode(entry: ZipEntry): number {
  return (entry.externalFileAttributes >>> 16) & 0o777 || 0o644;
}

/** The central directory names exactly what the stream unpacked: same bytes, same places. */
function sameEntries(
  streamed: StreamedEntry[],
  central: { entry: ZipEntry; path: string; type: EntryType }[],
) {
  if (streamed.length !== central.length) return false;
  const byOffset = [...central].sort(
    (a, b) => a.entry.relativeOffsetOfLocalHeader - b.entry.relativeOffsetOfLocalHeader,
  );
  return byOffset.every(({ entry, path, type }, i) => {
    const seen = streamed[i];
    return (
      seen.offset === entry.relativeOffsetOfLocalHeader &&
      seen.name.equals(entry.fileName as unknown as Buffer) &&
      seen.method === entry.compressionMethod &&
      seen.crc32 === entry.crc32 &&
      seen.compressedSize === entry.compressedSize &&
      seen.uncompressedSize === entry.uncompressedSize &&
      seen.path === path &&
      seen.isDirectory === (type === "directory") &&
      (type === "file" || type === "directory")
    );
  });
}

/**
 * Refuses entries whose data share bytes: each entry's local header (30 bytes at least) and
 * data must end before the next entry begins. A zip tool never writes overlapping entries; an
 * archive that does makes a few kilobytes read as gigabytes.
 */
function refuseOverlappingEntries(entries: ZipEntry[]): void {
  const byOffset = [...entries].sort((a, b) => a.relativeOffsetOfLocalHeader - b.relativeOffsetOfLocalHeader);
  for (let i = 1; i < byOffset.length; i++) {
    const previous = byOffset[i - 1];
    if (
      byOffset[i].relativeOffsetOfLocalHeader <
      previous.relativeOffsetOfLocalHeader + 30 + previous.compressedSize
    ) {
      throw new InstallError(
        "integrity",
        "Refusing the archive: two of its entries share the same bytes (overlapping entries, a zip bomb?).",
        "The release archive is unsafe or corrupt; do not install it. Report it to the RunMat maintainers.",
      );
    }
  }
}

const ZIP_STORED = 0;
const ZIP_DEFLATED = 8;

/**
 * The streams that yield one entry's bytes. yauzl has already checked the central directory;
 * reading the data ourselves, in large reads through Node's inflater, is three times faster
 * than yauzl's small reads. The size checker stands in for yauzl's validateEntrySizes.
 */
async function zipEntryData(
  file: string,
  entry: ZipEntry,
): Promise<(NodeJS.ReadableStream | NodeJS.ReadWriteStream)[]> {
  const handle = await open(file, "r");
  const header = Buffer.alloc(30);
  try {
    await handle.read(header, 0, 30, entry.relativeOffsetOfLocalHeader);
  } finally {
    await handle.close();
  }
  if (header.readUInt32LE(0) !== 0x04034b50) throw new Error(`bad local header for entry ${entry.fileName}`);
  if (entry.compressionMethod !== ZIP_STORED && entry.compressionMethod !== ZIP_DEFLATED) {
    throw new Error(`unsupported compression method ${entry.compressionMethod}`);
  }
  if (entry.compressedSize === 0) {
    if (entry.uncompressedSize !== 0 || entry.crc32 !== 0)
      throw new Error(`entry ${entry.fileName} has no data`);
    return [Readable.from([])];
  }
  const start = entry.relativeOffsetOfLocalHeader + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
  const raw = createReadStream(file, {
    start,
    end: start + entry.compressedSize - 1,
    highWaterMark: 1024 * 1024,
  });
  const expected = entry.uncompressedSize;
  let seen = 0;
  let crc = 0;
  // The declared size and CRC-32 are checked as the bytes pass: an --archive without a checksum
  // file has no other check, and a damaged entry must not be installed.
  const sizeCheck = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      crc = crc32(chunk, crc);
      done(seen > expected ? new Error(`entry is larger than its declared ${expected} bytes`) : null, chunk);
    },
    flush(done) {
      if (seen !== expected) return done(new Error(`entry has ${seen} bytes, not its declared ${expected}`));
      done(crc !== entry.crc32 ? new Error(`entry ${entry.fileName} fails its CRC-32 check`) : null);
    },
  });
  return entry.compressionMethod === ZIP_DEFLATED
    ? [raw, createInflateRaw(LARGE_ZLIB_BUFFERS), sizeCheck]
    : [raw, sizeCheck];
}

export interface UnpackedRelease {
  /** The staging directory that holds the binary (the archive root, or one level down). */
  directory: string;
  /** File names inside `directory` to install: the binary first, then shared libraries. */
  files: string[];
}

/**
 * Finds the binary at the archive root or one directory down, with the libraries beside it.
 * Only regular files count (lstat, never following anything): a directory or anything else
 * named like a library is not installed.
 */
export async function locateRelease(staging: string, binaryName: string): Promise<UnpackedRelease> {
  const candidates = [staging];
  for (const entry of await readdir(staging, { withFileTypes: true })) {
    if (entry.isDirectory()) candidates.push(join(staging, entry.name));
  }
  for (const directory of candidates) {
    const binary = await lstat(join(directory, binaryName)).catch(() => null);
    if (!binary?.isFile()) continue;
    const libraries: string[] = [];
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      if (entry.isFile() && entry.name !== binaryName && isSharedLibrary(entry.name))
        libraries.push(entry.name);
    }
    return { directory, files: [binaryName, ...libraries.sort()] };
  }
  throw new InstallError(
    "integrity",
    `The archive does not contain ${binaryName} (looked at its root and one directory down).`,
    "This is not a RunMat release archive; check --archive, or report the broken release.",
  );
}

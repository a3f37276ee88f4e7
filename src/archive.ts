// Safe extraction of release archives into a staging directory. Every entry passes
// EntryGuard first; tar.gz streams through node-tar and zip through yauzl, so neither
// holds the archive in memory.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, stat, symlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Entry as ZipEntry, ZipFile } from "yauzl";
import {
  type ArchiveEntry,
  EntryGuard,
  type EntryType,
  type ExtractLimits,
  isSharedLibrary,
} from "./archive-policy.js";
import { InstallError, isAbortError } from "./errors.js";

export type ArchiveKind = "tar.gz" | "zip";

export function archiveKindOf(fileName: string): ArchiveKind | null {
  if (/\.(?:tar\.gz|tgz)$/i.test(fileName)) return "tar.gz";
  if (/\.zip$/i.test(fileName)) return "zip";
  return null;
}

const FILESYSTEM_CODES = new Set(["EACCES", "EPERM", "EROFS", "ENOSPC", "EFBIG", "EDQUOT", "EMFILE"]);

function corrupt(error: unknown, kind: ArchiveKind): unknown {
  if (error instanceof InstallError || isAbortError(error)) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code && FILESYSTEM_CODES.has(code)) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new InstallError(
    "integrity",
    `The ${kind} archive is corrupt and cannot be unpacked: ${detail}.`,
    "Run the installer again; if it keeps failing, the release asset is damaged — report it.",
    { cause: error },
  );
}

export async function extractArchive(
  file: string,
  kind: ArchiveKind,
  destination: string,
  signal: AbortSignal,
  limits?: ExtractLimits,
): Promise<void> {
  const guard = new EntryGuard(limits);
  try {
    if (kind === "tar.gz") await extractTar(file, destination, guard, signal);
    else await extractZip(file, destination, guard, signal);
  } catch (error) {
    throw corrupt(error, kind);
  }
}

const TAR_TYPES: Record<string, EntryType> = {
  File: "file",
  OldFile: "file",
  ContiguousFile: "file",
  Directory: "directory",
  SymbolicLink: "symlink",
  Link: "hardlink",
};

async function extractTar(file: string, destination: string, guard: EntryGuard, signal: AbortSignal) {
  const { Unpack } = await import("tar");
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      source.destroy();
      reject(error);
    };
    const unpack = new Unpack({
      cwd: destination,
      strict: true,
      // As root, tar would otherwise restore the archive's owner ids onto our files.
      preserveOwner: false,
      filter: (path, entry) => {
        if (failed) return false;
        const info = entry as { type?: string; size?: number; linkpath?: string };
        try {
          guard.check({
            name: path,
            type: TAR_TYPES[info.type ?? ""] ?? "other",
            size: info.size ?? 0,
            linkTarget: info.linkpath,
          });
          return true;
        } catch (error) {
          fail(error);
          return false;
        }
      },
    });
    const source = createReadStream(file, { highWaterMark: 1024 * 1024 });
    const onAbort = () => fail(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    unpack.on("error", fail);
    source.on("error", fail);
    unpack.on("close", () => {
      signal.removeEventListener("abort", onAbort);
      if (!failed) resolve();
    });
    source.pipe(unpack as unknown as NodeJS.WritableStream);
  });
}

function zipEntryType(entry: ZipEntry): EntryType {
  const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
  if (mode === 0o120000) return "symlink";
  if (mode !== 0 && mode !== 0o100000 && mode !== 0o040000) return "other";
  return (entry.fileName as unknown as Buffer).toString("utf8").endsWith("/") || mode === 0o040000
    ? "directory"
    : "file";
}

async function extractZip(file: string, destination: string, guard: EntryGuard, signal: AbortSignal) {
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
    const entries = await new Promise<ZipEntry[]>((resolve, reject) => {
      const all: ZipEntry[] = [];
      zip.on("entry", (entry: ZipEntry) => {
        all.push(entry);
        zip.readEntry();
      });
      zip.on("end", () => resolve(all));
      zip.on("error", reject);
      zip.readEntry();
    });
    // Check every entry, including declared sizes, before writing anything: a zip bomb stops here.
    const plan = entries.map((entry) => {
      const archiveEntry: ArchiveEntry = {
        name: (entry.fileName as unknown as Buffer).toString("utf8"),
        type: zipEntryType(entry),
        size: entry.uncompressedSize,
      };
      if (archiveEntry.type === "symlink") archiveEntry.linkTarget = "(pending)";
      return { entry, archiveEntry };
    });
    for (const { entry, archiveEntry } of plan) {
      if (signal.aborted) throw signal.reason;
      if (archiveEntry.type === "symlink") {
        archiveEntry.linkTarget = (await readZipEntry(zip, entry)).toString("utf8");
      }
      const path = guard.check(archiveEntry);
      const target = join(destination, path);
      if (archiveEntry.type === "directory") {
        await mkdir(target, { recursive: true });
        continue;
      }
      await mkdir(dirname(target), { recursive: true });
      if (archiveEntry.type === "symlink") {
        await symlink(archiveEntry.linkTarget!, target);
        continue;
      }
      const mode = (entry.externalFileAttributes >>> 16) & 0o777 || 0o644;
      const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) =>
        zip.openReadStream(entry, (error, readStream) => (error ? reject(error) : resolve(readStream))),
      );
      await pipeline(stream, createWriteStream(target, { mode }), { signal });
    }
  } finally {
    zip.close();
  }
}

function readZipEntry(zip: ZipFile, entry: ZipEntry): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    zip.openReadStream(entry, async (error, stream) => {
      if (error) return reject(error);
      const chunks: Buffer[] = [];
      try {
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        resolve(Buffer.concat(chunks).subarray(0, 4096));
      } catch (readError) {
        reject(readError);
      }
    }),
  );
}

export interface UnpackedRelease {
  /** The staging directory that holds the binary (the archive root, or one level down). */
  directory: string;
  /** File names inside `directory` to install: the binary first, then shared libraries. */
  files: string[];
}

/** Finds the binary at the archive root or one directory down, with the libraries beside it. */
export async function locateRelease(staging: string, binaryName: string): Promise<UnpackedRelease> {
  const candidates = [staging];
  for (const entry of await readdir(staging, { withFileTypes: true })) {
    if (entry.isDirectory()) candidates.push(join(staging, entry.name));
  }
  for (const directory of candidates) {
    const binary = await stat(join(directory, binaryName)).catch(() => null);
    if (!binary?.isFile()) continue;
    const names = await readdir(directory);
    const libraries = names.filter((name) => name !== binaryName && isSharedLibrary(name)).sort();
    return { directory, files: [binaryName, ...libraries] };
  }
  throw new InstallError(
    "integrity",
    `The archive does not contain ${binaryName} (looked at its root and one directory down).`,
    "This is not a RunMat release archive; check --archive, or report the broken release.",
  );
}

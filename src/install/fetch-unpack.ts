// Gets the archive's bytes, checks their SHA-256 and unpacks them into staging.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, rm, statfs } from "node:fs/promises";
import { join } from "node:path";
import {
  archiveKindOf,
  DamagedArchiveError,
  expansionAllowance,
  extractArchive,
  TarExtraction,
} from "../archive/extract.js";
import { ZipStreamExtraction } from "../archive/zip-stream.js";
import { InstallError } from "../errors.js";
import { type DownloadSink, download, openFileSink } from "../net/download.js";
import type { HttpClient } from "../net/http.js";
import type { ConnectionPlan } from "../options.js";
import type { Source } from "../release/resolve.js";
import type { InstallObserver } from "./types.js";

/** Where a download's time went, for --verbose and the bench. */
export interface FetchTiming {
  firstByteMs: number;
  /** From the first byte to the last. */
  transferMs: number;
  /** From the last byte until every file is unpacked: what the link does not hide. */
  tailMs: number;
}

/**
 * Returns the directory the archive was unpacked into, and, for a download, where the time went. A downloaded .tar.gz is unpacked while
 * it arrives, overlapping the two; the unpacked files are used only once the whole archive's
 * SHA-256 has matched, and are thrown away otherwise.
 */
export async function fetchAndUnpack(
  source: Source,
  staging: string,
  http: HttpClient | null,
  observer: InstallObserver,
  signal: AbortSignal,
  connections: ConnectionPlan,
): Promise<{ directory: string; timing: FetchTiming | null; sha256: string }> {
  const unpacked = join(staging, "unpacked");
  await mkdir(unpacked);
  const kind = archiveKindOf(source.assetName)!;
  if ("file" in source.location) {
    const sha256 = await hashFile(source.location.file);
    if (source.sha256) verifyChecksum(source, sha256);
    observer.unpacking(source.assetName);
    await extractArchive(source.location.file, kind, unpacked, signal);
    return { directory: unpacked, timing: null, sha256 };
  }
  const archive = join(staging, source.assetName);
  const spoolFits = kind === "zip" || (await roomForSpool(staging, source.location.size));
  if (!spoolFits) observer.debug("too little free disk for a spool beside the unpacked files: one stream");
  let tar = kind === "tar.gz" ? await TarExtraction.start(unpacked) : null;
  let damaged = false;
  const file = tar ? null : await openFileSink(archive);
  // A .zip unpacks while it arrives too, as far as its local headers allow; extractArchive keeps
  // that only when the central directory agrees.
  const startZip = () => new ZipStreamExtraction(unpacked, expansionAllowance);
  let zip = kind === "zip" ? startZip() : null;
  const sink: DownloadSink = tar
    ? {
        // A segmented download keeps its segments there until the unpacker has read them.
        spoolPath: `${archive}.part`,
        write: async (chunk) => {
          // Damaged bytes are most often damaged in transit: the download goes on to its end, so
          // that the checksum, not the unpacker, says what happened (tar.end() repeats the damage).
          if (damaged) return;
          await tar!.write(chunk).catch((error: unknown) => {
            if (!(error instanceof DamagedArchiveError)) throw error;
            damaged = true;
          });
        },
        restart: async () => {
          tar!.abort(new Error("the download restarted"));
          await tar!.settled();
          await rm(unpacked, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
          await mkdir(unpacked);
          tar = await TarExtraction.start(unpacked);
          damaged = false;
        },
      }
    : {
        spoolPath: file!.spoolPath,
        write: async (chunk, onDisk) => {
          await file!.write(chunk, onDisk);
          await zip?.write(chunk);
        },
        restart: async () => {
          await file!.restart();
          await zip?.close();
          await rm(unpacked, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
          await mkdir(unpacked);
          zip = startZip();
        },
      };
  const progress = await observer.downloading(source.assetName);
  const startedAt = Date.now();
  let firstByteMs = 0;
  let lastByteAt = 0;
  let sha256 = "";
  try {
    const result = await download(
      http!,
      source.location.url,
      source.location.size,
      progress.update,
      sink,
      spoolFits ? connections : { initial: 1, max: 1 },
    );
    lastByteAt = Date.now();
    firstByteMs = result.firstByteMs;
    sha256 = result.sha256;
    progress.done();
    verifyChecksum(source, sha256);
  } catch (error) {
    progress.fail();
    tar?.abort(error);
    await tar?.settled();
    await zip?.close();
    await file?.close().catch(() => {});
    throw error;
  } finally {
    await file?.close();
    if (tar) await rm(sink.spoolPath, { force: true });
  }
  if (tar) {
    await tar.end();
  } else {
    observer.unpacking(source.assetName);
    const { keptStreamed } = await extractArchive(
      archive,
      kind,
      unpacked,
      signal,
      undefined,
      zip ?? undefined,
    );
    if (zip) {
      observer.debug(
        keptStreamed
          ? "the .zip was unpacked while it arrived, and its central directory agrees"
          : `the .zip was unpacked from the file after the download (${zip.steppedAside ?? "its central directory differs from its local headers"})`,
      );
    }
  }
  const timing = {
    firstByteMs,
    transferMs: lastByteAt - startedAt - firstByteMs,
    tailMs: Date.now() - lastByteAt,
  };
  return { directory: unpacked, timing, sha256 };
}

/**
 * A segmented .tar.gz keeps the whole archive in a spool beside what it unpacks, which a one-stream
 * download does not: segments only where the disk has room for the archive four times over (the
 * spool, and files that RunMat's archives unpack to about three times their size).
 */
async function roomForSpool(staging: string, size: number | undefined): Promise<boolean> {
  if (size === undefined) return true;
  const free = await statfs(staging).then(
    ({ bavail, bsize }) => bavail * bsize,
    () => Number.POSITIVE_INFINITY,
  );
  return free >= 4 * size;
}

function verifyChecksum(source: Source, actual: string): void {
  if (source.sha256 && source.sha256 !== actual) {
    throw new InstallError(
      "integrity",
      `Checksum mismatch for ${source.assetName}: expected ${source.sha256}, got ${actual}.`,
      "The download was corrupted or tampered with, and nothing was installed. Run again; if it repeats, report it.",
    );
  }
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

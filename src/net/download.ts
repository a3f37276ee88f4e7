// Streams a release asset into a sink (a staging file, or the tar unpacker directly),
// hashing as it goes, and resumes with Range after a transient failure when the server allows.
import { createHash, type Hash } from "node:crypto";
import { open } from "node:fs/promises";
import { SEGMENT_BYTES, SEGMENTED_MIN_BYTES } from "../contract.js";
import { InstallError, toInstallError } from "../errors.js";
import {
  type HttpClient,
  HttpStatusError,
  openUrl,
  startsLikeWebPage,
  webPageAnswer,
  webPageError,
  withRetries,
} from "./http.js";

export interface DownloadResult {
  sha256: string;
  bytes: number;
}

export type ProgressListener = (received: number, total: number | undefined) => void;

/** Where the bytes go, in order. */
export interface DownloadSink {
  write(chunk: Buffer): Promise<void>;
  /** The download starts again from byte 0: forget everything written so far. */
  restart(): Promise<void>;
}

/** A sink that writes a file; close it when the download is over, however it ended. */
export async function openFileSink(path: string): Promise<DownloadSink & { close(): Promise<void> }> {
  const handle = await open(path, "w", 0o600);
  let position = 0;
  return {
    write: async (chunk) => {
      await handle.write(chunk, 0, chunk.length, position);
      position += chunk.length;
    },
    restart: async () => {
      position = 0;
      await handle.truncate(0);
    },
    close: () => handle.close(),
  };
}

/** With no size declared by the release, no asset may be larger than this. */
export const MAX_UNDECLARED_BYTES = 1024 ** 3;

/**
 * How long a whole download may take: 30 times the stall timeout (15 minutes by default), plus
 * one second per 10 KiB of the declared size. A body that trickles a byte a second never stalls,
 * so only this ends it.
 */
export function downloadDeadlineMs(stallTimeoutMs: number, size: number | undefined): number {
  return 30 * stallTimeoutMs + Math.ceil((size ?? 0) / 10_240) * 1000;
}

/**
 * Downloads `url` into `sink`, hashing in byte order. With `connections` > 1 and an asset of at
 * least SEGMENTED_MIN_BYTES, it asks for segments over several connections at once when the
 * server shows that it honours Range; otherwise, or when the server stops honouring it, it
 * falls back to one stream.
 */
export async function download(
  client: HttpClient,
  url: URL,
  expectedSize: number | undefined,
  onProgress: ProgressListener,
  sink: DownloadSink,
  connections = 1,
): Promise<DownloadResult> {
  if (connections > 1 && expectedSize !== undefined && expectedSize >= SEGMENTED_MIN_BYTES) {
    const segmented = await downloadSegments(client, url, expectedSize, onProgress, sink, connections);
    if (segmented) return segmented;
    client.settings.debug("the server does not honour Range consistently: one stream instead");
    await sink.restart();
  }
  return downloadStream(client, url, expectedSize, onProgress, sink);
}

/**
 * The server stopped honouring Range (a 200, a wrong Content-Range, another ETag): use one
 * stream. An InstallError, so that withRetries never retries it.
 */
class RangeDeclined extends InstallError {
  constructor() {
    super("network", "The server does not honour Range requests consistently.", "");
  }
}

function validatorOf(headers: Record<string, string | string[] | undefined>): string | undefined {
  const value = headers.etag ?? headers["last-modified"];
  return typeof value === "string" ? value : undefined;
}

function contentRange(headers: Record<string, string | string[] | undefined>) {
  const value = headers["content-range"];
  const match = typeof value === "string" ? /^bytes (\d+)-(\d+)\/(\d+)$/.exec(value) : null;
  return match ? { start: Number(match[1]), end: Number(match[2]), total: Number(match[3]) } : null;
}

/**
 * Segments over `connections` connections, handed to the sink in byte order as soon as the
 * contiguous prefix grows (so a .tar.gz still unpacks while it arrives); at most
 * `connections` * 2 segments are held in memory. Returns null when the server declines Range.
 */
async function downloadSegments(
  client: HttpClient,
  url: URL,
  size: number,
  onProgress: ProgressListener,
  sink: DownloadSink,
  connections: number,
): Promise<DownloadResult | null> {
  const name = url.pathname.split("/").pop();
  const deadlineMs = downloadDeadlineMs(client.settings.timeoutMs, size);
  const deadline = Date.now() + deadlineMs;
  const count = Math.ceil(size / SEGMENT_BYTES);
  const window = connections * 2;
  const stop = new AbortController();
  const signal = AbortSignal.any([client.settings.signal, stop.signal]);
  const hash = createHash("sha256");
  const finished = new Map<number, Buffer>();
  let next = 0;
  let claimed = 0;
  let written = 0;
  // Bytes received on every connection, in or out of order: what the progress line counts, so
  // it moves as they arrive rather than in steps of a whole segment.
  let arrived = 0;
  let failure: unknown = null;
  let validator: string | undefined;
  // Segments go to the asset host the first answer came from (a signed URL); an expired one
  // sends them back through the original URL.
  let target = url;
  let feeding: Promise<void> = Promise.resolve();
  const waiting: (() => void)[] = [];
  const progressed = () => {
    for (const wake of waiting.splice(0)) wake();
  };

  const feed = async () => {
    while (finished.has(next)) {
      const data = finished.get(next)!;
      finished.delete(next);
      hash.update(data);
      written += data.length;
      await sink.write(data).catch((error: unknown) => {
        throw toInstallError(error);
      });
      next += 1;
      progressed();
    }
  };

  const fetchSegment = async (index: number): Promise<Buffer> => {
    const start = index * SEGMENT_BYTES;
    const end = Math.min(size, start + SEGMENT_BYTES) - 1;
    const parts: Buffer[] = [];
    let have = 0;
    await withRetries(client, `Download of ${name}`, url, async () => {
      const headers: Record<string, string> = {
        accept: "application/octet-stream",
        range: `bytes=${start + have}-${end}`,
      };
      const response = await openUrl(client, target, headers, { signal });
      const page = webPageAnswer(`Download of ${name}`, response, "the release archive");
      if (page) {
        await response.body.dump();
        throw page;
      }
      if (response.statusCode === 403 && target !== url) {
        // A signed URL that expired: the next attempt gets a fresh one.
        await response.body.dump();
        target = url;
        throw new Error("the signed download URL expired");
      }
      const range = contentRange(response.headers);
      if (index === 0 && have === 0 && response.statusCode === 206 && range) {
        if (range.total !== size) {
          await response.body.dump();
          throw new InstallError(
            "integrity",
            `The server says ${name} has ${range.total} bytes, but the release declares ${size}.`,
            "The download is not the release asset (a broken mirror or proxy?); nothing was installed. Report it if it repeats.",
          );
        }
        validator = validatorOf(response.headers);
        target = response.url;
      }
      if (
        response.statusCode !== 206 ||
        !range ||
        range.start !== start + have ||
        range.end !== end ||
        range.total !== size ||
        validatorOf(response.headers) !== validator
      ) {
        await response.body.dump();
        if (response.statusCode >= 500)
          throw new HttpStatusError(response.statusCode, response.url, response.headers);
        throw new RangeDeclined();
      }
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        if (start + have === 0 && startsLikeWebPage(chunk)) {
          throw webPageError(`Download of ${name}`, response.url, "the release archive", response.statusCode);
        }
        if (start + have + chunk.length > end + 1) throw new RangeDeclined();
        if (Date.now() > deadline) {
          throw tooSlow(name, deadlineMs);
        }
        parts.push(chunk);
        have += chunk.length;
        arrived += chunk.length;
        onProgress(Math.min(arrived, size), size);
      }
      if (start + have < end + 1) throw new Error(`segment cut short after ${have} bytes`);
    });
    return Buffer.concat(parts);
  };

  const worker = async () => {
    while (failure === null && claimed < count) {
      // Never more than `window` segments ahead of what the sink has taken: memory stays bounded.
      while (claimed >= next + window && failure === null) {
        await new Promise<void>((resolve) => waiting.push(resolve));
      }
      if (failure !== null || claimed >= count) return;
      const index = claimed++;
      try {
        finished.set(index, await fetchSegment(index));
        feeding = feeding.then(feed);
        await feeding;
      } catch (error) {
        failure ??= error;
        stop.abort();
        progressed();
      }
    }
  };

  try {
    // The first segment alone: its answer says whether the server honours Range at all.
    claimed = 1;
    finished.set(0, await fetchSegment(0));
    feeding = feeding.then(feed);
    await feeding;
    await Promise.all(Array.from({ length: connections }, worker));
    if (failure !== null) throw failure;
  } catch (error) {
    stop.abort();
    if (client.settings.signal.aborted) throw client.settings.signal.reason ?? error;
    if (error instanceof RangeDeclined) return null;
    if (error instanceof HttpStatusError && error.statusCode === 404) throw notFound(url);
    throw error;
  }
  return { sha256: hash.digest("hex"), bytes: written };
}

function tooSlow(name: string | undefined, deadlineMs: number): InstallError {
  return new InstallError(
    "network",
    `The download of ${name} took longer than ${Math.round(deadlineMs / 1000)} s (the server sends too slowly).`,
    "Try again later or on another network; a larger --timeout allows longer downloads.",
  );
}

function notFound(url: URL): InstallError {
  return new InstallError(
    "network",
    `The release asset was not found (HTTP 404): ${url.href}`,
    "The release may have been edited or removed; try again, or pick another version.",
  );
}

async function downloadStream(
  client: HttpClient,
  url: URL,
  expectedSize: number | undefined,
  onProgress: ProgressListener,
  sink: DownloadSink,
): Promise<DownloadResult> {
  const name = url.pathname.split("/").pop();
  const limit = expectedSize ?? MAX_UNDECLARED_BYTES;
  const deadlineMs = downloadDeadlineMs(client.settings.timeoutMs, expectedSize);
  const deadline = Date.now() + deadlineMs;
  let hash: Hash = createHash("sha256");
  let written = 0;
  let total = expectedSize;
  const restart = async () => {
    written = 0;
    hash = createHash("sha256");
    await sink.restart();
  };
  try {
    await withRetries(client, `Download of ${name}`, url, async () => {
      const headers: Record<string, string> = { accept: "application/octet-stream" };
      if (written > 0) headers.range = `bytes=${written}-`;
      const response = await openUrl(client, url, headers);
      const page = webPageAnswer(`Download of ${name}`, response, "the release archive");
      if (page) {
        await response.body.dump();
        throw page;
      }
      const resumed =
        written > 0 && response.statusCode === 206 && contentRangeStart(response.headers) === written;
      if (response.statusCode !== 200 && !resumed) {
        await response.body.dump();
        if (response.statusCode === 206 || response.statusCode === 416) {
          // The server answered our Range with something we cannot append to: start over.
          await restart();
          throw new Error("server rejected the resume request");
        }
        throw new HttpStatusError(response.statusCode, response.url, response.headers);
      }
      // Range ignored (a plain 200): the body starts again from byte 0.
      if (!resumed && written > 0) await restart();
      const length = Number(response.headers["content-length"]);
      if (total === undefined && Number.isFinite(length)) total = written + length;
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        if (written === 0 && startsLikeWebPage(chunk)) {
          throw webPageError(`Download of ${name}`, response.url, "the release archive", response.statusCode);
        }
        // Neither is worth a retry: a server that sends too much or too slowly will again.
        if (written + chunk.length > limit) {
          throw new InstallError(
            "integrity",
            expectedSize === undefined
              ? `The server sent more than ${limit} bytes for ${name}, which declares no size.`
              : `The server sent more than the ${expectedSize} bytes the release declares for ${name}.`,
            "The download is not the release asset (a broken mirror or proxy?); nothing was installed. Report it if it repeats.",
          );
        }
        if (Date.now() > deadline) {
          throw tooSlow(name, deadlineMs);
        }
        hash.update(chunk);
        written += chunk.length;
        // A sink that cannot take the bytes (disk full, unsafe archive) is not worth a retry.
        await sink.write(chunk).catch((error: unknown) => {
          throw toInstallError(error);
        });
        onProgress(written, total);
      }
      if (total !== undefined && written < total) {
        throw new Error(`connection closed after ${written} of ${total} bytes`);
      }
    });
  } catch (error) {
    if (error instanceof HttpStatusError && error.statusCode === 404) throw notFound(url);
    if (error instanceof HttpStatusError) {
      throw new InstallError(
        "network",
        `Downloading ${url.href} failed with HTTP ${error.statusCode}.`,
        "Check your network or proxy, then run the installer again.",
      );
    }
    throw error;
  }
  if (expectedSize !== undefined && written !== expectedSize) {
    throw new InstallError(
      "integrity",
      `Downloaded ${written} bytes, but the release says the asset has ${expectedSize}.`,
      "The download was corrupted in transit or the release changed; run the installer again.",
    );
  }
  return { sha256: hash.digest("hex"), bytes: written };
}

function contentRangeStart(headers: Record<string, string | string[] | undefined>): number | undefined {
  const value = headers["content-range"];
  const match = typeof value === "string" ? /^bytes (\d+)-/.exec(value) : null;
  return match ? Number(match[1]) : undefined;
}

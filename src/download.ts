// Streams a release asset into a sink (a staging file, or the tar unpacker directly),
// hashing as it goes, and resumes with Range after a transient failure when the server allows.
import { createHash, type Hash } from "node:crypto";
import { open } from "node:fs/promises";
import { InstallError, toInstallError } from "./errors.js";
import { type HttpClient, HttpStatusError, openUrl, withRetries } from "./http.js";

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

export async function download(
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
          throw new InstallError(
            "network",
            `The download of ${name} took longer than ${Math.round(deadlineMs / 1000)} s (the server sends too slowly).`,
            "Try again later or on another network; a larger --timeout allows longer downloads.",
          );
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
    if (error instanceof HttpStatusError && error.statusCode === 404) {
      throw new InstallError(
        "network",
        `The release asset was not found (HTTP 404): ${url.href}`,
        "The release may have been edited or removed; try again, or pick another version.",
      );
    }
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

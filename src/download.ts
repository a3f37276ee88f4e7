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

export async function download(
  client: HttpClient,
  url: URL,
  expectedSize: number | undefined,
  onProgress: ProgressListener,
  sink: DownloadSink,
): Promise<DownloadResult> {
  let hash: Hash = createHash("sha256");
  let written = 0;
  let total = expectedSize;
  const restart = async () => {
    written = 0;
    hash = createHash("sha256");
    await sink.restart();
  };
  try {
    await withRetries(client, `Download of ${url.pathname.split("/").pop()}`, url, async () => {
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

// Streams a release asset to a staging file, hashing as it goes, resuming with Range after a
// transient failure when the server allows it.
import { createHash, type Hash } from "node:crypto";
import { open } from "node:fs/promises";
import { InstallError } from "./errors.js";
import { type HttpClient, HttpStatusError, openUrl, withRetries } from "./http.js";

export interface DownloadResult {
  sha256: string;
  bytes: number;
}

export type ProgressListener = (received: number, total: number | undefined) => void;

export async function downloadToFile(
  client: HttpClient,
  url: URL,
  file: string,
  expectedSize: number | undefined,
  onProgress: ProgressListener,
): Promise<DownloadResult> {
  const handle = await open(file, "w", 0o600);
  let hash: Hash = createHash("sha256");
  let written = 0;
  let total = expectedSize;
  try {
    await withRetries(client, `Download of ${url.pathname.split("/").pop()}`, async () => {
      const headers: Record<string, string> = { accept: "application/octet-stream" };
      if (written > 0) headers.range = `bytes=${written}-`;
      const response = await openUrl(client, url, headers);
      const resumed =
        written > 0 && response.statusCode === 206 && contentRangeStart(response.headers) === written;
      if (response.statusCode !== 200 && !resumed) {
        await response.body.dump();
        if (response.statusCode === 206 || response.statusCode === 416) {
          // The server answered our Range with something we cannot append to: start over.
          written = 0;
          hash = createHash("sha256");
          await handle.truncate(0);
          throw new Error("server rejected the resume request");
        }
        throw new HttpStatusError(response.statusCode, response.url, response.headers);
      }
      if (!resumed && written > 0) {
        // Range ignored (a plain 200): the body starts again from byte 0.
        written = 0;
        hash = createHash("sha256");
        await handle.truncate(0);
      }
      const length = Number(response.headers["content-length"]);
      if (total === undefined && Number.isFinite(length)) total = written + length;
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        await handle.write(chunk, 0, chunk.length, written);
        hash.update(chunk);
        written += chunk.length;
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
  } finally {
    await handle.close();
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

// Streams a release asset into a sink (a staging file, or the tar unpacker directly),
// hashing as it goes, and resumes with Range after a transient failure when the server allows.
import { createHash, type Hash } from "node:crypto";
import { open } from "node:fs/promises";
import { SEGMENT_BYTES, SEGMENTED_MIN_BYTES } from "../contract.js";
import { InstallError, toInstallError } from "../errors.js";
import type { ConnectionPlan } from "../options.js";
import { sleep } from "../sleep.js";
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
  /** From the first request to the first byte of the body. */
  firstByteMs: number;
}

export type ProgressListener = (received: number, total: number | undefined) => void;

/** Where the bytes go, in order. */
export interface DownloadSink {
  /** `onDisk`: the chunk is already in the spool file at its offset. */
  write(chunk: Buffer, onDisk: boolean): Promise<void>;
  /** The download starts again from byte 0: forget everything written so far. */
  restart(): Promise<void>;
  /**
   * The file a segmented download writes segments into at their offsets: the sink's own file,
   * or scratch space beside what it writes.
   */
  readonly spoolPath: string;
}

/** What a file sink, or a segment into the spool, gathers before it writes: one large write instead of many 64 KiB ones. */
const WRITE_BATCH_BYTES = 1024 ** 2;

/** A sink that writes a file; close it when the download is over, however it ended. */
export async function openFileSink(path: string): Promise<DownloadSink & { close(): Promise<void> }> {
  const handle = await open(path, "w", 0o600);
  let position = 0;
  let batch: Buffer[] = [];
  let batched = 0;
  let closed = false;
  const flush = async () => {
    if (batched === 0) return;
    const data = Buffer.concat(batch, batched);
    batch = [];
    batched = 0;
    await handle.write(data, 0, data.length, position);
    position += data.length;
  };
  return {
    spoolPath: path,
    write: async (chunk, onDisk) => {
      if (onDisk) {
        position += chunk.length;
        return;
      }
      batch.push(chunk);
      batched += chunk.length;
      if (batched >= WRITE_BATCH_BYTES) await flush();
    },
    restart: async () => {
      position = 0;
      batch = [];
      batched = 0;
      await handle.truncate(0);
    },
    // Idempotent: a failed download closes it without caring whether the last bytes got down.
    close: async () => {
      if (closed) return;
      closed = true;
      try {
        await flush();
      } finally {
        await handle.close();
      }
    },
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
 * Downloads `url` into `sink`, hashing in byte order. With more than one connection planned and
 * an asset of at least SEGMENTED_MIN_BYTES, it asks for segments over several connections at
 * once when the server shows that it honours Range; otherwise, or when the server stops
 * honouring it, it falls back to one stream.
 */
export async function download(
  client: HttpClient,
  url: URL,
  expectedSize: number | undefined,
  onProgress: ProgressListener,
  sink: DownloadSink,
  connections: ConnectionPlan = { initial: 1, max: 1 },
): Promise<DownloadResult> {
  if (connections.initial > 1 && expectedSize !== undefined && expectedSize >= SEGMENTED_MIN_BYTES) {
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

/** The most the follower reads from the spool at once. */
const FOLLOW_BYTES = 2 * 1024 ** 2;
/** How long the total rate is measured before connections are added, and again after. */
const PROBE_MS = 400;
/** Added connections must raise the total rate by this much to stay. */
const GROWTH_THAT_PAYS = 1.2;
/** Connections added at a time. */
const LANE_STEP = 2;

/**
 * One step of growing a segmented download, from the total rate measured with `lanes`
 * connections and, before the last step, with fewer: add more while the rate rises by a fifth,
 * go back a step when it did not, stop at the plan's maximum.
 */
export function nextLaneCount(
  plan: ConnectionPlan,
  lanes: number,
  rate: number,
  previousRate: number | null,
): { lanes: number; settled: boolean } {
  if (previousRate !== null && rate < previousRate * GROWTH_THAT_PAYS) {
    return { lanes: Math.max(plan.initial, lanes - LANE_STEP), settled: true };
  }
  if (lanes >= plan.max) return { lanes, settled: true };
  return { lanes: Math.min(plan.max, lanes + LANE_STEP), settled: false };
}

/**
 * Segments over several connections ("lanes"), written at their offsets into the sink's spool
 * file, so that memory never holds more than the chunks in flight. The SHA-256 and the sink
 * follow the contiguous prefix from that file as it grows (so a .tar.gz still unpacks while it
 * arrives). Each lane asks for its next segment just before its current one ends, so no lane
 * idles for the server's first byte; lanes are added, up to `plan.max`, while that still raises
 * the total rate. Returns null when the server declines Range.
 */
async function downloadSegments(
  client: HttpClient,
  url: URL,
  size: number,
  onProgress: ProgressListener,
  sink: DownloadSink,
  plan: ConnectionPlan,
): Promise<DownloadResult | null> {
  const name = url.pathname.split("/").pop();
  const debug = client.settings.debug;
  const deadlineMs = downloadDeadlineMs(client.settings.timeoutMs, size);
  const startedAt = Date.now();
  const deadline = startedAt + deadlineMs;
  const count = Math.ceil(size / SEGMENT_BYTES);
  const segmentEnd = (index: number) => Math.min(size, (index + 1) * SEGMENT_BYTES);
  const stop = new AbortController();
  const signal = AbortSignal.any([client.settings.signal, stop.signal]);
  const hash = createHash("sha256");
  const spool = await open(sink.spoolPath, "w+", 0o600);
  /** Bytes on disk from each segment's start, contiguous. */
  const received = new Float64Array(count);
  let claimed = 0;
  let fed = 0;
  // Bytes received on every connection, in or out of order: what the progress line counts, so
  // it moves as they arrive rather than in steps of a whole segment.
  let arrived = 0;
  let failure: unknown = null;
  let validator: string | undefined;
  // Set from the first answer's headers: the others start then, not when its body ends.
  let confirmRange!: (honoured: boolean) => void;
  const rangeHonoured = new Promise<boolean>((resolve) => {
    confirmRange = resolve;
  });
  // How long the server takes to the first byte of a segment: a lane asks for its next segment
  // that long before its current one ends.
  let firstByteMs = 0;
  let firstByteAt = 0;
  let laneTarget = plan.initial;
  // Requests open at once: never more than plan.max, so a lane asks early only while there is room.
  let requestsOpen = 0;
  // Segments go to the asset host the first answer came from (a signed URL); an expired one
  // sends them back through the original URL.
  let target = url;
  const waiting: (() => void)[] = [];
  const progressed = () => {
    for (const wake of waiting.splice(0)) wake();
  };
  const fail = (error: unknown) => {
    failure ??= error;
    confirmRange(false);
    stop.abort();
    progressed();
  };

  /** Where the contiguous prefix of the asset ends, as far as the spool holds it. */
  const prefixEnd = () => {
    let index = Math.floor(fed / SEGMENT_BYTES);
    while (index < count && index * SEGMENT_BYTES + received[index] === segmentEnd(index)) index++;
    return index < count ? index * SEGMENT_BYTES + received[index] : size;
  };

  /** Hashes the prefix, in order, and hands it to the sink, until the whole asset has passed. */
  const follow = async () => {
    while (fed < size && failure === null) {
      const end = prefixEnd();
      if (end === fed) {
        await new Promise<void>((resolve) => waiting.push(resolve));
        continue;
      }
      // A buffer of its own each time: the sink may keep it.
      const buffer = Buffer.allocUnsafe(Math.min(FOLLOW_BYTES, end - fed));
      const { bytesRead } = await spool.read(buffer, 0, buffer.length, fed);
      const chunk = buffer.subarray(0, bytesRead);
      if (fed === 0 && startsLikeWebPage(chunk)) {
        throw webPageError(`Download of ${name}`, target, "the release archive", 206);
      }
      hash.update(chunk);
      fed += bytesRead;
      await sink.write(chunk, true).catch((error: unknown) => {
        throw toInstallError(error);
      });
    }
  };

  const fetchSegment = async (index: number, nearEnd: () => void): Promise<void> => {
    const start = index * SEGMENT_BYTES;
    const end = segmentEnd(index) - 1;
    await withRetries(client, `Download of ${name}`, url, async () => {
      const from = start + received[index];
      const headers: Record<string, string> = {
        accept: "application/octet-stream",
        range: `bytes=${from}-${end}`,
      };
      const asked = Date.now();
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
      if (index === 0 && from === 0 && response.statusCode === 206 && range) {
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
        range.start !== from ||
        range.end !== end ||
        range.total !== size ||
        validatorOf(response.headers) !== validator
      ) {
        await response.body.dump();
        if (response.statusCode >= 500)
          throw new HttpStatusError(response.statusCode, response.url, response.headers);
        throw new RangeDeclined();
      }
      if (index === 0) confirmRange(true);
      // Written in large pieces; `received` counts only what is on disk, so a resume starts there.
      let batch: Buffer[] = [];
      let batched = 0;
      const writeBatch = async () => {
        if (batched === 0) return;
        const data = Buffer.concat(batch, batched);
        const at = start + received[index];
        batch = [];
        batched = 0;
        await spool.write(data, 0, data.length, at).catch((error: unknown) => {
          throw toInstallError(error);
        });
        received[index] += data.length;
        progressed();
      };
      let firstChunkAt = 0;
      let streamed = 0;
      let announced = false;
      try {
        for await (const chunk of response.body as AsyncIterable<Buffer>) {
          const now = Date.now();
          if (firstChunkAt === 0) {
            firstChunkAt = now;
            firstByteMs = Math.max(firstByteMs, now - asked);
            firstByteAt ||= now;
          }
          const at = start + received[index] + batched;
          if (at + chunk.length > end + 1) throw new RangeDeclined();
          if (now > deadline) throw tooSlow(name, deadlineMs);
          batch.push(chunk);
          batched += chunk.length;
          if (batched >= WRITE_BATCH_BYTES) await writeBatch();
          streamed += chunk.length;
          arrived += chunk.length;
          onProgress(Math.min(arrived, size), size);
          // Near the end (as long as the server takes to its first byte, at this lane's rate):
          // time for the lane's next request.
          const left = end + 1 - (at + chunk.length);
          const elapsed = now - firstChunkAt;
          if (!announced && elapsed > 0 && (left * elapsed) / streamed <= firstByteMs) {
            announced = true;
            nearEnd();
          }
        }
      } catch (error) {
        // What did arrive is kept, so that the retry resumes after it.
        await writeBatch().catch(() => {});
        throw error;
      }
      await writeBatch();
      if (start + received[index] < end + 1)
        throw new Error(`segment cut short after ${received[index]} bytes`);
    });
  };

  /**
   * Waits until fewer than plan.max requests are open, then counts one more: a lane added while
   * others still ask early must not take the total past the maximum. False once the download failed.
   */
  const takeRequestSlot = async (): Promise<boolean> => {
    while (requestsOpen >= plan.max) {
      if (failure !== null) return false;
      await new Promise<void>((resolve) => waiting.push(resolve));
    }
    requestsOpen += 1;
    return true;
  };

  /** Claims the lowest segment nobody has asked for yet. */
  const claim = (): number | null => (failure === null && claimed < count ? claimed++ : null);

  /** One connection's worth of segments: at most two requests at a time, the second asked just before the first ends. */
  const lane = async (id: number, first: number | null) => {
    let previous: Promise<void> | null = null;
    let index = first ?? claim();
    try {
      while (index !== null) {
        let nearEnd!: () => void;
        const near = new Promise<void>((resolve) => {
          nearEnd = resolve;
        });
        if (!(await takeRequestSlot())) break;
        const current = fetchSegment(index, nearEnd).finally(() => {
          requestsOpen -= 1;
          progressed();
        });
        current.catch(fail);
        if (previous) await previous;
        await Promise.race([near, current]);
        if (requestsOpen >= plan.max) await current;
        previous = current;
        index = id < laneTarget ? claim() : null;
      }
      if (previous) await previous;
    } catch (error) {
      fail(error);
    }
  };

  /**
   * Adds lanes while the total rate rises with them: a CDN that caps each connection gives more
   * to more connections; a link that one connection already fills does not, and keeps the start.
   */
  const grow = async (running: Promise<void>[]) => {
    /** Waits one probe; false when the download ended first. */
    const probe = async () => {
      const stopProbe = new AbortController();
      const ended = await Promise.race([
        sleep(PROBE_MS, AbortSignal.any([signal, stopProbe.signal])).then(
          () => false,
          () => true,
        ),
        Promise.all(running).then(() => true),
      ]);
      stopProbe.abort();
      return !ended && failure === null && claimed < count;
    };
    if (plan.max <= laneTarget) return;
    // The first probe is the lanes getting up to speed (connections, first bytes): not measured.
    if (!(await probe())) return;
    let previousRate: number | null = null;
    for (;;) {
      const before = arrived;
      const from = Date.now();
      if (!(await probe())) return;
      const rate = (arrived - before) / (Date.now() - from);
      const next = nextLaneCount(plan, laneTarget, rate, previousRate);
      for (let id = laneTarget; id < next.lanes; id++) running.push(lane(id, null));
      if (next.lanes !== laneTarget) {
        debug(
          `download: ${next.lanes} connections (${Math.round((rate * 1000) / 1e6)} MB/s with ${laneTarget}${next.lanes < laneTarget ? ", no more than with fewer" : ""})`,
        );
      }
      laneTarget = next.lanes;
      if (next.settled) return;
      previousRate = rate;
    }
  };

  const follower = follow().catch(fail);
  try {
    const running = [lane(0, claim())];
    if (await rangeHonoured) {
      debug(`download: first byte after ${firstByteMs} ms; ${laneTarget} connections`);
      for (let id = 1; id < laneTarget; id++) running.push(lane(id, null));
      await grow(running);
    }
    while (running.length > 0) await running.shift();
    await follower;
    if (failure !== null) throw failure;
  } catch (error) {
    stop.abort();
    await follower;
    if (client.settings.signal.aborted) throw client.settings.signal.reason ?? error;
    if (error instanceof RangeDeclined) return null;
    if (error instanceof HttpStatusError && error.statusCode === 404) throw notFound(url);
    throw error;
  } finally {
    await spool.close();
  }
  debug(`download: ${laneTarget} connections at the end; ${size} bytes in ${Date.now() - startedAt} ms`);
  return { sha256: hash.digest("hex"), bytes: fed, firstByteMs: firstByteAt - startedAt };
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
  const startedAt = Date.now();
  const deadline = startedAt + deadlineMs;
  let firstByteAt = 0;
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
        firstByteAt ||= Date.now();
        hash.update(chunk);
        written += chunk.length;
        // A sink that cannot take the bytes (disk full, unsafe archive) is not worth a retry.
        await sink.write(chunk, false).catch((error: unknown) => {
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
  return { sha256: hash.digest("hex"), bytes: written, firstByteMs: firstByteAt - startedAt };
}

function contentRangeStart(headers: Record<string, string | string[] | undefined>): number | undefined {
  const value = headers["content-range"];
  const match = typeof value === "string" ? /^bytes (\d+)-/.exec(value) : null;
  return match ? Number(match[1]) : undefined;
}

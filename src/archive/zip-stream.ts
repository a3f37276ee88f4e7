// Unpacks a .zip while it downloads, from its local headers in file order. It is only a head
// start: nothing it writes counts until the central directory at the end (read by
// extract.ts once the whole archive is on disk) names exactly the same entries at the same
// offsets, with the same sizes and CRC-32s. Anything it cannot follow (a data descriptor,
// ZIP64 sizes, another method, an unsafe name) makes it step aside, and the archive is
// unpacked from the file as before.
import { once } from "node:events";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { crc32, createInflateRaw, type InflateRaw } from "node:zlib";
import { LARGE_ZLIB_BUFFERS } from "./extract.js";
import { EntryGuard } from "./policy.js";

/** What the stream saw of one entry: compared field by field with the central directory. */
export interface StreamedEntry {
  offset: number;
  name: Buffer;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  /** Its path under the destination, as EntryGuard normalised it. */
  path: string;
  isDirectory: boolean;
}

const LOCAL_HEADER = 0x04034b50;
const CENTRAL_HEADER = 0x02014b50;
const LOCAL_HEADER_BYTES = 30;
const FLAG_ENCRYPTED = 0x1;
const FLAG_DATA_DESCRIPTOR = 0x8;
const STORED = 0;
const DEFLATED = 8;

/** The data of one entry being written: through the inflater when deflated, checked as it goes. */
class EntryWriter {
  private readonly inflate: InflateRaw | null;
  private readonly file: WriteStream;
  private readonly done: Promise<unknown>;
  private failure: unknown = null;
  private written = 0;
  private crc = 0;

  constructor(
    target: string,
    private readonly entry: StreamedEntry,
  ) {
    // Private until the central directory gives the entry its mode.
    this.file = createWriteStream(target, { mode: 0o600, flags: "wx", highWaterMark: 4 * 1024 ** 2 });
    this.inflate = entry.method === DEFLATED ? createInflateRaw(LARGE_ZLIB_BUFFERS) : null;
    this.done = once(this.file, "close");
    this.done.catch(() => {}); // observed through write() and end()
    this.file.on("error", (error) => this.fail(error));
    if (this.inflate) {
      this.inflate.on("error", (error) => this.fail(error));
      this.inflate.on("data", (chunk: Buffer) => this.toFile(chunk));
      this.inflate.on("end", () => this.file.end());
      // The inflater pauses while the file catches up (see toFile).
      this.file.on("drain", () => this.inflate?.resume());
    }
  }

  /** Resolves once the file is closed, however it ended. */
  closed(): Promise<void> {
    return this.done.then(
      () => {},
      () => {},
    );
  }

  private fail(error: unknown) {
    this.failure ??= error;
    this.inflate?.destroy();
    this.file.destroy();
  }

  private toFile(chunk: Buffer) {
    this.written += chunk.length;
    this.crc = crc32(chunk, this.crc);
    if (this.written > this.entry.uncompressedSize) return this.fail(new Error("entry larger than declared"));
    if (!this.file.write(chunk)) this.inflate?.pause();
  }

  async write(data: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.inflate) {
      if (!this.inflate.write(data)) await Promise.race([once(this.inflate, "drain"), this.done]);
    } else {
      this.toFile(data);
      if (this.file.writableNeedDrain) await Promise.race([once(this.file, "drain"), this.done]);
    }
    if (this.failure) throw this.failure;
  }

  async end(): Promise<void> {
    if (this.inflate) this.inflate.end();
    else this.file.end();
    await this.done;
    if (this.failure) throw this.failure;
    if (this.written !== this.entry.uncompressedSize || this.crc !== this.entry.crc32) {
      throw new Error("entry does not match its local header");
    }
  }

  abort() {
    this.fail(new Error("stopped"));
  }
}

export class ZipStreamExtraction {
  readonly entries: StreamedEntry[] = [];
  /** Why it stepped aside, or null while it follows (and once it has seen the central directory). */
  steppedAside: string | null = null;
  private pending: Buffer = Buffer.alloc(0);
  private offset = 0;
  /** What the entries so far declare they expand to, together. */
  private declaredTotal = 0;
  private entry: StreamedEntry | null = null;
  private writer: EntryWriter | null = null;
  private dataLeft = 0;
  private finished = false;
  private readonly guard: EntryGuard;

  constructor(
    private readonly destination: string,
    /** What the download may expand to so far, given how many bytes have arrived. */
    private readonly allowance: (compressedBytes: number) => number,
  ) {
    this.guard = new EntryGuard();
  }

  /** True once the central directory has begun: every entry came through the stream. */
  get complete(): boolean {
    return this.finished && this.steppedAside === null;
  }

  /** Takes the archive's next bytes, in order; never throws (it steps aside instead). */
  async write(chunk: Buffer): Promise<void> {
    if (this.steppedAside !== null || this.finished) return;
    try {
      await this.consume(chunk);
    } catch (error) {
      this.stepAside(error instanceof Error ? error.message : String(error));
    }
  }

  /** Stops following; once it resolves, no file of its own is still open. */
  async close(): Promise<void> {
    const writer = this.writer;
    if (writer) this.stepAside("the archive ended inside an entry");
    await writer?.closed();
  }

  private stepAside(reason: string) {
    this.steppedAside ??= reason;
    this.writer?.abort();
    this.pending = Buffer.alloc(0);
  }

  private async consume(chunk: Buffer): Promise<void> {
    let data = chunk;
    while (data.length > 0 && this.steppedAside === null && !this.finished) {
      if (this.entry) {
        const part = data.subarray(0, this.dataLeft);
        data = data.subarray(part.length);
        this.dataLeft -= part.length;
        this.offset += part.length;
        if (this.writer) await this.writer.write(part);
        if (this.dataLeft === 0) await this.endEntry();
        continue;
      }
      this.pending = this.pending.length > 0 ? Buffer.concat([this.pending, data]) : data;
      data = Buffer.alloc(0);
      const rest = await this.readHeader();
      if (rest) data = rest;
    }
  }

  /** Reads a local header from `pending` once it is whole; returns the bytes after it. */
  private async readHeader(): Promise<Buffer | null> {
    const header = this.pending;
    if (header.length < 4) return null;
    const signature = header.readUInt32LE(0);
    if (signature === CENTRAL_HEADER) {
      this.finished = true;
      this.pending = Buffer.alloc(0);
      return null;
    }
    if (signature !== LOCAL_HEADER) throw new Error(`unexpected signature at byte ${this.offset}`);
    if (header.length < LOCAL_HEADER_BYTES) return null;
    const nameLength = header.readUInt16LE(26);
    const extraLength = header.readUInt16LE(28);
    const headerBytes = LOCAL_HEADER_BYTES + nameLength + extraLength;
    if (header.length < headerBytes) return null;
    const flags = header.readUInt16LE(6);
    const method = header.readUInt16LE(8);
    const compressedSize = header.readUInt32LE(18);
    const uncompressedSize = header.readUInt32LE(22);
    if (flags & (FLAG_ENCRYPTED | FLAG_DATA_DESCRIPTOR))
      throw new Error("sizes follow the data (or it is encrypted)");
    if (compressedSize === 0xffffffff || uncompressedSize === 0xffffffff) throw new Error("ZIP64 sizes");
    if (method !== STORED && method !== DEFLATED) throw new Error(`compression method ${method}`);
    const name = Buffer.from(header.subarray(LOCAL_HEADER_BYTES, LOCAL_HEADER_BYTES + nameLength));
    const text = name.toString("utf8");
    const isDirectory = text.endsWith("/");
    const path = this.guard.check({
      name: text,
      type: isDirectory ? "directory" : "file",
      size: uncompressedSize,
    });
    this.declaredTotal += uncompressedSize;
    if (this.declaredTotal > this.allowance(this.offset + headerBytes + compressedSize))
      throw new Error("expands too far");
    const entry: StreamedEntry = {
      offset: this.offset,
      name,
      method,
      crc32: header.readUInt32LE(14),
      compressedSize,
      uncompressedSize,
      path,
      isDirectory,
    };
    this.entries.push(entry);
    this.offset += headerBytes;
    const target = join(this.destination, path);
    if (isDirectory) {
      await mkdir(target, { recursive: true });
    } else {
      await mkdir(dirname(target), { recursive: true });
      this.writer = new EntryWriter(target, entry);
    }
    this.entry = entry;
    this.dataLeft = compressedSize;
    const rest = header.subarray(headerBytes);
    this.pending = Buffer.alloc(0);
    if (compressedSize === 0) await this.endEntry();
    return rest;
  }

  private async endEntry() {
    await this.writer?.end();
    this.writer = null;
    this.entry = null;
  }
}

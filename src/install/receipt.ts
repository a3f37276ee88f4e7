// The install receipt: everything an install wrote, so update and uninstall never guess. It is a
// claim, not an authority: it is sealed with a key only this HOME holds, it is bounded in size,
// and every path it names is checked (here and at the moment of removal) against what the
// installer itself would have written.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, rm } from "node:fs/promises";
import { basename, isAbsolute, join, relative, win32 } from "node:path";
import { isSharedLibrary } from "../archive/policy.js";
import { readRegularFile, writeFileAtomic } from "../fs-atomic.js";
import { isOwnedFile, isOwnedLine, isOwnedProfile, type PathEdit } from "../paths/plan.js";
import type { ProvenanceRecord } from "../provenance/check.js";
import { type Tag, toTag } from "../release/versions.js";

/** 2: files carry their size and SHA-256, and the receipt is sealed. 1: neither. */
export const RECEIPT_SCHEMA = 2;
/** A receipt lists a handful of files and edits: anything near this size is not one of ours. */
export const MAX_RECEIPT_BYTES = 1024 * 1024;

export interface PlacedFile {
  size: number;
  sha256: string;
}

export interface Receipt {
  schema: number;
  installer: string;
  /** The installed release; null when it could not be told. Kept as "version" on disk. */
  tag: Tag | null;
  platform: string;
  dir: string;
  files: string[];
  /** Each file as it was placed; uninstall removes a file only while it is still these bytes. */
  fileDigests: Record<string, PlacedFile>;
  pathEdits: PathEdit[];
  modifyPath: boolean;
  /** Directories the install created (outermost first); uninstall removes them when empty. */
  createdDirs: string[];
  method: string;
  /** Whether the install ran `runmat --version` ("skipped" under --skip-smoke-test). */
  smokeTest: "passed" | "skipped";
  /** What the install learnt of where the release was built; absent in receipts from before. */
  provenance?: ProvenanceRecord;
  installedAt: string;
  /** Whether the seal held when it was read (schema 1 receipts have none). Never written. */
  sealed?: boolean;
}

export function receiptPath(runmatHome: string): string {
  return join(runmatHome, "install-receipt.json");
}

/**
 * The key that seals receipts: 32 random bytes, readable only by the user. A keyed hash rather
 * than a plain checksum, so that a receipt edited by hand, copied from another machine or
 * written by another program is told apart from one this installer wrote: forging one needs
 * this file, not only the receipt's format.
 */
function receiptKeyPath(runmatHome: string): string {
  return join(runmatHome, "receipt.key");
}

async function readReceiptKey(runmatHome: string): Promise<Buffer | null> {
  const text = await readRegularFile(receiptKeyPath(runmatHome), 256).catch(() => null);
  return text && /^[0-9a-f]{64}\n?$/.test(text) ? Buffer.from(text.trim(), "hex") : null;
}

async function receiptKey(runmatHome: string): Promise<Buffer> {
  const existing = await readReceiptKey(runmatHome);
  if (existing) return existing;
  const key = randomBytes(32);
  await writeFileAtomic(receiptKeyPath(runmatHome), `${key.toString("hex")}\n`, 0o600);
  return key;
}

/** The receipt's fields as written, in a fixed order, without the seal. */
function onDisk(receipt: Receipt): Record<string, unknown> {
  const { schema, installer, tag, sealed: _sealed, ...rest } = receipt;
  return { schema, installer, version: tag ?? "unknown", ...rest };
}

function seal(key: Buffer, fields: Record<string, unknown>): string {
  return createHmac("sha256", key).update(JSON.stringify(fields)).digest("hex");
}

export type ReceiptRead =
  | { state: "missing" }
  | { state: "corrupt"; reason: string }
  | { state: "ok"; receipt: Receipt };

/** Reads a receipt of any schema so far, checking shapes rather than trusting them. */
export async function readReceipt(runmatHome: string): Promise<ReceiptRead> {
  let text: string | null;
  try {
    // Never blocks: a FIFO in its place is reported as corrupt, not waited on.
    text = await readRegularFile(receiptPath(runmatHome), MAX_RECEIPT_BYTES);
  } catch (error) {
    return { state: "corrupt", reason: (error as Error).message };
  }
  if (text === null) return { state: "missing" };
  try {
    // On disk the tag is under "version", as schema 1 has always written it.
    const value = JSON.parse(text) as Partial<Omit<Receipt, "tag">> & { version?: unknown; seal?: unknown };
    const valid =
      typeof value === "object" &&
      value !== null &&
      typeof value.version === "string" &&
      typeof value.dir === "string" &&
      Array.isArray(value.files) &&
      value.files.every((f) => typeof f === "string") &&
      (value.pathEdits === undefined || Array.isArray(value.pathEdits));
    if (!valid) return { state: "corrupt", reason: "required fields are missing or of the wrong type" };
    const receipt: Receipt = {
      schema: value.schema ?? 1,
      installer: value.installer ?? "unknown",
      tag: toTag(value.version as string),
      platform: value.platform ?? "unknown",
      dir: value.dir!,
      files: value.files!,
      fileDigests:
        typeof value.fileDigests === "object" && value.fileDigests !== null ? value.fileDigests : {},
      pathEdits: value.pathEdits ?? [],
      modifyPath: value.modifyPath ?? true,
      createdDirs: Array.isArray(value.createdDirs)
        ? value.createdDirs.filter((d) => typeof d === "string")
        : [],
      method: value.method ?? "unknown",
      smokeTest: value.smokeTest === "skipped" ? "skipped" : "passed",
      provenance: provenanceRecord(value.provenance),
      installedAt: value.installedAt ?? "",
    };
    const key = await readReceiptKey(runmatHome);
    const { seal: written, ...fields } = value;
    const expected = key ? Buffer.from(seal(key, fields as Record<string, unknown>), "hex") : null;
    const given =
      typeof written === "string" && /^[0-9a-f]{64}$/.test(written) ? Buffer.from(written, "hex") : null;
    receipt.sealed = Boolean(expected && given && timingSafeEqual(expected, given));
    return { state: "ok", receipt };
  } catch (error) {
    return { state: "corrupt", reason: (error as Error).message };
  }
}

/** A recorded provenance of a known shape, else undefined: a receipt's reader prints it. */
function provenanceRecord(value: unknown): ProvenanceRecord | undefined {
  const record = value as { status?: unknown; signer?: unknown; reason?: unknown } | null;
  if (record?.status === "verified" && typeof record.signer === "string")
    return { status: "verified", signer: record.signer };
  if (record?.status === "none" || record?.status === "off") return { status: record.status };
  if (record?.status === "unchecked" && typeof record.reason === "string")
    return { status: "unchecked", reason: record.reason };
  return undefined;
}

export async function writeReceipt(runmatHome: string, receipt: Receipt): Promise<void> {
  const fields = onDisk({ ...receipt, schema: RECEIPT_SCHEMA });
  const sealed = { ...fields, seal: seal(await receiptKey(runmatHome), fields) };
  await writeFileAtomic(receiptPath(runmatHome), `${JSON.stringify(sealed, null, 2)}\n`, 0o644);
}

/** Removes the receipt and the key that sealed it. */
export async function removeReceipt(runmatHome: string): Promise<void> {
  await rm(receiptPath(runmatHome), { force: true });
  await rm(receiptKeyPath(runmatHome), { force: true });
}

/** Edits from both lists, each once (the earlier record wins): a re-run keeps what earlier runs recorded. */
export function mergePathEdits(earlier: PathEdit[], later: PathEdit[]): PathEdit[] {
  const seen = new Set<string>();
  return [...earlier, ...later].filter((edit) => {
    const key =
      edit.kind === "registry"
        ? `registry:${edit.entry}`
        : `${edit.kind}:${edit.path}:${edit.kind === "line" ? edit.line : ""}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The size and SHA-256 of a placed file, read in a stream (a RunMat binary is ~100 MB). */
export async function digestFile(path: string): Promise<PlacedFile> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    size += (chunk as Buffer).length;
    hash.update(chunk as Buffer);
  }
  return { size, sha256: hash.digest("hex") };
}

/** Whether `path` is still the regular file that was placed there (never followed through a link). */
export async function isStillPlaced(path: string, placed: PlacedFile | undefined): Promise<boolean> {
  if (!placed) return false;
  const info = await lstat(path).catch(() => null);
  if (!info?.isFile() || info.size !== placed.size) return false;
  return (await digestFile(path)).sha256 === placed.sha256;
}

export interface TrustContext {
  home: string;
  runmatHome: string;
}

/**
 * Why the receipt may not aim a single delete or edit, or null when it may. A sealed receipt
 * was written by this installer in this HOME; every entry is still checked against what the
 * installer writes, so that not even a sealed receipt can name a file outside its reach.
 */
export function distrustReceipt(receipt: Receipt, context: TrustContext): string | null {
  const windows = /^[A-Za-z]:[\\/]/.test(receipt.dir);
  const pathApi = windows ? win32 : { relative, isAbsolute, basename };
  const inside = (parent: string, child: string) => {
    const rel = pathApi.relative(parent, child);
    return rel !== "" && !rel.startsWith("..") && !pathApi.isAbsolute(rel);
  };
  // Unsealed: edited, copied from another HOME, or written before receipts were sealed. A
  // downgrade to the old format must not buy an attacker the old trust, so none is given.
  if (!receipt.sealed) {
    return receipt.schema >= 2
      ? "its seal does not match: it was edited, or written in another HOME"
      : "it has no seal: it was written by hand, or by an older runmat-install";
  }
  if (!pathApi.isAbsolute(receipt.dir)) return `its install directory ${receipt.dir} is not an absolute path`;
  for (const file of receipt.files) {
    const name = pathApi.basename(file);
    const runmatFile = name === "runmat" || name === "runmat.exe" || isSharedLibrary(name);
    if (!runmatFile || !inside(receipt.dir, file) || pathApi.relative(receipt.dir, file).match(/[\\/]/))
      return `it lists ${file}, which is not a RunMat file inside ${receipt.dir}`;
  }
  for (const edit of receipt.pathEdits) {
    if (edit.kind === "file" && !isOwnedFile(edit.path, context.runmatHome))
      return `it lists ${edit.path}, which runmat-install never writes`;
    if (edit.kind === "line") {
      const githubPath = edit.line === receipt.dir;
      if (!githubPath && !(isOwnedLine(edit.line, context.home) && isOwnedProfile(edit.path, context.home)))
        return `it asks to remove a line from ${edit.path} that runmat-install does not write there`;
    }
    if (edit.kind === "registry" && win32.relative(edit.entry, receipt.dir) !== "")
      return `it asks to remove ${edit.entry} from Path, which is not its install directory`;
  }
  return null;
}

/**
 * The directories the install created that uninstall may remove once they are empty: the
 * install directory, and those under it or under HOME. Any other listed directory is left.
 */
export function removableCreatedDirs(receipt: Receipt, home: string): string[] {
  const pathApi = /^[A-Za-z]:[\\/]/.test(receipt.dir) ? win32 : { relative, isAbsolute };
  const within = (parent: string, child: string) => {
    const rel = pathApi.relative(parent, child);
    return !rel.startsWith("..") && !pathApi.isAbsolute(rel);
  };
  return receipt.createdDirs.filter(
    (directory) =>
      within(receipt.dir, directory) || (within(home, directory) && pathApi.relative(home, directory) !== ""),
  );
}

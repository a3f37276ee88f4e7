// The install receipt: everything an install wrote, so update and uninstall never guess.
import { join } from "node:path";
import { readRegularFile, writeFileAtomic } from "../fs-atomic.js";
import type { PathEdit } from "../paths/plan.js";
import { type Tag, toTag } from "../release/versions.js";

export const RECEIPT_SCHEMA = 1;

export interface Receipt {
  schema: number;
  installer: string;
  /** The installed release; null when it could not be told. Kept as "version" on disk. */
  tag: Tag | null;
  platform: string;
  dir: string;
  files: string[];
  pathEdits: PathEdit[];
  modifyPath: boolean;
  /** Directories the install created (outermost first); uninstall removes them when empty. */
  createdDirs: string[];
  method: string;
  /** Whether the install ran `runmat --version` ("skipped" under --skip-smoke-test). */
  smokeTest: "passed" | "skipped";
  installedAt: string;
}

export function receiptPath(runmatHome: string): string {
  return join(runmatHome, "install-receipt.json");
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
    text = await readRegularFile(receiptPath(runmatHome));
  } catch (error) {
    return { state: "corrupt", reason: (error as Error).message };
  }
  if (text === null) return { state: "missing" };
  try {
    // On disk the tag is under "version", as schema 1 has always written it.
    const value = JSON.parse(text) as Partial<Omit<Receipt, "tag">> & { version?: unknown };
    const valid =
      typeof value === "object" &&
      value !== null &&
      typeof value.version === "string" &&
      typeof value.dir === "string" &&
      Array.isArray(value.files) &&
      value.files.every((f) => typeof f === "string") &&
      (value.pathEdits === undefined || Array.isArray(value.pathEdits));
    if (!valid) return { state: "corrupt", reason: "required fields are missing or of the wrong type" };
    return {
      state: "ok",
      receipt: {
        schema: value.schema ?? 1,
        installer: value.installer ?? "unknown",
        tag: toTag(value.version as string),
        platform: value.platform ?? "unknown",
        dir: value.dir!,
        files: value.files!,
        pathEdits: value.pathEdits ?? [],
        modifyPath: value.modifyPath ?? true,
        createdDirs: Array.isArray(value.createdDirs)
          ? value.createdDirs.filter((d) => typeof d === "string")
          : [],
        method: value.method ?? "unknown",
        smokeTest: value.smokeTest === "skipped" ? "skipped" : "passed",
        installedAt: value.installedAt ?? "",
      },
    };
  } catch (error) {
    return { state: "corrupt", reason: (error as Error).message };
  }
}

export async function writeReceipt(runmatHome: string, receipt: Receipt): Promise<void> {
  const { schema, installer, tag, ...rest } = receipt;
  const onDisk = { schema, installer, version: tag ?? "unknown", ...rest };
  await writeFileAtomic(receiptPath(runmatHome), `${JSON.stringify(onDisk, null, 2)}\n`, 0o644);
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

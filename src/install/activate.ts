// Puts a verified release into the install directory and onto PATH: swap the files in, smoke
// test them (rolling back on failure), edit PATH, and describe all of it in a receipt.
import { readdir, rmdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { UnpackedRelease } from "../archive/extract.js";
import { InstallError, toInstallError } from "../errors.js";
import type { InstallOptions } from "../options.js";
import type { PathEdit } from "../paths/plan.js";
import { isOnPath } from "../paths/plan.js";
import { addToUnixPath, type PathOutcome } from "../paths/unix.js";
import { addToWindowsPath } from "../paths/windows.js";
import type { Target } from "../platform/resolve.js";
import type { ProvenanceRecord } from "../provenance/check.js";
import type { Source } from "../release/resolve.js";
import { type Tag, toTag, versionOfTag } from "../release/versions.js";
import { VERSION } from "../version.js";
import { mergePathEdits, type PlacedFile, RECEIPT_SCHEMA, type Receipt } from "./receipt.js";
import { smokeTest } from "./smoke.js";
import { type Placement, placeFiles } from "./swap.js";

/**
 * Swaps the new files in (and the files of the earlier install that this release no longer
 * has out) and runs `runmat --version`; on any failure the previous files are restored.
 * Returns the tag that was installed (read from `--version` when the source had none) and the
 * placement, which the caller commits once the receipt records it, or rolls back.
 */
export async function placeAndVerify(
  release: UnpackedRelease,
  options: InstallOptions,
  source: Source,
  binaryPath: string,
  retired: string[],
  signal: AbortSignal,
  /** Called at the moment the install is decided, with no await between it and the last signal check. */
  onCommit: () => void,
): Promise<{ tag: Tag | null; placement: Placement }> {
  const placement = await placeFiles(release.directory, release.files, options.dir, retired);
  try {
    const expected = source.tag ? versionOfTag(source.tag) : null;
    // --skip-smoke-test: the user adds what RunMat needs later; the receipt says it was not run.
    const smoke = options.skipSmokeTest
      ? null
      : await smokeTest(binaryPath, expected, options.smokeTimeoutMs, signal);
    signal.throwIfAborted();
    // Synchronously after the last check: a signal handled from here on finds the install decided.
    onCommit();
    return { tag: source.tag ?? (smoke ? tagFromOutput(smoke.output) : null), placement };
  } catch (error) {
    await rollBack(placement, error, options.dir);
    throw error;
  }
}

/** Restores the previous install; when that fails too, both failures are said with where the old files are. */
export async function rollBack(placement: Placement, error: unknown, directory: string): Promise<void> {
  await placement.rollback().catch((rollbackError: NodeJS.ErrnoException) => {
    throw new InstallError(
      "filesystem",
      `${toInstallError(error).message} Restoring the previous install then failed too (${rollbackError.code ?? rollbackError.message}).`,
      `Check ${directory}: the previous files are kept beside it as .<name>.runmat-old-*; the next run restores them.`,
      { cause: error },
    );
  });
}

function tagFromOutput(output: string): Tag | null {
  const match = /\d+\.\d+\.\d+[0-9A-Za-z.+-]*/.exec(output);
  return match ? toTag(match[0]) : null;
}

/** Edits PATH for the install directory; `preview` only says what it would change. */
export async function addToPath(
  options: InstallOptions,
  modifyPath: boolean,
  target: Target,
  env: NodeJS.ProcessEnv,
  preview: boolean,
): Promise<PathOutcome> {
  const none: PathOutcome = { edits: [], changed: [], warnings: [], createdDirs: [] };
  if (!modifyPath) return none;
  if (target.os === "windows") return addToWindowsPath(options.dir, preview);
  if (isOnPath(options.dir, env)) return none;
  return addToUnixPath(options.dir, options.home, env, preview);
}

/** The receipt of this install; what an earlier install into the same directory recorded is kept. */
export function newReceipt(
  options: InstallOptions,
  modifyPath: boolean,
  installed: {
    tag: Tag | null;
    platform: string;
    files: string[];
    digests: PlacedFile[];
    provenance: ProvenanceRecord;
  },
  made: { earlier: Receipt | null; createdDirs: string[]; pathEdits: PathEdit[] },
): Receipt {
  return {
    schema: RECEIPT_SCHEMA,
    installer: VERSION,
    tag: installed.tag,
    platform: installed.platform,
    dir: options.dir,
    files: installed.files.map((name) => join(options.dir, name)),
    fileDigests: Object.fromEntries(
      installed.files.map((name, i) => [join(options.dir, name), installed.digests[i]]),
    ),
    pathEdits: mergePathEdits(made.earlier?.pathEdits ?? [], made.pathEdits),
    modifyPath,
    createdDirs: [...(made.earlier?.createdDirs ?? []), ...made.createdDirs],
    method: options.method,
    smokeTest: options.skipSmokeTest ? "skipped" : "passed",
    provenance: installed.provenance,
    installedAt: new Date().toISOString(),
  };
}

/** Undoes `mkdir -p` for directories that are still empty, from the install dir up to the first one created. */
export async function removeEmptyDirectories(directory: string, firstCreated: string): Promise<void> {
  let current = directory;
  for (;;) {
    if ((await readdir(current).catch(() => ["?"])).length > 0) return;
    await rmdir(current).catch(() => {});
    if (current === firstCreated || dirname(current) === current) return;
    current = dirname(current);
  }
}

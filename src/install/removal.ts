// Undoes an install, in the order that keeps every shell able to start whatever fails: the
// profile lines and Path entries first, then the files they point to, then RunMat itself.
// Everything removed is first checked to be what the installer placed.
import { lstat, rm } from "node:fs/promises";
import { basename } from "node:path";
import { readRegularFile, replaceWhole } from "../fs-atomic.js";
import { isOwnedContent, isOwnedLine, type PathEdit, removeLine } from "../paths/plan.js";
import { removeFromWindowsPath } from "../paths/windows.js";
import { isStillPlaced, type Receipt } from "./receipt.js";

/** Something uninstall left in place, and what the user can do about it. */
export interface Leftover {
  path: string;
  why: string;
  /** The exact step to finish by hand, when there is one. */
  fix?: string;
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

/**
 * Removes our line from each profile and our entry from Path, then the files that put RunMat on
 * PATH. A file a remaining line still sources is kept, so no shell starts with an error.
 */
export async function removePathEdits(
  edits: PathEdit[],
  context: { home: string; env: NodeJS.ProcessEnv },
): Promise<Leftover[]> {
  const leftovers: Leftover[] = [];
  for (const edit of edits) {
    if (edit.kind === "registry") {
      await removeFromWindowsPath(edit.entry).catch((error: unknown) =>
        leftovers.push({
          path: `${edit.key}\\${edit.name}`,
          why: errorCode(error),
          fix: `remove ${edit.entry} from your user Path`,
        }),
      );
      continue;
    }
    if (edit.kind !== "line") continue;
    // $GITHUB_PATH is a file per workflow step, read once the step ends: only this step's is ours to edit.
    if (!isOwnedLine(edit.line, context.home) && edit.path !== context.env.GITHUB_PATH) continue;
    const leftover = { path: edit.path, fix: `remove this line from ${edit.path}: ${edit.line}` };
    try {
      const content = await readRegularFile(edit.path);
      if (content === null) continue;
      const updated = removeLine(content, edit.line);
      if (updated === content) continue;
      const ownFile = (await lstat(edit.path)).isFile();
      // A profile the install created and that now holds nothing else goes; a link is never removed.
      if (updated === "" && edit.createdFile && ownFile) await rm(edit.path);
      else await replaceWhole(edit.path, updated);
    } catch (error) {
      leftovers.push({ ...leftover, why: errorCode(error) });
    }
  }
  // Sourced by the lines above (env) and by fish's conf.d file (env.fish): removed last, and
  // not at all while a line that sources them could not be removed.
  const files = edits.filter((edit) => edit.kind === "file");
  const ordered = [...files].sort(
    (a, b) => Number(basename(a.path).startsWith("env")) - Number(basename(b.path).startsWith("env")),
  );
  for (const edit of ordered) {
    if (leftovers.length > 0 && basename(edit.path).startsWith("env")) {
      leftovers.push({
        path: edit.path,
        why: "kept: a line above still sources it",
        fix: `then delete ${edit.path}`,
      });
      continue;
    }
    try {
      const content = await readRegularFile(edit.path);
      if (content === null) continue;
      if (!isOwnedContent(content)) {
        leftovers.push({ path: edit.path, why: "kept: it changed since runmat-install wrote it" });
        continue;
      }
      await rm(edit.path);
    } catch (error) {
      leftovers.push({ path: edit.path, why: errorCode(error), fix: `delete ${edit.path}` });
    }
  }
  return leftovers;
}

/** Removes RunMat's files, each only while it is still the file the install placed. */
export async function removeInstalledFiles(
  receipt: Receipt,
): Promise<{ removed: string[]; kept: Leftover[] }> {
  const removed: string[] = [];
  const kept: Leftover[] = [];
  for (const file of receipt.files) {
    const info = await lstat(file).catch(() => null);
    if (!info) continue;
    if (!(await isStillPlaced(file, receipt.fileDigests[file]))) {
      kept.push({ path: file, why: "kept: it is not the file runmat-install placed there (changed since?)" });
      continue;
    }
    await rm(file);
    removed.push(file);
  }
  return { removed, kept };
}

// Applies a UnixPathPlan: the env files, one source line per startup file, and $GITHUB_PATH.
import { existsSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import {
  appendWhole,
  DanglingLinkError,
  NotRegularFileError,
  readRegularFile,
  writeFileAtomic,
} from "../fs-atomic.js";
import { appendLine, type PathEdit, planUnixPath } from "./plan.js";

export interface PathOutcome {
  /** Every PATH edit of ours now in place (recorded in the receipt, undone by uninstall). */
  edits: PathEdit[];
  /** Only what this run changed; empty on a second run. */
  changed: PathEdit[];
  warnings: string[];
  /** Directories this run created (outermost first). */
  createdDirs: string[];
}

export async function addToUnixPath(
  directory: string,
  home: string,
  env: NodeJS.ProcessEnv,
  dryRun: boolean,
): Promise<PathOutcome> {
  const plan = planUnixPath({
    home,
    directory,
    zdotdir: env.ZDOTDIR,
    xdgConfigHome: env.XDG_CONFIG_HOME,
    shell: env.SHELL,
    exists: existsSync,
  });
  const outcome: PathOutcome = { edits: [], changed: [], warnings: [], createdDirs: [] };
  const files = [plan.envFile, plan.envFishFile, ...(plan.fishConfFile ? [plan.fishConfFile] : [])];
  for (const file of files) {
    const edit: PathEdit = { kind: "file", path: file.path };
    try {
      if ((await readRegularFile(file.path)) !== file.content) {
        if (!dryRun) {
          const created = await writeFileAtomic(file.path, file.content, 0o644);
          if (created) outcome.createdDirs.push(...directoriesBetween(created, dirname(file.path)));
        }
        outcome.changed.push(edit);
      }
      outcome.edits.push(edit);
    } catch (error) {
      // Without ~/.runmat/env a source line would break every login shell: add none.
      outcome.warnings.push(
        `Could not write ${file.path} (${describeFileError(error)}); PATH was not changed. Add ${directory} to PATH yourself.`,
      );
      return outcome;
    }
  }
  const lineEdits = plan.profiles.map((path) => ({ path, line: plan.sourceLine }));
  if (env.GITHUB_PATH) lineEdits.push({ path: env.GITHUB_PATH, line: directory });
  for (const { path, line } of lineEdits) {
    const edit: PathEdit = { kind: "line", path, line };
    try {
      const existing = await readRegularFile(path);
      if (existing === null) edit.createdFile = true;
      const current = existing ?? "";
      const updated = appendLine(current, line);
      if (updated !== null) {
        // Append rather than rewrite: a symlinked dotfile stays a symlink and keeps its mode.
        // Whole or not at all: a full disk leaves the profile as it was, never half a line.
        if (!dryRun) await appendWhole(path, updated.slice(current.length));
        outcome.changed.push(edit);
      }
      outcome.edits.push(edit);
    } catch (error) {
      outcome.warnings.push(
        `Could not update ${path} (${describeFileError(error)}); add this line yourself: ${line}`,
      );
    }
  }
  return outcome;
}

function describeFileError(error: unknown): string {
  if (error instanceof NotRegularFileError) return "it is not a regular file";
  // A dotfile manager's link into a repository not there yet: creating the file there is not ours to do.
  if (error instanceof DanglingLinkError)
    return `it is a symbolic link to ${error.target}, which does not exist`;
  return (error as NodeJS.ErrnoException).code ?? String(error);
}

/** `first` and each directory below it down to `last`, outermost first (what `mkdir -p` created). */
export function directoriesBetween(first: string, last: string): string[] {
  const rest = relative(first, last);
  const parts = rest === "" ? [] : rest.split(sep);
  return [first, ...parts.map((_, i) => join(first, ...parts.slice(0, i + 1)))];
}

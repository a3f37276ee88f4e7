// Filesystem writes that never leave a half-written file, and directory creation that cannot
// hang.
import { randomBytes } from "node:crypto";
import { chmod, mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { InstallError } from "./errors.js";

/**
 * `mkdir -p` that always settles: Node's recursive mkdir loops forever where the kernel answers
 * ENOENT for a directory whose parent exists (under /proc, for one). This walks up to the first
 * existing ancestor and creates each missing level once. Returns the first directory it created.
 */
export async function makeDirectories(path: string): Promise<string | undefined> {
  const missing: string[] = [];
  for (let current = resolve(path); ; current = dirname(current)) {
    const info = await stat(current).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return null;
      throw error;
    });
    if (info?.isDirectory()) break;
    if (info) throw cannotCreate(path, `${current} is a file`);
    missing.push(current);
    if (dirname(current) === current) break;
  }
  for (const directory of missing.reverse()) {
    await mkdir(directory).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "EACCES" || error.code === "EPERM" || error.code === "EROFS") throw error;
      if (error.code === "EEXIST") throw cannotCreate(path, `${directory} is a dangling symbolic link`);
      throw cannotCreate(path, `the filesystem refused (${error.code ?? error.message})`);
    });
  }
  return missing[0];
}

function cannotCreate(path: string, why: string): InstallError {
  return new InstallError(
    "filesystem",
    `Cannot create the directory ${path}: ${why}.`,
    "Choose a directory on an ordinary writable filesystem with --dir (for example ~/.local/bin).",
  );
}

/**
 * Writes a whole file so readers see the old content or the new, never a mix.
 * Returns the first directory it had to create, if any, so an uninstall can remove it again.
 */
export async function writeFileAtomic(
  path: string,
  content: string,
  mode: number,
): Promise<string | undefined> {
  const created = await makeDirectories(dirname(path));
  const temporary = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    await writeFile(temporary, content, { mode });
    await chmod(temporary, mode);
    await rename(temporary, path);
    return created;
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

// Filesystem writes that never leave a half-written file, and directory creation that cannot
// hang.
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { chmod, mkdir, open, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { InstallError } from "./errors.js";

// Windows has no O_NONBLOCK (nor FIFOs in a profile to fear).
const NONBLOCK = constants.O_NONBLOCK ?? 0;

/** A state file that exists but is not a regular file (a FIFO, socket, device or directory). */
export class NotRegularFileError extends Error {
  readonly code = "ENOTREG";
  constructor(readonly path: string) {
    super(`${path} is not a regular file`);
  }
}

/**
 * A file's text, or null when it does not exist. Never blocks: a FIFO (or socket, device,
 * directory) in its place is opened without waiting for a writer and refused with
 * NotRegularFileError, so the caller can report and skip it. A symlinked dotfile is followed.
 */
export async function readRegularFile(path: string): Promise<string | null> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, constants.O_RDONLY | NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    if (code === "ENXIO" || code === "EISDIR") throw new NotRegularFileError(path);
    throw error;
  }
  try {
    if (!(await handle.stat()).isFile()) throw new NotRegularFileError(path);
    return await handle.readFile("utf8");
  } finally {
    await handle.close();
  }
}

/** Appends to a regular file (created when missing), refusing anything else without blocking. */
export async function appendToRegularFile(path: string, text: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | NONBLOCK, 0o644);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENXIO" || code === "EISDIR") throw new NotRegularFileError(path);
    throw error;
  }
  try {
    if (!(await handle.stat()).isFile()) throw new NotRegularFileError(path);
    await handle.write(text);
  } finally {
    await handle.close();
  }
}

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

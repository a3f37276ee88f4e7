// Filesystem writes that never leave a half-written file, and directory creation that cannot
// hang.
import { constants } from "node:fs";
import {
  access,
  chmod,
  chown,
  lstat,
  mkdir,
  open,
  readlink,
  realpath,
  rename,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
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

/** A symbolic link whose target does not exist: writing through it would create a file elsewhere. */
export class DanglingLinkError extends Error {
  readonly code = "EDANGLING";
  constructor(
    readonly path: string,
    readonly target: string,
  ) {
    super(`${path} is a symbolic link to ${target}, which does not exist`);
  }
}

/**
 * A file's text, or null when it does not exist. Never blocks: a FIFO (or socket, device,
 * directory) in its place is opened without waiting for a writer and refused with
 * NotRegularFileError, so the caller can report and skip it. A symlinked dotfile is followed.
 * A file larger than `maxBytes` is refused before it is read.
 */
export async function readRegularFile(
  path: string,
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<string | null> {
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
    const info = await handle.stat();
    if (!info.isFile()) throw new NotRegularFileError(path);
    if (info.size > maxBytes)
      throw new Error(`${path} is ${info.size} bytes, more than the ${maxBytes} allowed`);
    return await handle.readFile("utf8");
  } finally {
    await handle.close();
  }
}

/** Where writing to `path` lands: the file itself, or the end of its chain of symbolic links. */
export async function writeTarget(path: string): Promise<string> {
  const link = await lstat(path).catch(() => null);
  if (!link?.isSymbolicLink()) return path;
  return realpath(path).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") throw new DanglingLinkError(path, await readlink(path));
    throw error;
  });
}

/**
 * Appends all of `text` to a regular file (created when missing), or none of it: a short write
 * or a full disk truncates the file back to its old length, so a shell profile never ends in
 * half a line. Refuses anything but a regular file without blocking, and a dangling link.
 */
export async function appendWhole(path: string, text: string): Promise<void> {
  const target = await writeTarget(path);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(
      target,
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | NONBLOCK,
      0o644,
    );
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENXIO" || code === "EISDIR") throw new NotRegularFileError(path);
    throw error;
  }
  try {
    const before = await handle.stat();
    if (!before.isFile()) throw new NotRegularFileError(path);
    try {
      // writeFile keeps writing until every byte is down, or throws (ENOSPC, EDQUOT, EFBIG).
      await handle.writeFile(text);
      const after = await handle.stat();
      if (after.size !== before.size + Buffer.byteLength(text)) {
        throw Object.assign(new Error(`${path} did not take the whole line`), { code: "EIO", path });
      }
    } catch (error) {
      await handle.truncate(before.size);
      throw error;
    }
  } finally {
    await handle.close();
  }
}

/**
 * A name beside `path` that no other run picks. Node's crypto loads only here, when something is
 * written: --help and a usage error start without it.
 */
async function temporaryBeside(path: string, label: string): Promise<string> {
  const { randomBytes } = await import("node:crypto");
  return `${path}.${label}-${process.pid}-${randomBytes(4).toString("hex")}`;
}

/**
 * Replaces a file the user owns with `content`, whole or not at all: written beside it (beside
 * the link's target, for a symlinked dotfile, which stays a link) with its mode and owner, then
 * renamed over it.
 */
export async function replaceWhole(path: string, content: string): Promise<void> {
  const target = await writeTarget(path);
  const info = await stat(target);
  // A profile its owner made read-only stays as it is: renaming over it would get past that.
  await access(target, constants.W_OK);
  const temporary = await temporaryBeside(target, "runmat-tmp");
  try {
    await writeFile(temporary, content, { mode: info.mode & 0o7777, flag: "wx" });
    await chmod(temporary, info.mode & 0o7777);
    // Only root may give a file away; for anyone else the new file is theirs already.
    if (process.getuid?.() === 0) await chown(temporary, info.uid, info.gid);
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
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
  const temporary = await temporaryBeside(path, "tmp");
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

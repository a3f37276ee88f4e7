// Puts files into the install directory atomically, keeping what they replace until the
// new install has passed its smoke test, and serialising racing installers with a lock file.
import { randomBytes } from "node:crypto";
import {
  chmod,
  copyFile,
  link,
  lstat,
  mkdtemp,
  open,
  readdir,
  rename,
  rm,
  unlink,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { InstallError } from "../errors.js";
import { NotRegularFileError, readRegularFile } from "../fs-atomic.js";
import { sleep } from "../sleep.js";

const LOCK_NAME = ".runmat-install.lock";
const STAGING_PREFIX = ".runmat-install-";
/** Staging directories and lock files being written, each named for the process that owns it. */
const STAGING_NAME = /^\.runmat-install(?:-|\.lock\.)(\d+)-[A-Za-z0-9]{6}$/;
/** Staging from installers before the pid was in the name: swept once this old. */
const LEGACY_STAGING_NAME = /^\.runmat-install-[A-Za-z0-9]{6}$/;
const LEGACY_STAGING_AGE_MS = 24 * 3600 * 1000;
const LOCK_POLL_MS = 100;
const LOCK_WAIT_MS = 120_000;

/**
 * A new staging directory inside the install directory, named for this process: on the same
 * filesystem, so files move in by rename, and writable whenever the install directory is (its
 * parent need not be: a --dir under a read-only parent works).
 */
export function makeStaging(directory: string): Promise<string> {
  return mkdtemp(join(directory, `${STAGING_PREFIX}${process.pid}-`));
}

/**
 * Removes staging directories (and locks being written) that installers killed without a chance
 * to clean up (kill -9, a power cut) left behind: those whose process is no longer running.
 */
export async function sweepStaleStaging(parent: string): Promise<void> {
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    const owner = STAGING_NAME.exec(name);
    const path = join(parent, name);
    if (owner) {
      if (processIsAlive(Number(owner[1]))) continue;
    } else if (LEGACY_STAGING_NAME.test(name)) {
      const info = await lstat(path).catch(() => null);
      if (!info || Date.now() - info.mtimeMs < LEGACY_STAGING_AGE_MS) continue;
    } else {
      continue;
    }
    await rm(path, { recursive: true, force: true }).catch(() => {});
  }
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** How long a lock without a pid may be an installer between creating and writing it (older installers). */
const EMPTY_LOCK_GRACE_MS = 5_000;

/**
 * Creates the lock with this process's pid already in it: written to a file of its own, then
 * linked into place, which fails when a lock is there. A lock is never seen empty, so a full
 * disk cannot leave one that blocks every later install.
 */
async function createLock(lockPath: string): Promise<boolean> {
  const temporary = `${lockPath}.${process.pid}-${randomBytes(3).toString("hex")}`;
  try {
    await writeFile(temporary, String(process.pid), { flag: "wx" });
    await link(temporary, lockPath);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    // A filesystem without hard links (FAT, some network shares): create it in place instead.
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "ENOSYS") throw error;
    const handle = await open(lockPath, "wx").catch((openError: NodeJS.ErrnoException) => {
      if (openError.code === "EEXIST") return null;
      throw openError;
    });
    if (!handle) return false;
    try {
      await handle.writeFile(String(process.pid));
    } catch (writeError) {
      await handle.close();
      await rm(lockPath, { force: true });
      throw writeError;
    }
    await handle.close();
    return true;
  } finally {
    await rm(temporary, { force: true });
  }
}

/** Takes the install directory's lock, waiting for a live holder and breaking a dead one's. */
export async function acquireLock(directory: string, signal: AbortSignal): Promise<() => Promise<void>> {
  const lockPath = join(directory, LOCK_NAME);
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    if (await createLock(lockPath)) return () => rm(lockPath, { force: true });
    const text = await readRegularFile(lockPath, 64).catch(async (error: Error) => {
      // A FIFO or socket where our lock belongs is no lock of ours: it would only stall us.
      if (error instanceof NotRegularFileError) await unlink(lockPath).catch(() => {});
      return null;
    });
    const holder = Number.parseInt(text ?? "", 10);
    const dead = Number.isInteger(holder) && holder > 0 && !processIsAlive(holder);
    // An empty lock is an older installer between open() and write(), or one a full disk left.
    const age = await lstat(lockPath).then(
      (info) => Date.now() - info.mtimeMs,
      () => 0,
    );
    if (dead || (text === "" && age > EMPTY_LOCK_GRACE_MS)) {
      await rm(lockPath, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new InstallError(
        "filesystem",
        `Another runmat-install (pid ${holder || "unknown"}) is installing into ${directory}.`,
        `Wait for it to finish; if none is running, delete ${lockPath}.`,
      );
    }
    await sleep(LOCK_POLL_MS, signal);
  }
}

interface PlacedFile {
  target: string;
  backup?: string;
}

export interface Placement {
  /** Keeps the new files and deletes the old ones. */
  commit(): Promise<void>;
  /** Restores exactly what was there before. */
  rollback(): Promise<void>;
}

/**
 * Moves `names` from the staging directory into `directory`, and `retired` (files of the earlier
 * install that the new release no longer has) out of it: the old files are kept aside until
 * commit, so a rollback puts back exactly the earlier install.
 */
export async function placeFiles(
  sourceDirectory: string,
  names: string[],
  directory: string,
  retired: string[] = [],
): Promise<Placement> {
  await removeLeftoverBackups(directory);
  const id = `${process.pid}-${randomBytes(3).toString("hex")}`;
  const placed: PlacedFile[] = [];
  /**
   * Puts back exactly what was there, whatever shape the new files took (a directory where a
   * file was, a file that cannot be removed): every file is attempted, and the first failure is
   * reported only after all of them.
   */
  const rollback = async () => {
    let failure: unknown = null;
    for (const file of placed.reverse()) {
      try {
        await rm(file.target, { recursive: true, force: true });
        if (file.backup) await rename(file.backup, file.target);
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure) throw failure;
  };
  try {
    for (const name of names) {
      const source = join(sourceDirectory, name);
      const target = join(directory, name);
      // Only a regular file is ever made executable or moved into place: never through a link.
      if (!(await lstat(source)).isFile()) {
        throw new InstallError(
          "integrity",
          `Refusing to install ${name}: in the archive it is not a regular file.`,
          "The release archive is unsafe or corrupt; do not install it. Report it to the RunMat maintainers.",
        );
      }
      await chmod(source, 0o755);
      const backup = join(directory, `.${name}.runmat-old-${id}`);
      // Renaming (rather than deleting) the old file also works for a running runmat.exe on Windows.
      const hadOld = await rename(target, backup).then(
        () => true,
        (error: NodeJS.ErrnoException) => {
          if (error.code === "ENOENT") return false;
          throw error;
        },
      );
      placed.push({ target, backup: hadOld ? backup : undefined });
      await moveInto(source, target, join(directory, `.${name}.runmat-new-${id}`));
    }
    for (const name of retired.filter((old) => !names.includes(old))) {
      const backup = join(directory, `.${name}.runmat-old-${id}`);
      await rename(join(directory, name), backup);
      placed.push({ target: join(directory, name), backup });
    }
  } catch (error) {
    await rollback().catch(() => {});
    throw error;
  }
  return {
    commit: async () => {
      for (const file of placed) if (file.backup) await rm(file.backup, { force: true }).catch(() => {});
    },
    rollback,
  };
}

async function moveInto(source: string, target: string, temporary: string): Promise<void> {
  try {
    await rename(source, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EXDEV") throw error;
    // Staging is on another filesystem: copy beside the target, then rename, so the swap stays atomic.
    await copyFile(source, temporary);
    await chmod(temporary, 0o755);
    await rename(temporary, target);
  }
}

/**
 * Windows cannot delete a running runmat.exe, so earlier backups may linger: clear them. A backup
 * whose original is missing (an installer killed mid-swap) is the only copy, so it is restored instead.
 */
async function removeLeftoverBackups(directory: string): Promise<void> {
  const names = await readdir(directory).catch(() => [] as string[]);
  for (const name of names) {
    const match = /^\.(.+)\.runmat-(?:old|new)-\d+-[0-9a-f]+$/.exec(name);
    if (!match) continue;
    const leftover = join(directory, name);
    if (name.includes(".runmat-old-") && !names.includes(match[1])) {
      await rename(leftover, join(directory, match[1])).catch(() => {});
    } else {
      await unlink(leftover).catch(() => {});
    }
  }
}

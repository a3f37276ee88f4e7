// Checks made before anything is downloaded, so an install that could not be written anyway
// fails fast with a clear message.
import { existsSync } from "node:fs";
import { access, constants, stat } from "node:fs/promises";
import { delimiter } from "node:path";
import { InstallError } from "../errors.js";
import type { InstallOptions } from "../options.js";

/** Fails when HOME, ~/.runmat or the install directory cannot take the install. */
export async function checkWritableLocations(options: InstallOptions): Promise<void> {
  if (!options.home) {
    throw new InstallError(
      "filesystem",
      "HOME is not set, so there is nowhere to keep the receipt and PATH setup.",
      "Set HOME to your home directory (for example HOME=/home/you), then run the installer again.",
    );
  }
  const home = await stat(options.home).catch(() => null);
  if (!home?.isDirectory()) {
    const variable = process.platform === "win32" ? "USERPROFILE" : "HOME";
    throw new InstallError(
      "filesystem",
      `The home directory ${options.home} ${home ? "is not a directory" : "does not exist"}.`,
      `${variable} is set to ${options.home}: create that directory, or set ${variable} to your real home directory, then run the installer again.`,
    );
  }
  // `sudo` without -H keeps the user's HOME: files made there as root would lock its owner out
  // of updating or uninstalling (as rustup and Homebrew, refuse). Root's own HOME is fine.
  const uid = process.getuid?.();
  if (uid === 0 && home.uid !== 0) {
    throw new InstallError(
      "filesystem",
      `Running as root (sudo?) with HOME=${options.home}, which belongs to another user (uid ${home.uid}): what it wrote there would be owned by root, and that user could not update or uninstall RunMat.`,
      "Run the installer without sudo: it needs no admin rights. To install for root itself, use sudo -H (or su -).",
    );
  }
  const runmatHome = await stat(options.runmatHome).catch(() => null);
  if (runmatHome && !runmatHome.isDirectory()) {
    throw new InstallError(
      "filesystem",
      `${options.runmatHome} exists but is a file; the installer keeps its settings in that directory.`,
      `Move or delete ${options.runmatHome}, then run the installer again.`,
    );
  }
  // A directory with PATH's separator in its name can never be an entry of PATH.
  if (options.modifyPath && options.dir.includes(delimiter)) {
    throw new InstallError(
      "usage",
      `The install directory ${options.dir} contains "${delimiter}", which separates PATH entries, so it can never be on PATH.`,
      `Choose a directory without "${delimiter}", or pass --no-modify-path and run runmat by its full path.`,
    );
  }
  const dir = await stat(options.dir).catch(() => null);
  if (dir && !dir.isDirectory()) {
    throw new InstallError(
      "filesystem",
      `The install directory ${options.dir} exists but is a file.`,
      "Pass a directory with --dir, or move that file away.",
    );
  }
  if (dir && !options.dryRun) {
    await access(options.dir, constants.W_OK).catch((error: NodeJS.ErrnoException) => {
      throw new InstallError(
        "filesystem",
        error.code === "EROFS"
          ? `Cannot write to ${options.dir}: it is on a read-only filesystem.`
          : `Permission denied: cannot write to ${options.dir}.`,
        "Choose a directory you own with --dir (for example ~/.local/bin), or fix its permissions.",
      );
    });
  }
}

/** ~/.runmat holds the receipt and ~/.runmat/env; a read-only HOME cannot take either. */
export async function canRecordInHome(options: InstallOptions): Promise<boolean> {
  const where = existsSync(options.runmatHome) ? options.runmatHome : options.home;
  return access(where, constants.W_OK).then(
    () => true,
    () => false,
  );
}

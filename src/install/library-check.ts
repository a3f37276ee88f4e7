// Before the new RunMat replaces anything, asks this system's dynamic loader in trace mode (as
// ldd does: the binary's own code never runs) whether every library and glibc version the
// binary needs is here. What is missing is named, all of it, with the command that installs it
// on this distribution; nothing is placed and an earlier install stays as it was.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { InstallError } from "../errors.js";
import {
  elfInterpreter,
  installCommand,
  libraryFamilies,
  listOf,
  neededGlibc,
  type OsRelease,
  parseLoaderTrace,
  parseOsRelease,
} from "../platform/system-libraries.js";
import type { Tag } from "../release/versions.js";

/** The loader's own paths: a binary naming another interpreter is not run here (the smoke test decides). */
const SYSTEM_LOADER = /^\/(usr\/)?lib(64|32|x32)?\/[^/]+(\/[^/]+)?$/;

export const BUILD_FROM_SOURCE = "https://github.com/runmat-org/runmat#building-from-source";

/** What to do once the libraries are there, at install time: also, that RunMat can be placed now. */
const INSTALL_AGAIN =
  "and run the installer again, or pass --skip-smoke-test to install it now and add them later";

export async function checkSystemLibraries(
  binary: string,
  tag: Tag | null,
  timeoutMs: number,
  signal: AbortSignal,
  /** What the hint says to do once the libraries are installed. */
  afterwards = INSTALL_AGAIN,
): Promise<void> {
  const interpreter = elfInterpreter(await head(binary, 64 * 1024));
  if (!interpreter || !SYSTEM_LOADER.test(interpreter)) return;
  const name = tag ? `RunMat ${tag}` : "RunMat";
  if (!existsSync(interpreter)) {
    throw new InstallError(
      "verification",
      `${name} cannot start here: its dynamic loader ${interpreter} is missing (a musl system such as Alpine, or another architecture's build).`,
      `RunMat publishes glibc builds only: use a glibc distribution, or build from source: ${BUILD_FROM_SOURCE}`,
    );
  }
  const trace = await loaderTrace(interpreter, binary, timeoutMs, signal);
  if (trace === null) return;
  const { missingLibraries, missingVersions } = parseLoaderTrace(trace);
  const os = await osRelease();
  const glibc = neededGlibc({ missingLibraries, missingVersions });
  if (glibc) {
    const present = glibcVersion();
    throw new InstallError(
      "verification",
      `${name} needs glibc ${glibc}; this machine has ${present ? `glibc ${present}` : "an older one"}${os?.prettyName ? ` (${os.prettyName})` : ""}.`,
      `Use a newer distribution (one with glibc ${glibc} or later), or build RunMat from source: ${BUILD_FROM_SOURCE}`,
    );
  }
  const missing = [...missingLibraries, ...missingVersions.map((v) => `${v.library} with ${v.version}`)];
  if (missing.length === 0) return;
  const families = libraryFamilies(missingLibraries);
  const command = os ? installCommand(missingLibraries, os) : null;
  throw new InstallError(
    "verification",
    `${name} needs ${missing.length === 1 ? "a system library" : "system libraries"} this machine does not have: ${listOf(missing)}${families.length ? ` (${listOf(families)})` : ""}.`,
    command
      ? `Install them with \`${command}\` ${afterwards}.`
      : `Install the packages that provide them with your distribution's package manager ${afterwards}.`,
  );
}

async function head(path: string, bytes: number): Promise<Buffer> {
  const file = await open(path, "r");
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await file.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

/** The loader's trace of the binary, or null when the loader could not give one. */
function loaderTrace(
  interpreter: string,
  binary: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<string | null> {
  return new Promise((resolve, reject) => {
    execFile(
      interpreter,
      [binary],
      {
        env: { ...process.env, LD_TRACE_LOADED_OBJECTS: "1", LD_VERBOSE: "1" },
        timeout: timeoutMs,
        killSignal: "SIGKILL",
        encoding: "utf8",
        signal,
        maxBuffer: 1024 * 1024,
      },
      (error, stdout) => {
        if (signal.aborted) return reject(signal.reason);
        resolve(error && !stdout ? null : stdout);
      },
    );
  });
}

async function osRelease(): Promise<OsRelease | null> {
  for (const path of ["/etc/os-release", "/usr/lib/os-release"]) {
    const text = await readFile(path, "utf8").catch(() => null);
    if (text !== null) return parseOsRelease(text);
  }
  return null;
}

/** This machine's glibc, as Node's own diagnostic report reads it. */
function glibcVersion(): string | null {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime ?? null;
}

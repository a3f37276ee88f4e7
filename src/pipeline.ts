// The install, top to bottom: detect → resolve → download → verify → extract → place →
// smoke-test → PATH → receipt. Each step takes the previous one's plain result. Errors
// propagate to main.ts, the single place that reports them and sends install_failed.
import { existsSync } from "node:fs";
import { access, constants, mkdir, mkdtemp, readdir, readFile, rm, rmdir, stat } from "node:fs/promises";
import { basename, delimiter, dirname, join, relative } from "node:path";
import {
  archiveKindOf,
  extractArchive,
  locateRelease,
  TarExtraction,
  type UnpackedRelease,
} from "./archive.js";
import type { InstallOptions } from "./cli.js";
import { type DownloadSink, download, openFileSink } from "./download.js";
import { InstallError } from "./errors.js";
import { fetchChecksumFile, fetchRelease } from "./github.js";
import { createHttpClient, type HttpClient } from "./http.js";
import { acquireLock, placeFiles } from "./place.js";
import { describeHost, type PlatformProbes, resolveTarget, type Target } from "./platform.js";
import {
  mergePathEdits,
  type PathEdit,
  RECEIPT_SCHEMA,
  type Receipt,
  readReceipt,
  writeReceipt,
} from "./receipt.js";
import {
  type AssetChoice,
  findChecksumAsset,
  parseChecksumList,
  parseDigest,
  type ReleaseAsset,
  selectAsset,
  tagFromArchiveName,
  versionOfTag,
} from "./release.js";
import { addToUnixPath, directoriesBetween, type PathOutcome } from "./shell-path.js";
import { smokeTest } from "./smoke.js";
import type { Telemetry } from "./telemetry/client.js";
import type { Ui } from "./ui.js";
import { VERSION } from "./version.js";
import { addToWindowsPath } from "./windows-path.js";

export interface InstallDeps {
  probes: PlatformProbes;
  ui: Ui;
  telemetry: Telemetry;
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
}

export interface InstallResult {
  ok: true;
  version: string;
  platform: string;
  path: string;
  files: string[];
  pathEdits: PathEdit[];
  alreadyInstalled: boolean;
  dryRun: boolean;
}

/** Where the archive comes from and what it must hash to. */
interface Source {
  tag: string | null;
  platform: string;
  assetName: string;
  /** A URL to download, or a local file for --archive. */
  location: { url: URL; size?: number } | { file: string };
  sha256: string | null;
}

export async function install(requested: InstallOptions, deps: InstallDeps): Promise<InstallResult> {
  let options = requested;
  // A read-only HOME still gets RunMat, just without PATH edits or a receipt.
  let recordReceipt = true;
  const { ui, telemetry, signal } = deps;
  Object.assign(telemetry.facts, describeHost(deps.probes));
  const target = resolveTarget(deps.probes);
  telemetry.facts.platform = target.platform;

  const http = options.archive ? null : await createHttpClient(httpSettings(options, deps));
  try {
    // install_start goes out as soon as the tag is known, so every later failure carries it.
    const resolved = (tag: string | null, platform: string) => {
      telemetry.facts.release = tag ?? "unknown";
      telemetry.facts.platform = platform;
      telemetry.start();
    };
    const source = http
      ? await resolveFromRelease(options, target, http, ui, resolved)
      : await resolveFromArchive(options, target, ui, resolved);
    // Checked after resolution so that install_failed still carries the release tag.
    await checkWritableLocations(options);
    if (!options.dryRun && !(await canRecordInHome(options))) {
      ui.warn(
        `${options.home} is read-only: installing without PATH edits or a receipt (update and uninstall will not know about this install).`,
      );
      options = { ...options, modifyPath: false };
      recordReceipt = false;
    }

    const binaryPath = join(options.dir, target.binaryName);
    const previous = await readReceipt(options.runmatHome);
    const sameInstall =
      previous.state === "ok" &&
      source.tag !== null &&
      previous.receipt.version === source.tag &&
      previous.receipt.dir === options.dir &&
      existsSync(binaryPath);

    if (options.dryRun) return await describePlan(options, target, source, binaryPath, deps);

    if (sameInstall && !options.force) {
      ui.info(`RunMat ${source.tag} is already installed in ${options.dir} (use --force to reinstall).`);
      const edits = await addToPath(options, target, deps, false);
      const receipt = {
        ...previous.receipt,
        pathEdits: mergePathEdits(previous.receipt.pathEdits, edits.edits),
      };
      if (edits.changed.length > 0) await writeReceipt(options.runmatHome, receipt);
      reportPath(options, target, edits, ui);
      return result(receipt, binaryPath, true, false);
    }

    const createdDir = await mkdir(options.dir, { recursive: true });
    const staging = await mkdtemp(join(dirname(options.dir), ".runmat-install-"));
    let committed = false;
    try {
      const unpacked = await fetchAndUnpack(source, staging, http, deps);
      const release = await locateRelease(unpacked, target.binaryName);
      signal.throwIfAborted();
      const unlock = await acquireLock(options.dir, signal);
      try {
        const version = await placeAndVerify(release, options, source, binaryPath, signal);
        committed = true;
        // From here on the new install is kept: PATH edits and the receipt run to the end
        // even if a signal arrives (main.ts only aborts; nothing below watches the signal).
        const edits = await addToPath(options, target, deps, false);
        const receipt = newReceipt(options, source.platform, version, release.files, {
          earlier: previous.state === "ok" && previous.receipt.dir === options.dir ? previous.receipt : null,
          createdDirs: [
            ...(createdDir ? directoriesBetween(createdDir, options.dir) : []),
            ...edits.createdDirs,
          ],
          pathEdits: edits.edits,
        });
        if (recordReceipt) {
          // The new RunMat is in place and working; a receipt that cannot be written is a warning.
          await writeReceipt(options.runmatHome, receipt).catch((error: NodeJS.ErrnoException) =>
            ui.warn(
              `Could not write the install receipt (${error.code ?? error.message}); update and uninstall will not know about this install.`,
            ),
          );
        }
        ui.result(`Installed RunMat ${version} to ${binaryPath}`);
        reportPath(options, target, edits, ui);
        return result(receipt, binaryPath, false, false);
      } finally {
        await unlock();
      }
    } finally {
      // An aborted extraction can still be closing files: retry rather than leave staging behind.
      await rm(staging, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
      if (!committed && createdDir) await removeEmptyDirectories(options.dir, createdDir);
    }
  } finally {
    await http?.dispatcher.close().catch(() => {});
  }
}

/**
 * Gets the archive's bytes, checks their SHA-256 and unpacks them into staging/unpacked.
 * A downloaded .tar.gz is unpacked while it arrives, overlapping the two; the unpacked files
 * are used only once the whole archive's SHA-256 has matched, and are thrown away otherwise.
 */
async function fetchAndUnpack(
  source: Source,
  staging: string,
  http: HttpClient | null,
  { ui, signal }: InstallDeps,
): Promise<string> {
  const unpacked = join(staging, "unpacked");
  await mkdir(unpacked);
  const kind = archiveKindOf(source.assetName)!;
  if ("file" in source.location) {
    if (source.sha256) verifyChecksum(source, await hashFile(source.location.file));
    ui.info(`Unpacking ${source.assetName}...`);
    await extractArchive(source.location.file, kind, unpacked, signal);
    return unpacked;
  }
  const archive = join(staging, source.assetName);
  let tar = kind === "tar.gz" ? await TarExtraction.start(unpacked) : null;
  const file = tar ? null : await openFileSink(archive);
  const sink: DownloadSink = tar
    ? {
        write: (chunk) => tar!.write(chunk),
        restart: async () => {
          tar!.abort(new Error("the download restarted"));
          await tar!.settled();
          await rm(unpacked, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
          await mkdir(unpacked);
          tar = await TarExtraction.start(unpacked);
        },
      }
    : file!;
  const progress = await ui.progress(`Downloading ${source.assetName}`);
  try {
    const { sha256 } = await download(
      http!,
      source.location.url,
      source.location.size,
      progress.update,
      sink,
    );
    progress.done();
    verifyChecksum(source, sha256);
  } catch (error) {
    progress.fail();
    tar?.abort(error);
    await tar?.settled();
    throw error;
  } finally {
    await file?.close();
  }
  if (tar) {
    await tar.end();
  } else {
    ui.info(`Unpacking ${source.assetName}...`);
    await extractArchive(archive, kind, unpacked, signal);
  }
  return unpacked;
}

/**
 * Swaps the new files in and runs `runmat --version`; on any failure the previous files are
 * restored. Returns the version that was installed.
 */
async function placeAndVerify(
  release: UnpackedRelease,
  options: InstallOptions,
  source: Source,
  binaryPath: string,
  signal: AbortSignal,
): Promise<string> {
  const placement = await placeFiles(release.directory, release.files, options.dir);
  try {
    const expected = source.tag ? versionOfTag(source.tag) : null;
    const smoke = await smokeTest(binaryPath, expected, options.smokeTimeoutMs);
    signal.throwIfAborted();
    await placement.commit();
    return source.tag ?? versionFromOutput(smoke.output);
  } catch (error) {
    await placement.rollback();
    throw error;
  }
}

/** The receipt of this install; what an earlier install into the same directory recorded is kept. */
function newReceipt(
  options: InstallOptions,
  platform: string,
  version: string,
  files: string[],
  made: { earlier: Receipt | null; createdDirs: string[]; pathEdits: PathEdit[] },
): Receipt {
  return {
    schema: RECEIPT_SCHEMA,
    installer: VERSION,
    version,
    platform,
    dir: options.dir,
    files: files.map((name) => join(options.dir, name)),
    pathEdits: mergePathEdits(made.earlier?.pathEdits ?? [], made.pathEdits),
    modifyPath: options.modifyPath,
    createdDirs: [...(made.earlier?.createdDirs ?? []), ...made.createdDirs],
    method: options.method,
    installedAt: new Date().toISOString(),
  };
}

function httpSettings(options: InstallOptions, deps: InstallDeps) {
  const apiOrigin = new URL(options.apiUrl).origin;
  return {
    apiOrigin,
    token: options.token,
    timeoutMs: options.timeoutMs,
    signal: deps.signal,
    debug: (message: string) => deps.ui.debug(message),
  };
}

/** ~/.runmat holds the receipt and ~/.runmat/env; a read-only HOME cannot take either. */
async function canRecordInHome(options: InstallOptions): Promise<boolean> {
  const where = existsSync(options.runmatHome) ? options.runmatHome : options.home;
  return access(where, constants.W_OK).then(
    () => true,
    () => false,
  );
}

/** Fails before any download when the install could not be written anyway. */
async function checkWritableLocations(options: InstallOptions): Promise<void> {
  if (!options.home) {
    throw new InstallError(
      "filesystem",
      "HOME is not set, so there is nowhere to keep the receipt and PATH setup.",
      "Set HOME to your home directory (for example HOME=/home/you), then run the installer again.",
    );
  }
  const home = await stat(options.home).catch(() => null);
  if (!home?.isDirectory()) {
    throw new InstallError(
      "filesystem",
      `The home directory ${options.home} does not exist.`,
      "Set HOME to your home directory (USERPROFILE on Windows), then run the installer again.",
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
  const dir = await stat(options.dir).catch(() => null);
  if (dir && !dir.isDirectory()) {
    throw new InstallError(
      "filesystem",
      `The install directory ${options.dir} exists but is a file.`,
      "Pass a directory with --dir, or move that file away.",
    );
  }
  if (dir && !options.dryRun) {
    await access(options.dir, constants.W_OK).catch(() => {
      throw new InstallError(
        "filesystem",
        `Permission denied: cannot write to ${options.dir}.`,
        "Choose a directory you own with --dir (for example ~/.local/bin), or fix its permissions.",
      );
    });
  }
}

async function resolveFromRelease(
  options: InstallOptions,
  target: Target,
  http: HttpClient,
  ui: Ui,
  resolved: (tag: string | null, platform: string) => void,
): Promise<Source> {
  const release = await fetchRelease(http, options.apiUrl, options.repo, options.version);
  let choice: AssetChoice;
  try {
    choice = selectAsset(release, target);
  } catch (error) {
    resolved(release.tag_name, target.platform);
    throw error;
  }
  resolved(release.tag_name, choice.platform);
  if (choice.usedFallback) {
    ui.warn(
      `No ${target.platform} build in ${release.tag_name}; installing the ${choice.platform} build (runs under emulation).`,
    );
  }
  const sha256 = await publishedChecksum(http, release.assets, choice.asset, options.requireChecksum, ui);
  return {
    tag: release.tag_name,
    platform: choice.platform,
    assetName: choice.asset.name,
    location: {
      url: new URL(choice.asset.browser_download_url),
      size: typeof choice.asset.size === "number" ? choice.asset.size : undefined,
    },
    sha256,
  };
}

async function publishedChecksum(
  http: HttpClient,
  assets: ReleaseAsset[],
  asset: ReleaseAsset,
  required: boolean,
  ui: Ui,
): Promise<string | null> {
  const fromDigest = parseDigest(asset.digest, asset.name);
  if (fromDigest) return fromDigest;
  const checksumAsset = findChecksumAsset({ tag_name: "", assets }, asset.name);
  if (checksumAsset) {
    const listed = parseChecksumList(await fetchChecksumFile(http, checksumAsset), asset.name);
    if (listed) return listed;
  }
  return missingChecksum(asset.name, required, ui);
}

function missingChecksum(assetName: string, required: boolean, ui: Ui): null {
  if (required) {
    throw new InstallError(
      "integrity",
      `No SHA-256 checksum is published for ${assetName}, and --require-checksum is set.`,
      "Install without --require-checksum to accept an unverified download, or ask the maintainers to publish checksums.",
    );
  }
  ui.warn(`No SHA-256 checksum is published for ${assetName}; installing it unverified.`);
  return null;
}

async function resolveFromArchive(
  options: InstallOptions,
  target: Target,
  ui: Ui,
  resolved: (tag: string | null, platform: string) => void,
): Promise<Source> {
  const file = options.archive!;
  const assetName = basename(file);
  const tag = tagFromArchiveName(assetName) ?? (options.version || null);
  resolved(tag, target.platform);
  const info = await stat(file).catch(() => null);
  if (!info?.isFile()) {
    throw new InstallError(
      "usage",
      `The archive ${file} does not exist.`,
      "Pass the path of a downloaded release archive.",
    );
  }
  if (!archiveKindOf(assetName)) {
    throw new InstallError(
      "usage",
      `${assetName} is not a .tar.gz or .zip archive.`,
      "Pass a RunMat release archive.",
    );
  }
  // An air-gapped user can copy SHA256SUMS (or <archive>.sha256) next to the archive.
  let sha256: string | null = null;
  for (const name of ["SHA256SUMS", `${assetName}.sha256`]) {
    const text = await readFile(join(dirname(file), name), "utf8").catch(() => null);
    sha256 = text === null ? null : parseChecksumList(text, assetName);
    if (sha256) break;
  }
  if (!sha256) missingChecksum(assetName, options.requireChecksum, ui);
  return { tag, platform: target.platform, assetName, location: { file }, sha256 };
}

function verifyChecksum(source: Source, actual: string): void {
  if (source.sha256 && source.sha256 !== actual) {
    throw new InstallError(
      "integrity",
      `Checksum mismatch for ${source.assetName}: expected ${source.sha256}, got ${actual}.`,
      "The download was corrupted or tampered with, and nothing was installed. Run again; if it repeats, report it.",
    );
  }
}

async function hashFile(file: string): Promise<string> {
  const { createHash } = await import("node:crypto");
  const { createReadStream } = await import("node:fs");
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

function versionFromOutput(output: string): string {
  const match = /\d+\.\d+\.\d+[0-9A-Za-z.+-]*/.exec(output);
  return match ? `v${match[0]}` : "unknown";
}

function isOnPath(directory: string, env: NodeJS.ProcessEnv): boolean {
  const entries = (env.PATH ?? env.Path ?? "").split(delimiter);
  return entries.some((entry) => entry !== "" && relative(entry, directory) === "");
}

async function addToPath(options: InstallOptions, target: Target, deps: InstallDeps, dryRun: boolean) {
  const none: PathOutcome = { edits: [], changed: [], warnings: [], createdDirs: [] };
  if (!options.modifyPath) return none;
  if (target.os === "windows") return addToWindowsPath(options.dir, dryRun);
  if (isOnPath(options.dir, deps.env)) return none;
  return addToUnixPath(options.dir, options.home, deps.env, dryRun);
}

function reportPath(options: InstallOptions, target: Target, outcome: PathOutcome, ui: Ui): void {
  for (const warning of outcome.warnings) ui.warn(warning);
  if (!options.modifyPath) {
    ui.info(`PATH was not changed (--no-modify-path). Add ${options.dir} to PATH to run runmat.`);
    return;
  }
  if (outcome.changed.length === 0) {
    ui.info("Run `runmat --version` to check it.");
    return;
  }
  // The env files are plumbing; name what the user will recognise: profiles, conf.d, the registry.
  const ownFiles = new Set([join(options.runmatHome, "env"), join(options.runmatHome, "env.fish")]);
  const places = outcome.changed
    .filter((edit) => !(edit.kind === "file" && ownFiles.has(edit.path)))
    .map((edit) => (edit.kind === "registry" ? "your user Path (HKCU\\Environment)" : edit.path));
  if (places.length > 0) ui.info(`Added ${options.dir} to PATH in: ${places.join(", ")}`);
  if (target.os === "windows") {
    ui.info(`Open a new terminal to use runmat, or run now: $env:Path = "${options.dir};$env:Path"`);
  } else {
    ui.info(
      `To use runmat in this shell now, run:  . "${join(options.runmatHome, "env")}"   (fish: source "${join(options.runmatHome, "env.fish")}")`,
    );
  }
}

async function describePlan(
  options: InstallOptions,
  target: Target,
  source: Source,
  binaryPath: string,
  deps: InstallDeps,
): Promise<InstallResult> {
  const edits = await addToPath(options, target, deps, true);
  const from = "url" in source.location ? source.location.url.href : source.location.file;
  const lines = [
    "Dry run: nothing will be downloaded or written.",
    `  version:   ${source.tag ?? "(read from the archive)"}`,
    `  platform:  ${source.platform}`,
    `  asset:     ${source.assetName}`,
    `  from:      ${from}`,
    `  sha256:    ${source.sha256 ?? "(none published)"}`,
    `  install:   ${binaryPath}`,
    `  PATH:      ${edits.changed.length ? edits.changed.map(describeEdit).join("; ") : "no changes"}`,
  ];
  deps.ui.result(lines.join("\n"));
  return {
    ok: true,
    version: source.tag ?? "unknown",
    platform: source.platform,
    path: binaryPath,
    files: [binaryPath],
    pathEdits: edits.changed,
    alreadyInstalled: false,
    dryRun: true,
  };
}

function describeEdit(edit: PathEdit): string {
  if (edit.kind === "registry") return `prepend ${edit.entry} to ${edit.key}\\${edit.name}`;
  if (edit.kind === "line") return `append to ${edit.path}: ${edit.line}`;
  return `write ${edit.path}`;
}

function result(
  receipt: Receipt,
  binaryPath: string,
  alreadyInstalled: boolean,
  dryRun: boolean,
): InstallResult {
  return {
    ok: true,
    version: receipt.version,
    platform: receipt.platform,
    path: binaryPath,
    files: receipt.files,
    pathEdits: receipt.pathEdits,
    alreadyInstalled,
    dryRun,
  };
}

/** Undoes `mkdir -p` for directories that are still empty, from the install dir up to the first one created. */
async function removeEmptyDirectories(directory: string, firstCreated: string): Promise<void> {
  let current = directory;
  for (;;) {
    if ((await readdir(current).catch(() => ["?"])).length > 0) return;
    await rmdir(current).catch(() => {});
    if (current === firstCreated || dirname(current) === current) return;
    current = dirname(current);
  }
}

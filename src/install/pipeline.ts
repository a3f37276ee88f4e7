// The install, top to bottom: detect → resolve → preflight → download+verify+unpack → lock →
// place+smoke-test → PATH → receipt. It installs and nothing else: what it learns goes to the
// observer, what it did comes back as a summary, and errors propagate to cli/install-command.ts, the
// single place that reports them and sends install_failed.
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { locateRelease } from "../archive/extract.js";
import { InstallError, toInstallError } from "../errors.js";
import { makeDirectories } from "../fs-atomic.js";
import type { InstallOptions } from "../options.js";
import { isOnPath, shadowingBinary } from "../paths/plan.js";
import { directoriesBetween, type PathOutcome } from "../paths/unix.js";
import { describeHost, type PlatformProbes, resolveTarget } from "../platform/resolve.js";
import { decideProvenance, startAttestationLookup } from "../provenance/check.js";
import type { Release } from "../release/assets.js";
import { gitHubClient } from "../release/github.js";
import { resolveSource } from "../release/resolve.js";
import { addToPath, newReceipt, placeAndVerify, removeEmptyDirectories, rollBack } from "./activate.js";
import { fetchAndUnpack } from "./fetch-unpack.js";
import { checkSystemLibraries } from "./library-check.js";
import { canRecordInHome, checkWritableLocations } from "./preflight.js";
import {
  digestFile,
  distrustReceipt,
  isStillPlaced,
  mergePathEdits,
  type PlacedFile,
  type Receipt,
  readReceipt,
  writeReceipt,
} from "./receipt.js";
import { acquireLock, makeStaging, sweepStaleStaging } from "./swap.js";
import type { InstallObserver, InstallOutcome, InstallSummary, StepUnderWay } from "./types.js";

export interface InstallDeps {
  probes: PlatformProbes;
  observer: InstallObserver;
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
  /** A release already fetched (by `update`), so it is not looked up again. */
  release?: Release;
}

export async function install(options: InstallOptions, deps: InstallDeps): Promise<InstallSummary> {
  const { observer, signal } = deps;
  observer.hostDetected(describeHost(deps.probes));
  const target = resolveTarget(deps.probes);
  observer.targetResolved(target.platform);
  const http = options.archive ? null : await gitHubClient(options, signal, observer, deps.env);
  const lookupStartedAt = Date.now();
  const startUpMs = Math.round(process.uptime() * 1000);
  try {
    const source = await during(
      http && !deps.release
        ? observer.working(
            `Looking up ${options.tag ? `RunMat ${options.tag}` : "the latest RunMat release"} on ${new URL(options.apiUrl).host}`,
          )
        : null,
      () => resolveSource(options, target, http, observer, deps.release),
    );
    const lookupMs = Date.now() - lookupStartedAt;
    // Checked after resolution so that install_failed still carries the release tag.
    await checkWritableLocations(options);
    // A read-only HOME still gets RunMat, just without PATH edits or a receipt.
    const homeWritable = options.dryRun || (await canRecordInHome(options));
    if (!homeWritable) observer.warning({ kind: "read-only-home", home: options.home });
    const modifyPath = options.modifyPath && homeWritable;
    const binaryPath = join(options.dir, target.binaryName);
    let recordedBefore: Receipt | null = null;
    const summarize = (outcome: InstallOutcome, path: PathOutcome): InstallSummary => ({
      outcome,
      os: target.os,
      home: options.home,
      dir: options.dir,
      runmatHome: options.runmatHome,
      method: options.method,
      shadowedBy: shadowingBinary(
        options.dir,
        target.binaryName,
        deps.env,
        existsSync,
        target.os !== "windows",
      ),
      onPathNow: isOnPath(options.dir, deps.env),
      shell: basename(deps.env.SHELL ?? ""),
      recorded: homeWritable,
      path: {
        changed: path.changed,
        warnings: path.warnings,
        modifyPath,
        leftAlone: !options.modifyPath ? "no-modify-path" : !homeWritable ? "read-only-home" : undefined,
      },
      source,
    });

    if (options.dryRun) {
      const path = await addToPath(options, modifyPath, target, deps.env, true);
      return summarize(
        {
          ok: true,
          version: source.tag ?? "unknown",
          platform: source.platform,
          path: binaryPath,
          files: [binaryPath],
          pathEdits: path.changed,
          alreadyInstalled: false,
          dryRun: true,
        },
        path,
      );
    }

    const previous = await readTrustedReceipt(options);
    const earlier = previous?.dir === options.dir ? previous : null;
    // One receipt records one install: a second one elsewhere would leave the first behind,
    // unknown to update and uninstall.
    const elsewhere = previous && !earlier ? previous : null;
    if (elsewhere && elsewhere.files.length > 0 && existsSync(elsewhere.files[0])) {
      throw new InstallError(
        "usage",
        `RunMat${elsewhere.tag ? ` ${elsewhere.tag}` : ""} is already installed in ${elsewhere.dir}; installing into ${options.dir} as well would leave that one behind.`,
        `Run runmat-install uninstall first to move it, or install into ${elsewhere.dir} (--dir ${elsewhere.dir}).`,
      );
    }
    if (
      earlier &&
      source.tag !== null &&
      earlier.tag === source.tag &&
      existsSync(binaryPath) &&
      !options.force
    ) {
      const path = await addToPath(options, modifyPath, target, deps.env, false);
      const receipt = { ...earlier, pathEdits: mergePathEdits(earlier.pathEdits, path.edits) };
      if (path.changed.length > 0) await writeReceipt(options.runmatHome, receipt);
      return summarize(outcomeOf(receipt, binaryPath, true), path);
    }

    const createdDir = await makeDirectories(options.dir);
    // Earlier installers staged beside the install directory: their leftovers are swept too.
    await sweepStaleStaging(options.dir);
    await sweepStaleStaging(dirname(options.dir));
    const staging = await makeStaging(options.dir);
    let committed = false;
    let unlock: (() => Promise<void>) | undefined;
    try {
      // Looked up while the asset downloads; judged once its bytes are known.
      const attestations = startAttestationLookup(options, source, http);
      const {
        directory: unpacked,
        timing,
        sha256,
      } = await fetchAndUnpack(source, staging, http, observer, signal, options.connections);
      const provenanceStartedAt = Date.now();
      const provenance = await decideProvenance(options, source, sha256, http, attestations, observer);
      if (provenance.status === "unchecked")
        observer.warning({ kind: "provenance-unchecked", reason: provenance.reason });
      observer.debug(
        `provenance: ${provenance.status} (${Date.now() - provenanceStartedAt} ms after the download)`,
      );
      const release = await locateRelease(unpacked, target.binaryName);
      // Hashed for the receipt while the checks below wait on the binary.
      const digests = Promise.all(release.files.map((name) => digestFile(join(release.directory, name))));
      digests.catch(() => {});
      const checking = options.skipSmokeTest
        ? null
        : observer.working(
            `Checking that ${source.tag ? `RunMat ${source.tag}` : "RunMat"} starts on this machine`,
          );
      const checksStartedAt = Date.now();
      const { tag, placement } = await during(checking, async () => {
        // A library or glibc the binary needs and this machine lacks: said before anything is replaced.
        if (target.os === "linux" && !options.skipSmokeTest) {
          const staged = join(release.directory, target.binaryName);
          await checkSystemLibraries(staged, source.tag, options.smokeTimeoutMs, signal);
        }
        signal.throwIfAborted();
        unlock = await acquireLock(options.dir, signal);
        // Read again under the lock: an install that finished while this one downloaded has
        // recorded what it created, and that record must be kept, not overwritten.
        const latest = await readTrustedReceipt(options);
        recordedBefore = latest?.dir === options.dir ? latest : earlier;
        return placeAndVerify(
          release,
          options,
          source,
          binaryPath,
          await filesToRetire(recordedBefore, release.files),
          signal,
          () => {
            committed = true;
            observer.committed();
          },
        );
      });
      observer.debug(
        `timing: start-up ${startUpMs} ms, lookup ${lookupMs} ms${timing ? `, first byte ${timing.firstByteMs} ms, transfer ${timing.transferMs} ms, hash and unpack after the last byte ${timing.tailMs} ms` : ""}, library check, smoke test and placing ${Date.now() - checksStartedAt} ms`,
      );
      // From here on nothing watches the signal (cli/install-command.ts only aborts): the
      // receipt, the commit and the PATH edits run to the end.
      const installDirs = createdDir ? directoriesBetween(createdDir, options.dir) : [];
      const installed = {
        tag,
        platform: source.platform,
        files: release.files,
        digests: [] as PlacedFile[],
        provenance,
      };
      let recorded: Receipt;
      // Recorded before anything is kept: a new RunMat that no receipt lists could be neither
      // updated nor uninstalled, so a receipt that cannot be written undoes the install.
      try {
        installed.digests = await digests;
        const planned = await addToPath(options, modifyPath, target, deps.env, true);
        const receipt = newReceipt(options, modifyPath, installed, {
          earlier: recordedBefore,
          createdDirs: installDirs,
          pathEdits: planned.edits,
        });
        if (homeWritable) {
          await writeReceipt(options.runmatHome, receipt).catch((error: NodeJS.ErrnoException) => {
            throw receiptUnwritable(options, error);
          });
        }
        recorded = receipt;
      } catch (error) {
        await rollBack(placement, error, options.dir);
        throw error;
      }
      await placement.commit();
      const path = await addToPath(options, modifyPath, target, deps.env, false);
      const final = newReceipt(options, modifyPath, installed, {
        earlier: recordedBefore,
        createdDirs: [...installDirs, ...path.createdDirs],
        pathEdits: path.edits,
      });
      // PATH edits that failed, or directories they created: the receipt says what is really there.
      const unchanged = (a: Receipt, b: Receipt) =>
        JSON.stringify({ ...a, installedAt: "" }) === JSON.stringify({ ...b, installedAt: "" });
      if (homeWritable && !unchanged(final, recorded)) {
        await writeReceipt(options.runmatHome, final).catch((error: NodeJS.ErrnoException) =>
          observer.warning({ kind: "receipt-not-updated", reason: error.code ?? error.message }),
        );
      }
      return summarize(outcomeOf(final, binaryPath, false), path);
    } finally {
      await unlock?.();
      // An aborted extraction can still be closing files: retry rather than leave staging behind.
      await rm(staging, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
      if (!committed && createdDir) await removeEmptyDirectories(options.dir, createdDir);
    }
  } finally {
    await http?.dispatcher.close().catch(() => {});
  }
}

/**
 * The receipt in HOME when it may be acted on; an untrusted one is ignored here (this install
 * writes a new one), and update and uninstall refuse it.
 */
async function readTrustedReceipt(options: InstallOptions): Promise<Receipt | null> {
  const read = await readReceipt(options.runmatHome);
  if (read.state !== "ok") return null;
  return distrustReceipt(read.receipt, options) === null ? read.receipt : null;
}

/** The earlier install's files that this release does not have, while they are still as placed. */
async function filesToRetire(earlier: Receipt | null, names: string[]): Promise<string[]> {
  const retired: string[] = [];
  for (const file of earlier?.files ?? []) {
    const name = basename(file);
    if (!names.includes(name) && (await isStillPlaced(file, earlier?.fileDigests[file]))) retired.push(name);
  }
  return retired;
}

function receiptUnwritable(options: InstallOptions, error: NodeJS.ErrnoException): InstallError {
  const why = toInstallError(error);
  return new InstallError(
    "filesystem",
    `Could not write the install receipt in ${options.runmatHome} (${error.code ?? error.message}), so nothing was changed: an install without its receipt could not be updated or uninstalled.`,
    why.kind === "filesystem"
      ? why.hint
      : `Make ${options.runmatHome} writable, then run the installer again.`,
    { cause: error },
  );
}

/** Runs `work` while `step` is said on screen: ticked when it finishes, removed when it fails. */
async function during<T>(step: Promise<StepUnderWay> | null, work: () => Promise<T>): Promise<T> {
  const shown = await step;
  try {
    const result = await work();
    shown?.done();
    return result;
  } finally {
    shown?.stop();
  }
}

function outcomeOf(receipt: Receipt, binaryPath: string, alreadyInstalled: boolean): InstallOutcome {
  return {
    ok: true,
    version: receipt.tag ?? "unknown",
    platform: receipt.platform,
    path: binaryPath,
    files: receipt.files,
    pathEdits: receipt.pathEdits,
    alreadyInstalled,
    dryRun: false,
    provenance: receipt.provenance,
  };
}

// The install, top to bottom: detect → resolve → preflight → download+verify+unpack → lock →
// place+smoke-test → PATH → receipt. It installs and nothing else: what it learns goes to the
// observer, what it did comes back as a summary, and errors propagate to cli/install-command.ts, the
// single place that reports them and sends install_failed.
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { locateRelease } from "../archive/extract.js";
import { InstallError } from "../errors.js";
import { makeDirectories } from "../fs-atomic.js";
import type { InstallOptions } from "../options.js";
import { isOnPath, shadowingBinary } from "../paths/plan.js";
import { directoriesBetween, type PathOutcome } from "../paths/unix.js";
import { describeHost, type PlatformProbes, resolveTarget } from "../platform/resolve.js";
import type { Release } from "../release/assets.js";
import { gitHubClient } from "../release/github.js";
import { resolveSource } from "../release/resolve.js";
import { addToPath, newReceipt, placeAndVerify, removeEmptyDirectories } from "./activate.js";
import { fetchAndUnpack } from "./fetch-unpack.js";
import { checkSystemLibraries } from "./library-check.js";
import { canRecordInHome, checkWritableLocations } from "./preflight.js";
import { mergePathEdits, type Receipt, readReceipt, writeReceipt } from "./receipt.js";
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
  try {
    const source = await during(
      http && !deps.release
        ? observer.working(
            `Looking up ${options.tag ? `RunMat ${options.tag}` : "the latest RunMat release"} on ${new URL(options.apiUrl).host}`,
          )
        : null,
      () => resolveSource(options, target, http, observer, deps.release),
    );
    // Checked after resolution so that install_failed still carries the release tag.
    await checkWritableLocations(options);
    // A read-only HOME still gets RunMat, just without PATH edits or a receipt.
    const homeWritable = options.dryRun || (await canRecordInHome(options));
    if (!homeWritable) observer.warning({ kind: "read-only-home", home: options.home });
    const modifyPath = options.modifyPath && homeWritable;
    const binaryPath = join(options.dir, target.binaryName);
    let recorded = homeWritable;
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
      recorded,
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

    const previous = await readReceipt(options.runmatHome);
    const earlier = previous.state === "ok" && previous.receipt.dir === options.dir ? previous.receipt : null;
    // One receipt records one install: a second one elsewhere would leave the first behind,
    // unknown to update and uninstall.
    const elsewhere = previous.state === "ok" && !earlier ? previous.receipt : null;
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
    await sweepStaleStaging(dirname(options.dir));
    const staging = await makeStaging(dirname(options.dir));
    let committed = false;
    let unlock: (() => Promise<void>) | undefined;
    try {
      const unpacked = await fetchAndUnpack(source, staging, http, observer, signal, options.connections);
      const release = await locateRelease(unpacked, target.binaryName);
      const checking = options.skipSmokeTest
        ? null
        : observer.working(
            `Checking that ${source.tag ? `RunMat ${source.tag}` : "RunMat"} starts on this machine`,
          );
      const tag = await during(checking, async () => {
        // A library or glibc the binary needs and this machine lacks: said before anything is replaced.
        if (target.os === "linux" && !options.skipSmokeTest) {
          const staged = join(release.directory, target.binaryName);
          await checkSystemLibraries(staged, source.tag, options.smokeTimeoutMs, signal);
        }
        signal.throwIfAborted();
        unlock = await acquireLock(options.dir, signal);
        return placeAndVerify(release, options, source, binaryPath, signal, () => {
          committed = true;
          observer.committed();
        });
      });
      // From here on the new install is kept: PATH edits and the receipt run to the end
      // even if a signal arrives (cli/install-command.ts only aborts; nothing below watches the signal).
      const path = await addToPath(options, modifyPath, target, deps.env, false);
      // Read again under the lock: an install that finished while this one downloaded has
      // recorded what it created, and that record must be kept, not overwritten.
      const latest = await readReceipt(options.runmatHome);
      const recordedBefore =
        latest.state === "ok" && latest.receipt.dir === options.dir ? latest.receipt : earlier;
      const receipt = newReceipt(
        options,
        modifyPath,
        { tag, platform: source.platform, files: release.files },
        {
          earlier: recordedBefore,
          createdDirs: [
            ...(createdDir ? directoriesBetween(createdDir, options.dir) : []),
            ...path.createdDirs,
          ],
          pathEdits: path.edits,
        },
      );
      recorded = homeWritable && (await recordReceipt(options, receipt, observer));
      return summarize(outcomeOf(receipt, binaryPath, false), path);
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

/** The new RunMat is in place and working; a receipt that cannot be written is a warning. */
async function recordReceipt(
  options: InstallOptions,
  receipt: Receipt,
  observer: InstallObserver,
): Promise<boolean> {
  return writeReceipt(options.runmatHome, receipt).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      observer.warning({ kind: "receipt-unwritable", reason: error.code ?? error.message });
      return false;
    },
  );
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
  };
}

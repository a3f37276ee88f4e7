// status, update and uninstall: everything they know comes from the install receipt,
// so they never guess what to touch.
import { existsSync, openSync } from "node:fs";
import { readdir, rm, rmdir } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { createInterface } from "node:readline/promises";
import { ReadStream, WriteStream } from "node:tty";
import { EXIT_UPDATE_AVAILABLE } from "../contract.js";
import { InstallError, toInstallError } from "../errors.js";
import { readRegularFile } from "../fs-atomic.js";
import { checkSystemLibraries } from "../install/library-check.js";
import {
  distrustReceipt,
  type Receipt,
  readReceipt,
  receiptPath,
  removableCreatedDirs,
  removeReceipt,
} from "../install/receipt.js";
import { removeInstalledFiles, removePathEdits } from "../install/removal.js";
import { smokeTest } from "../install/smoke.js";
import type { CommonOptions, ReleaseOptions, UpdateOptions } from "../options.js";
import type { PathEdit } from "../paths/plan.js";
import { findOnPath } from "../paths/plan.js";
import { windowsPathHas } from "../paths/windows.js";
import type { Release } from "../release/assets.js";
import {
  fetchRelease,
  gitHubClient,
  latestTagFromPages,
  RateLimitedError,
  releasePagesBase,
} from "../release/github.js";
import { compareVersions, type Tag, versionOfTag } from "../release/versions.js";
import { idPath } from "../telemetry/id.js";
import { resolveConsent, settingsPath } from "../telemetry/settings.js";
import { runInstall } from "./install-command.js";
import { describeProvenance } from "./report.js";
import { Ui } from "./ui.js";

/** What is left to remove by hand, naming only what is there; or that there is nothing. */
function manualRemovalHint(options: CommonOptions): string {
  const left = [join(options.home, ".local", "bin", "runmat"), options.runmatHome].filter(
    (path) => path && existsSync(path),
  );
  if (left.length === 0) return "Nothing to remove: no runmat-install files are in this HOME.";
  return `Remove it by hand: delete ${left.join(" and ")}, and the lines ending in "# added by runmat-install" from your shell profiles.`;
}

/**
 * The receipt, when it may aim deletes and installs; or the reason there is none: not installed
 * (exit 11), or an unreadable or untrusted receipt (exit 6), before anything is touched.
 */
async function loadReceipt(options: CommonOptions, command: "update" | "uninstall"): Promise<Receipt> {
  const read = await readReceipt(options.runmatHome);
  if (read.state === "ok") {
    const problem = distrustReceipt(read.receipt, options);
    if (!problem) return read.receipt;
    throw new InstallError(
      "filesystem",
      `Refusing to ${command}: the receipt ${receiptPath(options.runmatHome)} looks tampered with (${problem}); nothing was changed.`,
      // The untrusted receipt's directory is not repeated back: it may be anyone's.
      `${command === "uninstall" ? `${manualRemovalHint(options)} Or r` : "R"}einstall with \`npx runmat-install --force\` (and the --dir you chose, if any), which writes a sealed receipt, then ${command} again.`,
    );
  }
  if (read.state === "missing") {
    throw new InstallError(
      "not-installed",
      `RunMat is not installed by runmat-install: there is no install receipt at ${receiptPath(options.runmatHome)}.`,
      command === "update"
        ? "Install it with `npx runmat-install` (or curl -fsSL https://runmat.org/install.sh | sh); `runmat-install update` then keeps it current."
        : manualRemovalHint(options),
    );
  }
  throw new InstallError(
    "filesystem",
    `The install receipt ${receiptPath(options.runmatHome)} is unreadable (${read.reason}).`,
    command === "update"
      ? "Reinstall with `npx runmat-install --force`, which writes a new receipt."
      : manualRemovalHint(options),
  );
}

/** The latest release's JSON and ETag, so repeated checks cost nothing against GitHub's rate limit. */
function releaseCachePath(options: CommonOptions): string | undefined {
  return options.runmatHome ? join(options.runmatHome, "latest-release.json") : undefined;
}

/**
 * The latest release: from the API (a conditional request against the cached copy), or, when
 * the API is rate-limited and no token is set, its tag from github.com's release pages (the
 * install that follows then takes the same route).
 */
async function latestRelease(
  options: ReleaseOptions,
  ui: Ui,
  env: NodeJS.ProcessEnv,
  quick = false,
): Promise<{ tag: Tag; release?: Release }> {
  const http = await gitHubClient(
    options,
    new AbortController().signal,
    { debug: (m) => ui.debug(m), retrying: (m) => ui.warn(m) },
    env,
    quick,
  );
  const step = await ui.step(`Looking up the latest RunMat release on ${new URL(options.apiUrl).host}`);
  try {
    const release = await fetchRelease(http, options.apiUrl, options.repo, null, releaseCachePath(options));
    step.done();
    return { tag: release.tag_name, release };
  } catch (error) {
    if (!(error instanceof RateLimitedError)) throw error;
    const tag = await latestTagFromPages(http, releasePagesBase(options.apiUrl), options.repo);
    step.done();
    return { tag };
  } finally {
    step.stop();
    await http.dispatcher.close().catch(() => {});
  }
}

async function editIsInPlace(edit: PathEdit): Promise<boolean> {
  if (edit.kind === "registry") return windowsPathHas(edit.entry);
  if (edit.kind === "file") return existsSync(edit.path);
  const content = await readRegularFile(edit.path).catch(() => null);
  return (content ?? "").split(/\r?\n/).includes(edit.line);
}

/**
 * Whether the installed RunMat starts now (`runmat --version`, bounded by the smoke timeout),
 * and when it does not, the same diagnosis as at install time: on Linux the loader's word on
 * missing libraries and glibc, with the command that installs them.
 */
async function startsNow(
  binary: string,
  receipt: Receipt,
  options: ReleaseOptions,
): Promise<{ starts: boolean; problem?: string; fix?: string }> {
  if (!existsSync(binary)) {
    return { starts: false, problem: `${binary} is missing`, fix: "reinstall with runmat-install --force" };
  }
  const signal = new AbortController().signal;
  const expected = receipt.tag ? versionOfTag(receipt.tag) : null;
  try {
    await smokeTest(binary, expected, options.smokeTimeoutMs, signal);
    return { starts: true };
  } catch (error) {
    const failure = toInstallError(error);
    if (process.platform === "linux") {
      const missing = await checkSystemLibraries(
        binary,
        receipt.tag,
        options.smokeTimeoutMs,
        signal,
        "",
      ).then(
        () => null,
        (diagnosis: unknown) => toInstallError(diagnosis),
      );
      if (missing) return { starts: false, problem: missing.message, fix: missing.hint.replace(/ \.$/, ".") };
    }
    return {
      starts: false,
      problem: failure.message,
      fix: "run `runmat --version` to see its own error, or reinstall with runmat-install --force",
    };
  }
}

/** Newer than what is installed; an install whose tag is unknown is always older. */
function isNewer(latest: Tag, installed: Tag | null): boolean {
  return installed === null || compareVersions(latest, installed) > 0;
}

export async function runStatus(
  options: ReleaseOptions,
  offline: boolean,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const ui = new Ui(options.output, env);
  const read = await readReceipt(options.runmatHome);
  const distrust = read.state === "ok" ? distrustReceipt(read.receipt, options) : null;
  // An untrusted receipt names nothing to run or look at.
  const receipt = read.state === "ok" && !distrust ? read.receipt : null;
  const binary = receipt?.files[0] ?? null;
  const onPath = binary ? findOnPath(basename(binary), env, existsSync) : null;
  const edits = receipt
    ? await Promise.all(receipt.pathEdits.map(async (edit) => ({ edit, inPlace: await editIsInPlace(edit) })))
    : [];
  const consent = await resolveConsent(env, options);
  const start = receipt && binary ? await startsNow(binary, receipt, options) : null;
  const local = {
    installed: receipt !== null,
    version: receipt ? (receipt.tag ?? "unknown") : null,
    path: binary,
    onPath: onPath !== null && binary !== null && resolve(onPath) === resolve(binary),
    shadowedBy: onPath && binary && resolve(onPath) !== resolve(binary) ? onPath : null,
    starts: start?.starts ?? null,
    startProblem: start?.problem ?? null,
    smokeTestAtInstall: receipt?.smokeTest ?? null,
    provenance: receipt?.provenance ?? null,
    pathEdits: edits.map(({ edit, inPlace }) => ({ ...edit, inPlace })),
    telemetry: { enabled: consent.enabled, reason: consent.reason },
    receipt:
      read.state === "corrupt" ? `corrupt: ${read.reason}` : distrust ? `untrusted: ${distrust}` : read.state,
  };
  // What this machine knows is said first; the network's answer (bounded by --timeout) after it.
  if (ui.mode !== "json") {
    const lines = receipt
      ? [
          `RunMat ${local.version} at ${binary}`,
          local.onPath
            ? "runmat on PATH: yes"
            : `runmat on PATH: ${local.shadowedBy ? `no, shadowed by ${local.shadowedBy}` : "no (open a new shell?)"}`,
          start?.starts
            ? "runmat starts: yes"
            : `runmat starts: no: ${start?.problem}${start?.fix ? `\n  fix: ${start.fix}` : ""}`,
          ...(receipt.smokeTest === "skipped" ? ["installed with --skip-smoke-test: not checked then"] : []),
          ...(receipt.provenance ? [describeProvenance(receipt.provenance)] : []),
        ]
      : [`RunMat is not installed by runmat-install (receipt: ${local.receipt}).`];
    for (const { edit, inPlace } of edits) {
      const where = edit.kind === "registry" ? `${edit.key}\\${edit.name}` : edit.path;
      lines.push(`PATH edit ${where}: ${inPlace ? "in place" : "missing"}`);
    }
    lines.push(`telemetry: ${consent.reason}`);
    ui.result(lines.join("\n"));
  }
  const latest = offline
    ? null
    : await latestRelease(options, ui, env, true).then(
        (latest) => latest.tag,
        () => null,
      );
  const updateAvailable = Boolean(receipt && latest && isNewer(latest, receipt.tag));
  if (ui.mode === "json") {
    ui.json({ ...local, latest, updateAvailable });
  } else if (!offline) {
    ui.result(
      `latest release: ${latest ?? "unknown (offline?)"}${updateAvailable ? " (update available: runmat-install update)" : ""}`,
    );
  }
  return 0;
}

export async function runUpdate(
  options: UpdateOptions,
  check: boolean,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const ui = new Ui(options.output, env);
  const receipt = await loadReceipt(options, "update");
  const latest = await latestRelease(options, ui, env);
  const installed = receipt.tag ?? "an unknown version";
  if (!isNewer(latest.tag, receipt.tag)) {
    ui.result(`RunMat ${installed} is already up to date.`);
    return 0;
  }
  if (check) {
    ui.result(`Update available: ${installed} → ${latest.tag}`);
    return EXIT_UPDATE_AVAILABLE;
  }
  // The release just fetched is handed to the install, which does not look it up again.
  return runInstall(
    {
      ...options,
      tag: latest.tag,
      dir: receipt.dir,
      modifyPath: receipt.modifyPath,
      force: false,
      dryRun: false,
    },
    env,
    undefined,
    latest.release,
  );
}

/**
 * Removes the bootstrappers' cache. Run from that cache (the one-liners start the installer
 * there), Windows refuses to delete the running .exe: everything else goes, and its path is
 * returned so that it can be named.
 */
async function removeInstallerCache(cache: string): Promise<string | null> {
  const removed = await rm(cache, { recursive: true, force: true }).then(
    () => true,
    () => false,
  );
  if (removed) return null;
  const running = resolve(process.execPath).toLowerCase();
  let kept: string | null = null;
  const sweep = async (directory: string): Promise<void> => {
    for (const entry of await readdir(directory, { withFileTypes: true }).catch(() => [])) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) {
        await sweep(path);
        await rmdir(path).catch(() => {});
      } else if (resolve(path).toLowerCase() === running) {
        kept = path;
      } else {
        await rm(path, { force: true });
      }
    }
  };
  await sweep(cache);
  await rmdir(cache).catch(() => {});
  return kept;
}

/**
 * Asks on the terminal: stdin when it is one, else the controlling terminal (/dev/tty), as
 * rustup-init.sh does, because `curl … | sh -s -- uninstall` has a pipe for stdin. Null when
 * there is no terminal to ask on at all.
 */
async function confirm(question: string): Promise<boolean | null> {
  let terminal: { input: NodeJS.ReadableStream; output: NodeJS.WritableStream; close(): void } | null = null;
  if (process.stdin.isTTY) {
    terminal = { input: process.stdin, output: process.stderr, close() {} };
  } else if (process.platform !== "win32") {
    let fd: number;
    try {
      fd = openSync("/dev/tty", "r+");
    } catch {
      return null;
    }
    const input = new ReadStream(fd);
    terminal = { input, output: new WriteStream(fd), close: () => input.destroy() };
  }
  if (!terminal) return null;
  const prompt = createInterface({ input: terminal.input, output: terminal.output });
  try {
    return /^y(es)?$/i.test((await prompt.question(`${question} [y/N] `)).trim());
  } finally {
    prompt.close();
    terminal.close();
  }
}

export async function runUninstall(
  options: CommonOptions,
  yes: boolean,
  purge: boolean,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const ui = new Ui(options.output, env);
  const receipt = await loadReceipt(options, "uninstall");
  if (!yes) {
    const answer = await confirm(`Remove RunMat ${receipt.tag ?? "(unknown version)"} from ${receipt.dir}?`);
    if (answer === null) {
      throw new InstallError(
        "usage",
        "Nothing was removed: uninstall asks first, and there is no terminal to ask on.",
        "Run it again with -y to remove RunMat without asking (through the one-liner: sh -s -- uninstall -y).",
      );
    }
    if (!answer) {
      ui.result("Nothing removed.");
      return 0;
    }
  }
  // Lines first: whatever fails after them, every new shell still starts.
  const context = { home: options.home, env };
  let leftovers = await removePathEdits(receipt.pathEdits, context);
  const { removed, kept } = await removeInstalledFiles(receipt);
  // Removing RunMat freed space: a profile a full disk could not rewrite gets a second try.
  if (leftovers.length > 0) leftovers = await removePathEdits(receipt.pathEdits, context);
  leftovers.push(...kept);
  for (const leftover of leftovers) {
    ui.warn(`Left ${leftover.path} (${leftover.why})${leftover.fix ? `; ${leftover.fix}` : ""}.`);
  }
  await removeReceipt(options.runmatHome);
  const releaseCache = releaseCachePath(options);
  if (releaseCache) await rm(releaseCache, { force: true });
  // The bootstrappers' download cache is ours but is not part of an install: kept unless --purge.
  const installerCache = join(options.runmatHome, "installer");
  if (purge) {
    await rm(idPath(options.runmatHome), { force: true });
    await rm(settingsPath(options.runmatHome), { force: true });
    const running = await removeInstallerCache(installerCache);
    if (running)
      ui.info(`Kept ${running}: it is this installer, still running; delete it once this command ends.`);
  } else if (existsSync(installerCache)) {
    ui.info(`Kept the installer cache ${installerCache}; --purge removes it.`);
  }
  // Deepest first, and only when empty: never a directory that holds something else.
  const candidates = [...removableCreatedDirs(receipt, options.home), options.runmatHome].sort(
    (a, b) => b.length - a.length,
  );
  for (const directory of candidates) {
    if ((await readdir(directory).catch(() => ["?"])).length === 0) await rmdir(directory).catch(() => {});
  }
  ui.result(
    `Removed RunMat ${receipt.tag ?? "(unknown version)"} from ${receipt.dir}${purge ? " and purged telemetry data" : ""}${leftovers.length > 0 ? `; ${leftovers.length} left as said above` : ""}.`,
  );
  if (ui.mode === "json") {
    ui.json({
      ok: true,
      removed,
      pathEdits: receipt.pathEdits,
      left: leftovers.map(({ path, why }) => ({ path, why })),
    });
  }
  return 0;
}

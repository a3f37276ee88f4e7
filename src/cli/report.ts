// Renders what an install did into words for the terminal. The install reports facts
// (install/types.ts); every sentence the user reads about them is written here.

import type { InstallSummary, InstallWarning } from "../install/types.js";
import type { PathEdit } from "../paths/plan.js";
import { envFiles, isEnvFile } from "../paths/plan.js";
import type { ProvenanceRecord } from "../provenance/check.js";
import type { Ui } from "./ui.js";

export function describeWarning(warning: InstallWarning): string {
  switch (warning.kind) {
    case "emulated":
      return `No ${warning.wanted} build in ${warning.tag}; installing the ${warning.used} build (runs under emulation).`;
    case "unverified":
      return `No SHA-256 checksum is published for ${warning.assetName}; installing it unverified.`;
    case "read-only-home":
      return `${warning.home} is read-only: installing without PATH edits or a receipt (update and uninstall will not know about this install).`;
    case "api-rate-limited":
      return `GitHub's API is rate-limited and no token is set: installing from ${warning.host}'s release page instead${warning.checksumFrom ? `, verified against ${warning.checksumFrom}` : ", where no checksum is published"}. (GITHUB_TOKEN or GH_TOKEN raises the limit.)`;
    case "receipt-not-updated":
      return `Could not update the install receipt after editing PATH (${warning.reason}): it still lists this install, and PATH edits that did not happen, which uninstall skips.`;
    case "provenance-unchecked":
      return `Could not check where the release was built (${warning.reason}); installing it on its SHA-256 alone. (--provenance require makes this an error.)`;
  }
}

/** One line on where a release was built: for the summary and `status`. */
export function describeProvenance(record: ProvenanceRecord): string {
  switch (record.status) {
    case "verified":
      return `provenance verified: built by ${record.signer}`;
    case "none":
      return "provenance: none published for this release";
    case "off":
      return "provenance: not checked (--provenance off)";
    case "unchecked":
      return `provenance: not checked (${record.reason})`;
  }
}

/** How to run this installer again, for the command that started it. */
const RERUN: Record<string, string> = {
  npx: "npx runmat-install",
  shell: "curl -fsSL https://runmat.org/install.sh | sh -s --",
  powershell: "& ([scriptblock]::Create((iwr https://runmat.org/install.ps1 -UseBasicParsing)))",
};

/** `path` with the home directory shown as ~ (not on Windows, where cmd.exe knows no ~). */
function tilde(path: string, { home, os }: Pick<InstallSummary, "home" | "os">): string {
  if (os === "windows" || !home) return path;
  return path === home ? "~" : path.startsWith(`${home}/`) ? `~${path.slice(home.length)}` : path;
}

export function reportInstall(summary: InstallSummary, ui: Ui): void {
  const { outcome } = summary;
  if (outcome.dryRun) {
    reportPlan(summary, ui);
    return;
  }
  if (outcome.alreadyInstalled) {
    ui.info(
      `RunMat ${outcome.version} is already installed in ${tilde(summary.dir, summary)} (use --force to reinstall).`,
    );
  } else {
    ui.result(`Installed RunMat ${outcome.version} to ${tilde(outcome.path, summary)}`);
    if (outcome.provenance?.status === "verified") ui.info(describeProvenance(outcome.provenance));
  }
  reportPath(summary, ui);
  if (summary.shadowedBy) {
    ui.warn(
      `Another runmat, ${tilde(summary.shadowedBy, summary)}, comes earlier on PATH and runs instead of this one; remove it, or put ${tilde(summary.dir, summary)} earlier in PATH.`,
    );
  }
  if (!outcome.alreadyInstalled && !summary.recorded) {
    ui.info(
      `No install receipt was written, so runmat-install cannot update or uninstall it: delete ${tilde(outcome.path, summary)} to remove it.`,
    );
  } else if (!outcome.alreadyInstalled) {
    // A binary or a checkout runs by its path; an npm install has runmat-install on PATH.
    const rerun =
      RERUN[summary.method] ??
      (summary.method === "binary"
        ? process.execPath
        : summary.method === "source"
          ? `${process.execPath} ${process.argv[1]}`
          : "runmat-install");
    ui.info(`To uninstall: ${rerun} uninstall`);
  }
}

function reportPath(summary: InstallSummary, ui: Ui): void {
  const { path, dir, runmatHome } = summary;
  for (const warning of path.warnings) ui.warn(warning);
  if (!path.modifyPath) {
    const why = path.leftAlone === "read-only-home" ? "HOME is read-only" : "--no-modify-path";
    ui.info(`PATH was not changed (${why}). Add ${tilde(dir, summary)} to PATH to run runmat.`);
    return;
  }
  if (path.changed.length === 0) {
    ui.info(nextStep(summary));
    return;
  }
  // The env files are plumbing; name what the user will recognise: profiles, conf.d, the registry.
  const places = path.changed
    .filter((edit) => !(edit.kind === "file" && isEnvFile(edit.path, runmatHome)))
    .map((edit) =>
      edit.kind === "registry" ? "your user Path (HKCU\\Environment)" : tilde(edit.path, summary),
    );
  if (places.length > 0) ui.info(`Added ${tilde(dir, summary)} to PATH in: ${places.join(", ")}`);
  ui.info(nextStep(summary));
}

/** What to do next, true for the shell that ran the installer: it may not find runmat yet. */
function nextStep({ onPathNow, os, dir, runmatHome, shell }: InstallSummary): string {
  if (onPathNow) return "Run `runmat --version` to check it.";
  if (os === "windows")
    return `Open a new terminal to use runmat, or in this one run: $env:Path = "${dir};$env:Path"`;
  const [env, envFish] = envFiles(runmatHome);
  const now = shell === "fish" ? `source "${envFish}"` : `. "${env}"`;
  return `Open a new terminal to use runmat, or in this one run:  ${now}`;
}

function reportPlan({ outcome, source, path }: InstallSummary, ui: Ui): void {
  const from = !source ? "" : "url" in source.location ? source.location.url.href : source.location.file;
  const lines = [
    "Dry run: nothing will be downloaded or written.",
    `  version:   ${source?.tag ?? "(read from the archive)"}`,
    `  platform:  ${outcome.platform}`,
    `  asset:     ${source?.assetName}`,
    `  from:      ${from}`,
    `  sha256:    ${source?.sha256 ?? "(none published)"}`,
    `  install:   ${outcome.path}`,
    `  PATH:      ${path.changed.length ? path.changed.map(describeEdit).join("; ") : "no changes"}`,
  ];
  ui.result(lines.join("\n"));
}

function describeEdit(edit: PathEdit): string {
  if (edit.kind === "registry") return `prepend ${edit.entry} to ${edit.key}\\${edit.name}`;
  if (edit.kind === "line") return `append to ${edit.path}: ${edit.line}`;
  return `write ${edit.path}`;
}

// Renders what an install did into words for the terminal. The install reports facts
// (install-types.ts); every sentence the user reads about them is written here.
import { join } from "node:path";
import type { InstallSummary, InstallWarning } from "./install-types.js";
import { isEnvFile } from "./path-plan.js";
import type { PathEdit } from "./receipt.js";
import type { Ui } from "./ui.js";

export function describeWarning(warning: InstallWarning): string {
  switch (warning.kind) {
    case "emulated":
      return `No ${warning.wanted} build in ${warning.tag}; installing the ${warning.used} build (runs under emulation).`;
    case "unverified":
      return `No SHA-256 checksum is published for ${warning.assetName}; installing it unverified.`;
    case "read-only-home":
      return `${warning.home} is read-only: installing without PATH edits or a receipt (update and uninstall will not know about this install).`;
    case "receipt-unwritable":
      return `Could not write the install receipt (${warning.reason}); update and uninstall will not know about this install.`;
  }
}

export function reportInstall(summary: InstallSummary, ui: Ui): void {
  const { outcome } = summary;
  if (outcome.dryRun) {
    reportPlan(summary, ui);
    return;
  }
  if (outcome.alreadyInstalled) {
    ui.info(`RunMat ${outcome.version} is already installed in ${summary.dir} (use --force to reinstall).`);
  } else {
    ui.result(`Installed RunMat ${outcome.version} to ${outcome.path}`);
  }
  reportPath(summary, ui);
}

function reportPath({ path, dir, runmatHome, os }: InstallSummary, ui: Ui): void {
  for (const warning of path.warnings) ui.warn(warning);
  if (!path.modifyPath) {
    ui.info(`PATH was not changed (--no-modify-path). Add ${dir} to PATH to run runmat.`);
    return;
  }
  if (path.changed.length === 0) {
    ui.info("Run `runmat --version` to check it.");
    return;
  }
  // The env files are plumbing; name what the user will recognise: profiles, conf.d, the registry.
  const places = path.changed
    .filter((edit) => !(edit.kind === "file" && isEnvFile(edit.path, runmatHome)))
    .map((edit) => (edit.kind === "registry" ? "your user Path (HKCU\\Environment)" : edit.path));
  if (places.length > 0) ui.info(`Added ${dir} to PATH in: ${places.join(", ")}`);
  if (os === "windows") {
    ui.info(`Open a new terminal to use runmat, or run now: $env:Path = "${dir};$env:Path"`);
  } else {
    ui.info(
      `To use runmat in this shell now, run:  . "${join(runmatHome, "env")}"   (fish: source "${join(runmatHome, "env.fish")}")`,
    );
  }
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

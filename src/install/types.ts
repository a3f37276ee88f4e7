// The shapes an install passes between its steps, in a leaf module so that the steps
// (preflight, fetch-unpack, activate, the report) can share them without importing each other.

import type { PathEdit } from "../paths/plan.js";
import type { Host } from "../platform/resolve.js";
import type { ProvenanceRecord } from "../provenance/check.js";
import type { ReleaseObserver, ReleaseWarning, Source } from "../release/resolve.js";

/** Something the user should know that does not stop the install. */
export type InstallWarning =
  | ReleaseWarning
  | { kind: "read-only-home"; home: string }
  | { kind: "receipt-not-updated"; reason: string }
  /** --provenance auto, and the attestation lookup failed: installed on the SHA-256 alone. */
  | { kind: "provenance-unchecked"; reason: string };

/** A step under way that may take more than a second. */
export interface StepUnderWay {
  /** It finished. */
  done(): void;
  /** It ended without finishing (an error follows). */
  stop(): void;
}

export interface DownloadProgress {
  update(received: number, total: number | undefined): void;
  done(): void;
  fail(): void;
}

/**
 * What an install tells whoever runs it, as it happens. cli/install-command.ts turns these into
 * telemetry facts and terminal output; the install itself neither prints nor sends.
 */
export interface InstallObserver extends ReleaseObserver {
  hostDetected(host: Host): void;
  /** The release target this host needs, before any release is looked up. */
  targetResolved(platform: string): void;
  warning(warning: InstallWarning): void;
  downloading(assetName: string): Promise<DownloadProgress>;
  unpacking(assetName: string): void;
  /** The new files passed their smoke test and are kept: from here the install completes. */
  committed(): void;
  /** A step that may take more than a second begins: the release lookup, checking the new binary. */
  working(what: string): Promise<StepUnderWay>;
  /** A request failed in a way that may heal, and is being tried again. */
  retrying(message: string): void;
  debug(message: string): void;
}

export interface PathReport {
  /** What this run changed (or, in a dry run, would change). */
  changed: PathEdit[];
  /** Files that could not be edited, each with what to do by hand. */
  warnings: string[];
  /** False under --no-modify-path or a read-only HOME. */
  modifyPath: boolean;
  /** Why PATH was left alone, when it was. */
  leftAlone?: "no-modify-path" | "read-only-home";
}

/** What an install did, or (dry run) would do. cli/report.ts renders it; --json prints it. */
export interface InstallOutcome {
  ok: true;
  /** The installed release tag, "v0.6.1" (the key is "version" in the published JSON). */
  version: string;
  platform: string;
  path: string;
  files: string[];
  pathEdits: PathEdit[];
  alreadyInstalled: boolean;
  dryRun: boolean;
  /** Where the installed release was built, as far as its attestations say (not in a dry run). */
  provenance?: ProvenanceRecord;
}

/** What the report needs beyond the outcome: the plan's details and the PATH changes. */
export interface InstallSummary {
  outcome: InstallOutcome;
  os: Host["os"];
  home: string;
  dir: string;
  runmatHome: string;
  /** How the installer was started, to say how to run it again (`uninstall`). */
  method: string;
  /** Another runmat that comes earlier on PATH than the one installed, if any. */
  shadowedBy: string | null;
  /** Whether a receipt records this install, so that update and uninstall know it. */
  recorded: boolean;
  /** Whether the shell that ran the installer already finds the install directory on PATH. */
  onPathNow: boolean;
  /** That shell's name ("bash", "zsh", "fish"; from $SHELL), for the line that updates it. */
  shell: string;
  path: PathReport;
  /** Dry run only: where the archive would come from and what it must hash to. */
  source?: Source;
}

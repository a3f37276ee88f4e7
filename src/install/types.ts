// The shapes an install passes between its steps, in a leaf module so that the steps
// (source, preflight, placement, report) can share them without importing each other.
import type { Host } from "../platform/resolve.js";
import type { Tag } from "../release/assets.js";
import type { PathEdit } from "./receipt.js";

/** Where the archive comes from and what it must hash to. */
export interface Source {
  tag: Tag | null;
  platform: string;
  assetName: string;
  /** A URL to download, or a local file for --archive. */
  location: { url: URL; size?: number } | { file: string };
  sha256: string | null;
}

/** Something the user should know that does not stop the install. */
export type InstallWarning =
  | { kind: "emulated"; tag: Tag; wanted: string; used: string }
  | { kind: "unverified"; assetName: string }
  | { kind: "read-only-home"; home: string }
  | { kind: "receipt-unwritable"; reason: string }
  /** The API was rate-limited: the release pages were used, the checksum from where it says. */
  | { kind: "api-rate-limited"; host: string; checksumFrom: string | null };

export interface DownloadProgress {
  update(received: number, total: number | undefined): void;
  done(): void;
  fail(): void;
}

/**
 * What an install tells whoever runs it, as it happens. run-install.ts turns these into
 * telemetry facts and terminal output; the install itself neither prints nor sends.
 */
export interface InstallObserver {
  hostDetected(host: Host): void;
  /** The release target this host needs, before any release is looked up. */
  targetResolved(platform: string): void;
  /** The release tag (null when unknown, as for an archive named unusually) and the build chosen. */
  releaseResolved(tag: Tag | null, platform: string): void;
  warning(warning: InstallWarning): void;
  downloading(assetName: string): Promise<DownloadProgress>;
  unpacking(assetName: string): void;
  /** The new files passed their smoke test and are kept: from here the install completes. */
  committed(): void;
  debug(message: string): void;
}

export interface PathReport {
  /** What this run changed (or, in a dry run, would change). */
  changed: PathEdit[];
  /** Files that could not be edited, each with what to do by hand. */
  warnings: string[];
  /** False under --no-modify-path or a read-only HOME. */
  modifyPath: boolean;
}

/** What an install did, or (dry run) would do. report.ts renders it; --json prints it. */
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
  path: PathReport;
  /** Dry run only: where the archive would come from and what it must hash to. */
  source?: Source;
}

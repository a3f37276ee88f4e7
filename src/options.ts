// The options every command runs with, as the command line and the environment set them.
// A shared leaf: the install steps and the release lookup read options without knowing the CLI.
import type { Method } from "./contract.js";
import type { Tag } from "./release/versions.js";

/** How much the terminal is told: --quiet, --verbose and --json. */
export type OutputMode = "normal" | "quiet" | "verbose" | "json";

export interface CommonOptions {
  home: string;
  runmatHome: string;
  output: OutputMode;
  telemetryFlag: boolean;
  method: Method;
}

/** Where releases are looked up, and how patiently. */
export interface ReleaseOptions extends CommonOptions {
  repo: string;
  apiUrl: string;
  token?: string;
  timeoutMs: number;
  /** A PEM file of certificate authorities to trust besides Node's and the system's (--cacert). */
  caFile?: string;
  /** How long `runmat --version` may take (RUNMAT_SMOKE_TIMEOUT): after an install, and in status. */
  smokeTimeoutMs: number;
}

/**
 * A segmented download starts with `initial` connections and adds more, up to `max`, while the
 * total rate still rises (a CDN that caps each connection). `initial` 1 is one stream.
 */
export interface ConnectionPlan {
  initial: number;
  max: number;
}

/** Whether an asset's build provenance is checked: `auto` when it is published, `require`d, or `off`. */
export type ProvenanceMode = "auto" | "require" | "off";

export interface ProvenanceOptions {
  mode: ProvenanceMode;
  /** The release workflow's file name in .github/workflows that must have signed (release.yml). */
  workflow: string;
  /** A Sigstore trusted root JSON file to verify against instead of the public-good one. */
  trustedRoot?: string;
}

/** What `update` needs on top of the lookup; the directory and PATH choice come from the receipt. */
export interface UpdateOptions extends ReleaseOptions {
  requireChecksum: boolean;
  /** Place the binary without the library check or the smoke test (--skip-smoke-test). */
  skipSmokeTest: boolean;
  /** Connections for a large download: how many to start with, and how many it may grow to. */
  connections: ConnectionPlan;
  provenance: ProvenanceOptions;
}

export interface InstallOptions extends UpdateOptions {
  /** The release to install, or null for the latest. */
  tag: Tag | null;
  dir: string;
  modifyPath: boolean;
  archive?: string;
  force: boolean;
  dryRun: boolean;
}

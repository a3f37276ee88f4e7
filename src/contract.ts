// The contract: every fact that the installer, the relay and both bootstrappers must agree on,
// stated once. Pure data plus the smallest pure helpers over it. scripts/render-contract.ts
// renders it into the generated block of bootstrap/install.sh and bootstrap/install.ps1, and a
// test fails when either block differs from the rendering byte for byte.

// ---- Exit codes ---------------------------------------------------------------------------

export type ErrorKind =
  | "usage"
  | "network"
  | "integrity"
  | "platform"
  | "filesystem"
  | "verification"
  | "not-installed"
  | "interrupted"
  | "internal";

export const EXIT_CODES: Record<ErrorKind, number> = {
  internal: 1,
  usage: 2,
  network: 3,
  integrity: 4,
  platform: 5,
  filesystem: 6,
  verification: 7,
  "not-installed": 11,
  interrupted: 130,
};

export const EXIT_CODE_MEANINGS: Record<ErrorKind, string> = {
  internal: "unexpected internal error (a bug: please report it)",
  usage: "bad command line, option or environment value",
  network: "release lookup or download failed (network, proxy, rate limit, missing asset)",
  integrity:
    "checksum mismatch, a build attestation that does not hold (or none under --provenance require), a missing checksum under --require-checksum, or an unsafe or corrupt archive",
  platform: "this OS, architecture or C library has no RunMat build, or Node.js is older than 20.18",
  filesystem:
    "cannot write the install directory, HOME, a lock or the receipt (permissions, disk full); a tampered receipt",
  verification: "the installed binary failed its `runmat --version` smoke test (rolled back)",
  "not-installed": "`update` and `uninstall` only: RunMat is not installed by runmat-install (no receipt)",
  interrupted: "interrupted by Ctrl-C or SIGTERM (rolled back)",
};

/** `update --check` exits with this when a newer release exists. */
export const EXIT_UPDATE_AVAILABLE = 10;

// ---- Node.js ------------------------------------------------------------------------------

/** The oldest Node.js the CLI runs on (package.json's engines says the same; a test checks). */
export const NODE_FLOOR = { major: 20, minor: 18 } as const;

export function nodeIsRecent(version: string): boolean {
  const [major, minor] = version.split(".").map((part) => Number.parseInt(part, 10));
  return major > NODE_FLOOR.major || (major === NODE_FLOOR.major && minor >= NODE_FLOOR.minor);
}

// ---- Platforms ----------------------------------------------------------------------------

export type Os = "linux" | "darwin" | "windows";
export type Arch = "x86_64" | "arm64";

export interface PlatformRow {
  os: Os;
  arch: Arch;
  /** RunMat's release target, as in runmat-v0.6.1-<platform>.tar.gz */
  platform: string;
  /** The runmat-install single binary that runs here (runmat-install-<sea>[.exe].gz). */
  sea: "linux-x64" | "linux-arm64" | "darwin-x64" | "darwin-arm64" | "win-x64";
  /** A release target to use when the release has no build for `platform`. */
  fallback?: string;
}

/** One row per host RunMat supports. Windows on ARM runs the x64 builds under emulation. */
export const PLATFORM_ROWS: readonly PlatformRow[] = [
  { os: "linux", arch: "x86_64", platform: "linux-x86_64", sea: "linux-x64" },
  { os: "linux", arch: "arm64", platform: "linux-aarch64", sea: "linux-arm64" },
  { os: "darwin", arch: "x86_64", platform: "macos-x86_64", sea: "darwin-x64" },
  { os: "darwin", arch: "arm64", platform: "macos-aarch64", sea: "darwin-arm64" },
  { os: "windows", arch: "x86_64", platform: "windows-x86_64", sea: "win-x64" },
  { os: "windows", arch: "arm64", platform: "windows-aarch64", sea: "win-x64", fallback: "windows-x86_64" },
];

export const SUPPORTED_PLATFORMS: readonly string[] = PLATFORM_ROWS.map((row) => row.platform);

/** What Node (os.machine(), process.arch), uname -m and Windows call each architecture. */
export const ARCH_SPELLINGS: Readonly<Record<Arch, readonly string[]>> = {
  x86_64: ["x86_64", "x64", "amd64", "AMD64"],
  arm64: ["arm64", "aarch64", "ARM64"],
};

export function seaAssetName(sea: PlatformRow["sea"]): string {
  return `runmat-install-${sea}${sea.startsWith("win-") ? ".exe" : ""}.gz`;
}

/**
 * The smaller download for install.sh (a third smaller than gzip): the binary in a .tar.xz, which
 * an `xz` binary or a libarchive tar (macOS) unpacks. Windows' install.ps1 takes the .gz.
 */
export function seaXzAssetName(sea: PlatformRow["sea"]): string | null {
  return sea.startsWith("win-") ? null : `runmat-install-${sea}.tar.xz`;
}

// ---- Telemetry ----------------------------------------------------------------------------

export const TELEMETRY_EVENTS = ["install_start", "install_complete", "install_failed"] as const;
export type TelemetryEvent = (typeof TELEMETRY_EVENTS)[number];

/** The payload's keys, in the order they are sent. Nothing else is ever sent. */
export const PAYLOAD_KEYS = ["event_label", "os", "arch", "platform", "release", "method", "cid"] as const;
export type Payload = Record<(typeof PAYLOAD_KEYS)[number], string>;

/**
 * How the installer was started: by a bootstrapper (shell, powershell), by npx or `npm exec`
 * (npx), as an installed npm package run directly (npm), as a prebuilt single binary (binary),
 * or from anything else, such as a git checkout (source).
 */
export const METHODS = ["shell", "powershell", "npx", "npm", "binary", "source"] as const;
export type Method = (typeof METHODS)[number];

/**
 * A client id is a UUID (what every installer writes) or the "1700000000-12345" form the old
 * shell scripts wrote (seconds-number). Anything else, which could name a person or a machine,
 * is never sent: the installers replace it, and the relay swaps in a random id.
 */
export const TELEMETRY_ID_PATTERN =
  "^([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[0-9]{9,11}-[0-9]{1,6})$";
/** A release as the relay forwards it: a version tag (the "v" optional), else "unknown" or "other". */
export const RELEASE_PATTERN = "^v?[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]+)?$";
/** An id file larger than this is garbage, replaced rather than read. */
export const TELEMETRY_ID_MAX_BYTES = 256;

export const DEFAULT_TELEMETRY_ENDPOINT = "https://runmat.org/api/telemetry";
export const DEFAULT_INSTALLER_URL = "https://github.com/runmat-org/runmat-install/releases/latest/download";

/** Under HOME (USERPROFILE on Windows): the installer's directory and the files in it. */
export const STATE_DIR = ".runmat";
export const TELEMETRY_ID_FILE = "telemetry_id";
export const TELEMETRY_SETTINGS_FILE = "telemetry.json";
export const INSTALLER_CACHE_DIR = "installer";

/** Any value that leaves this machine: at most 64 characters of [A-Za-z0-9_.-]. */
export function sanitizeDimension(raw: string): string {
  return raw.replace(/[^A-Za-z0-9_.-]/g, "").slice(0, 64);
}

// ---- Downloads ----------------------------------------------------------------------------

/** Assets smaller than this come in one stream: more connections would not pay for their set-up. */
export const SEGMENTED_MIN_BYTES = 8 * 1024 ** 2;
/** What one request of a segmented download asks for. */
export const SEGMENT_BYTES = 4 * 1024 ** 2;

// ---- Switches in the environment ---------------------------------------------------------

/** Spellings of "on" in RUNMAT_NO_TELEMETRY, RUNMAT_NO_MODIFY_PATH, RUNMAT_TELEMETRY_DEBUG. */
export const TRUTHY = ["1", "true", "yes", "on"] as const;
/** Spellings of "off" in RUNMAT_TELEMETRY. */
export const FALSY = ["0", "false", "no", "off"] as const;
/** DO_NOT_TRACK opts out with any non-empty value except these (as most tools read it). */
export const DO_NOT_TRACK_ALLOWS = ["0", "false"] as const;

function spelling(value: string | undefined): string {
  return (value ?? "").trim().toLowerCase();
}

export function isTruthy(value: string | undefined): boolean {
  return (TRUTHY as readonly string[]).includes(spelling(value));
}

export function isFalsy(value: string | undefined): boolean {
  return (FALSY as readonly string[]).includes(spelling(value));
}

export function doNotTrack(value: string | undefined): boolean {
  const v = spelling(value);
  return v !== "" && !(DO_NOT_TRACK_ALLOWS as readonly string[]).includes(v);
}

// ---- The system libraries RunMat's Linux build links -------------------------------------

/** How each distribution family installs packages; `{}` is where the package names go. */
export const PACKAGE_MANAGERS = {
  debian: "sudo apt-get install -y {}",
  fedora: "sudo dnf install -y {}",
  arch: "sudo pacman -S --needed {}",
  suse: "sudo zypper install {}",
} as const;
export type DistroFamily = keyof typeof PACKAGE_MANAGERS;

/**
 * The libraries RunMat's Linux build links dynamically (its release workflow builds on Ubuntu
 * with libopenblas-dev, liblapack-dev, libhdf5-dev, libzmq3-dev and libssl-dev), by how their
 * file names start, with the runtime package that provides each per distribution family.
 * `debianT64` is the name after Debian's 64-bit time_t transition (Ubuntu 24.04, Debian 13).
 */
export const SYSTEM_LIBRARIES = [
  {
    sonames: ["libopenblas.so"],
    family: "OpenBLAS",
    packages: { debian: "libopenblas0", fedora: "openblas", arch: "openblas", suse: "libopenblas_pthreads0" },
  },
  {
    sonames: ["liblapack.so"],
    family: "LAPACK",
    packages: { debian: "liblapack3", fedora: "lapack", arch: "lapack", suse: "liblapack3" },
  },
  {
    sonames: ["libblas.so"],
    family: "BLAS",
    packages: { debian: "libblas3", fedora: "blas", arch: "blas", suse: "libblas3" },
  },
  {
    sonames: ["libhdf5"],
    family: "HDF5",
    packages: {
      debian: "libhdf5-103-1",
      debianT64: "libhdf5-103-1t64",
      fedora: "hdf5",
      arch: "hdf5",
      suse: "libhdf5-103",
    },
  },
  {
    sonames: ["libzmq.so"],
    family: "ZeroMQ",
    packages: { debian: "libzmq5", fedora: "zeromq", arch: "zeromq", suse: "libzmq5" },
  },
  {
    sonames: ["libssl.so.3", "libcrypto.so.3"],
    family: "OpenSSL",
    packages: {
      debian: "libssl3",
      debianT64: "libssl3t64",
      fedora: "openssl-libs",
      arch: "openssl",
      suse: "libopenssl3",
    },
  },
  {
    sonames: ["libgfortran.so"],
    family: "gfortran",
    packages: { debian: "libgfortran5", fedora: "libgfortran", arch: "gcc-libs", suse: "libgfortran5" },
  },
] as const;

// One error type for every failure the installer reports. Each kind maps to one
// documented exit code; the README's table is checked against EXIT_CODES by a test.

export type ErrorKind =
  | "usage"
  | "network"
  | "integrity"
  | "platform"
  | "filesystem"
  | "verification"
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
  interrupted: 130,
};

export const EXIT_CODE_MEANINGS: Record<ErrorKind, string> = {
  internal: "unexpected internal error (a bug: please report it)",
  usage: "bad command line, option or environment value",
  network: "release lookup or download failed (network, proxy, rate limit, missing asset)",
  integrity: "checksum mismatch, missing checksum under --require-checksum, or an unsafe or corrupt archive",
  platform: "this OS, architecture or C library has no RunMat build",
  filesystem: "cannot write the install directory, HOME or a lock (permissions, disk full)",
  verification: "the installed binary failed its `runmat --version` smoke test (rolled back)",
  interrupted: "interrupted by Ctrl-C or SIGTERM (rolled back)",
};

/** `update --check` exits with this when a newer release exists. */
export const EXIT_UPDATE_AVAILABLE = 10;

export class InstallError extends Error {
  readonly kind: ErrorKind;
  readonly hint: string;

  constructor(kind: ErrorKind, message: string, hint: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "InstallError";
    this.kind = kind;
    this.hint = hint;
  }

  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }
}

/** Wraps anything thrown into an InstallError, keeping ones that already are. */
export function toInstallError(error: unknown): InstallError {
  if (error instanceof InstallError) return error;
  if (isAbortError(error)) {
    return new InstallError(
      "interrupted",
      "Installation interrupted.",
      "Run the installer again to finish.",
      {
        cause: error,
      },
    );
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
    const path = (error as NodeJS.ErrnoException).path ?? "a file";
    return new InstallError(
      "filesystem",
      `Permission denied writing ${path}.`,
      "Choose a directory you own with --dir, or fix its permissions.",
      { cause: error },
    );
  }
  if (code === "ENOSPC" || code === "EFBIG" || code === "EDQUOT") {
    return new InstallError(
      "filesystem",
      `Cannot write files: ${code === "ENOSPC" ? "the disk is full" : "a file size limit was hit"}.`,
      "Free some space (or raise `ulimit -f`) and run the installer again.",
      { cause: error },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new InstallError(
    "internal",
    `Unexpected error: ${message}`,
    "Run again with --verbose and report it at https://github.com/runmat-org/runmat/issues.",
    { cause: error },
  );
}

export function isAbortError(error: unknown): boolean {
  const name = (error as Error | undefined)?.name;
  return name === "AbortError" || (error as NodeJS.ErrnoException | undefined)?.code === "ABORT_ERR";
}

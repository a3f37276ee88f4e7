// One error type for every failure the installer reports. Each kind maps to one
// documented exit code (src/contract.ts); the README's table is checked against it by a test.
import { type ErrorKind, EXIT_CODES } from "./contract.js";

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
      code === "EROFS"
        ? `Cannot write ${path}: the filesystem is read-only.`
        : `Permission denied writing ${path}.`,
      "Choose a directory you own with --dir, or fix its permissions.",
      { cause: error },
    );
  }
  const path = (error as NodeJS.ErrnoException | undefined)?.path;
  if (code === "ENOTDIR" || code === "ELOOP" || code === "EISDIR" || code === "ENAMETOOLONG") {
    const why = {
      ENOTDIR: "a part of the path is a file, not a directory",
      ELOOP: "its symbolic links loop",
      EISDIR: "a directory is where a file should be",
      ENAMETOOLONG: "the path is too long",
    }[code];
    return new InstallError(
      "filesystem",
      `Cannot use ${path ?? "a path"}: ${why}.`,
      "Choose another directory with --dir, or fix that path, then run the installer again.",
      { cause: error },
    );
  }
  if (code === "ENOSPC" || code === "EFBIG" || code === "EDQUOT") {
    return new InstallError(
      "filesystem",
      `Cannot write ${path ?? "files"}: ${code === "ENOSPC" ? "the disk is full" : code === "EDQUOT" ? "the disk quota is used up" : "a file size limit was hit"}.`,
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

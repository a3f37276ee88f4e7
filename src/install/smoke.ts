// Runs the freshly placed binary once, so a build that cannot start on this machine is
// rolled back instead of left on PATH.
import { execFile } from "node:child_process";
import { InstallError } from "../errors.js";
import { printsVersion } from "../release/versions.js";

export interface SmokeResult {
  /** What `runmat --version` printed, trimmed. */
  output: string;
}

export function smokeTest(
  binary: string,
  expectedVersion: string | null,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<SmokeResult> {
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      ["--version"],
      // Ctrl-C kills a binary that hangs instead of waiting out the timeout.
      { timeout: timeoutMs, killSignal: "SIGKILL", windowsHide: true, encoding: "utf8", signal },
      (error, stdout, stderr) => {
        const output = `${stdout}`.trim() || `${stderr}`.trim();
        if (signal.aborted) return reject(signal.reason);
        if (error) return reject(explainStartFailure(binary, error, timeoutMs));
        if (expectedVersion && !printsVersion(output, expectedVersion)) {
          return reject(
            new InstallError(
              "verification",
              `${binary} --version printed "${output.slice(0, 100)}", not version ${expectedVersion}.`,
              "The release archive holds the wrong build; the previous install was kept. Report it to the RunMat maintainers.",
            ),
          );
        }
        resolve({ output });
      },
    );
  });
}

function explainStartFailure(
  binary: string,
  error: Error & { code?: unknown; killed?: boolean },
  timeoutMs: number,
) {
  const prefix = `The installed ${binary} failed its smoke test`;
  const keep = "The previous install (if any) was restored.";
  if (error.killed) {
    return new InstallError(
      "verification",
      `${prefix}: \`--version\` did not finish within ${timeoutMs / 1000} s.`,
      `${keep} Check for antivirus or a stalled filesystem, then run the installer again.`,
    );
  }
  switch (error.code) {
    case "ENOENT":
      // The file exists, so ENOENT means its ELF interpreter (ld-linux) is missing.
      return new InstallError(
        "verification",
        `${prefix}: it cannot start because its dynamic loader is missing.`,
        `${keep} This usually means a musl system (Alpine) or a too-old glibc; use a glibc distribution or build from source.`,
      );
    case "EACCES":
      return new InstallError(
        "verification",
        `${prefix}: permission to execute it was denied.`,
        `${keep} The directory may be on a noexec mount; install elsewhere with --dir.`,
      );
    case "ENOEXEC":
    case "EBADARCH":
      return new InstallError(
        "verification",
        `${prefix}: this machine cannot execute it (wrong architecture?).`,
        `${keep} Report your OS and CPU (uname -a) to the RunMat maintainers.`,
      );
    default:
      return new InstallError(
        "verification",
        `${prefix}: \`--version\` exited with ${typeof error.code === "number" ? `code ${error.code}` : String(error.code ?? error.message)}.`,
        `${keep} Run it by hand to see its error, and report it to the RunMat maintainers.`,
      );
  }
}

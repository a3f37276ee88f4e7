// Runs the freshly placed binary once, so a build that cannot start on this machine is
// rolled back instead of left on PATH.
import { execFile } from "node:child_process";
import { InstallError } from "../errors.js";
import { printsVersion } from "../release/versions.js";

export interface SmokeResult {
  /** What `runmat --version` printed, trimmed. */
  output: string;
}

/** Terminal escapes (colour, cursor) that a binary prints even when asked not to. */
const TERMINAL_ESCAPE = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)/g;

export function withoutEscapes(text: string): string {
  return text.replace(TERMINAL_ESCAPE, "");
}

/** Windows' NTSTATUS exit codes that mean the binary never started, in words and with the fix. */
const WINDOWS_START_FAILURES: Record<number, [string, string]> = {
  3221225781: [
    "a DLL it needs was not found",
    "Install the Microsoft Visual C++ Redistributable (x64), and keep the DLLs from the release's .zip beside runmat.exe.",
  ],
  3221225595: [
    "a DLL it loads is for another architecture (0xC000007B)",
    "Remove other copies of RunMat's DLLs from PATH, and install the Microsoft Visual C++ Redistributable (x64).",
  ],
  3221225785: [
    "a DLL it needs lacks a function it uses (an older DLL earlier on PATH?)",
    "Remove older copies of the DLL from PATH, or install the Microsoft Visual C++ Redistributable (x64).",
  ],
};

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
      // Ctrl-C kills a binary that hangs instead of waiting out the timeout. NO_COLOR keeps
      // its version line plain; escapes it prints anyway are removed before matching.
      {
        timeout: timeoutMs,
        killSignal: "SIGKILL",
        windowsHide: true,
        encoding: "utf8",
        signal,
        env: { ...process.env, NO_COLOR: "1" },
      },
      (error, stdout, stderr) => {
        const output = withoutEscapes(`${stdout}`).trim() || withoutEscapes(`${stderr}`).trim();
        if (signal.aborted) return reject(signal.reason);
        if (error) return reject(explainStartFailure(binary, error, timeoutMs, withoutEscapes(`${stderr}`)));
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

/** The first lines of what the binary said on stderr, for the error line (escaped when printed). */
function firstWords(stderr: string): string {
  const lines = stderr
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(0, 3);
  const text = lines.join(" / ");
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function explainStartFailure(
  binary: string,
  error: Error & { code?: unknown; killed?: boolean; signal?: NodeJS.Signals | null },
  timeoutMs: number,
  stderr: string,
) {
  const prefix = `The installed ${binary} failed its smoke test`;
  const keep = "The previous install (if any) was restored.";
  const said = firstWords(stderr);
  const saying = said ? `: "${said}"` : "";
  const report = `${keep} Report it to the RunMat maintainers (https://github.com/runmat-org/runmat/issues) with this message.`;
  // Killed by our timeout (with SIGKILL), as opposed to by a signal of its own making.
  if (error.killed) {
    return new InstallError(
      "verification",
      `${prefix}: \`--version\` did not finish within ${timeoutMs / 1000} s.`,
      `${keep} Check for antivirus or a stalled filesystem, then run the installer again; RUNMAT_SMOKE_TIMEOUT allows longer.`,
    );
  }
  if (error.signal) {
    return new InstallError(
      "verification",
      `${prefix}: \`--version\` was killed by ${error.signal}${error.signal === "SIGSEGV" || error.signal === "SIGBUS" ? " (it crashed)" : error.signal === "SIGILL" ? " (an instruction this CPU lacks)" : ""}${saying}.`,
      report,
    );
  }
  const windows = typeof error.code === "number" ? WINDOWS_START_FAILURES[error.code >>> 0] : undefined;
  if (windows) {
    return new InstallError(
      "verification",
      `${prefix}: it could not start, ${windows[0]}${saying}.`,
      `${keep} ${windows[1]}`,
    );
  }
  switch (error.code) {
    case "ENOENT":
      // The file exists, so ENOENT means its ELF interpreter (ld-linux) is missing.
      return new InstallError(
        "verification",
        `${prefix}: it cannot start because its dynamic loader is missing.`,
        `${keep} RunMat publishes glibc builds only: use a glibc distribution (not Alpine's musl), or build from source.`,
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
        `${prefix}: \`--version\` exited with ${typeof error.code === "number" ? `code ${error.code}` : String(error.code ?? error.message)}${saying}.`,
        report,
      );
  }
}

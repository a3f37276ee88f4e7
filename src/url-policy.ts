// Pure: which URLs the installer may talk to. Users get HTTPS; plain HTTP is allowed only to
// loopback, which is what the tests use. Used by the command line, downloads and telemetry.
import type { ErrorKind } from "./contract.js";
import { InstallError } from "./errors.js";

function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * A bad URL the user gave is a usage error; one a server handed us is a network error.
 */
export function checkUrlAllowed(raw: string | URL, what: string, kind: ErrorKind = "usage"): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InstallError(kind, `${what} is not a valid URL: ${String(raw)}`, "Use a full https:// URL.");
  }
  if (url.protocol === "https:") return url;
  if (url.protocol === "http:" && isLoopbackHost(url.hostname)) return url;
  throw new InstallError(
    kind,
    `Refusing ${what} over ${url.protocol.replace(":", "")}: ${url.origin}`,
    kind === "usage"
      ? "Only https:// URLs are accepted (plain http:// only for 127.0.0.1/localhost)."
      : "The release points at an insecure URL; report it to the RunMat maintainers.",
  );
}

// Pure: which URLs the installer may talk to. Users get HTTPS; plain HTTP is allowed only to
// loopback, which is what the tests use. Used by the command line, downloads and telemetry.
import type { ErrorKind } from "../contract.js";
import { InstallError } from "../errors.js";

function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The proxy a request to `url` goes through, read from the environment as undici's
 * EnvHttpProxyAgent reads it (lower case first, HTTPS falling back to HTTP, NO_PROXY by host
 * suffix, optional port, or "*"). Used to explain proxy failures, never to choose the route.
 */
export function proxyForUrl(url: URL, env: NodeJS.ProcessEnv): URL | null {
  const http = env.http_proxy || env.HTTP_PROXY;
  const raw = url.protocol === "https:" ? env.https_proxy || env.HTTPS_PROXY || http : http;
  if (!raw) return null;
  const noProxy = (env.no_proxy || env.NO_PROXY || "").split(/[\s,]+/).filter(Boolean);
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  for (const rule of noProxy) {
    if (rule === "*") return null;
    const [ruleHost, rulePort] = rule.replace(/^\*?\./, ".").split(":");
    if (rulePort && rulePort !== port) continue;
    const host = url.hostname;
    if (host === ruleHost.replace(/^\./, "") || (ruleHost.startsWith(".") && host.endsWith(ruleHost)))
      return null;
  }
  try {
    return new URL(raw.includes("://") ? raw : `http://${raw}`);
  } catch {
    return null;
  }
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

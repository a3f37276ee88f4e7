// Which certificate authorities the installer's TLS connections trust: Node's bundled roots (with
// NODE_EXTRA_CA_CERTS), plus what the operating system trusts, as curl does, because that is
// where a company's TLS-inspecting proxy has its root installed, plus a --cacert file. Only the
// certificates Node does not already hold are added, to one context built once per process.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import tls, { type SecureContext } from "node:tls";
import { caFileCertificates, pemCertificates, readText } from "./pem.js";

/** Where Unix systems keep their CA bundle, in the order distributions prefer them. */
export const SYSTEM_BUNDLES = [
  "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Arch, Alpine with ca-certificates
  "/etc/pki/tls/certs/ca-bundle.crt", // Fedora, RHEL, CentOS
  "/etc/ssl/ca-bundle.pem", // openSUSE
  "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // RHEL's source of the above
  "/etc/ssl/cert.pem", // macOS, Alpine, the BSDs
];

/** A certificate's identity for comparison: its base64 body, whatever the line wrapping. */
function body(pem: string): string {
  return pem.replace(/-----[A-Z ]+-----|\s/g, "");
}

/** The certificates in `candidates` that `known` does not hold, each once. */
export function newCertificates(known: readonly string[], candidates: readonly string[]): string[] {
  const seen = new Set(known.map(body));
  return candidates.filter((pem) => {
    const key = body(pem);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * What the operating system trusts. Where Node can read the system store itself (22.15 and later:
 * macOS's keychain, Windows' certificate store) it does; on Linux, and on older Node, the files
 * OpenSSL reads: SSL_CERT_FILE and SSL_CERT_DIR when set, else the distribution's bundle.
 */
function systemCertificates(env: NodeJS.ProcessEnv): string[] {
  const getCACertificates = (tls as { getCACertificates?: (type: string) => string[] }).getCACertificates;
  if (process.platform !== "linux" && getCACertificates) {
    try {
      return getCACertificates("system");
    } catch {
      return [];
    }
  }
  const found: string[] = [];
  if (env.SSL_CERT_FILE) found.push(...pemCertificates(readText(env.SSL_CERT_FILE) ?? ""));
  if (env.SSL_CERT_DIR) {
    for (const dir of env.SSL_CERT_DIR.split(":").filter(Boolean)) {
      let names: string[] = [];
      try {
        names = readdirSync(dir);
      } catch {}
      for (const name of names.filter((n) => /\.(pem|crt)$|\.\d+$/.test(n))) {
        found.push(...pemCertificates(readText(join(dir, name)) ?? ""));
      }
    }
  }
  if (found.length > 0) return found;
  for (const bundle of SYSTEM_BUNDLES) {
    const text = readText(bundle);
    if (text !== null) return pemCertificates(text);
  }
  return [];
}

let cached: { key: string; context: SecureContext | undefined } | null = null;

/**
 * The context every TLS connection of this run uses, or undefined when Node's own already trusts
 * everything the system does (then nothing is built). Built on first use and kept.
 */
export function trustedContext(env: NodeJS.ProcessEnv, caFile?: string): SecureContext | undefined {
  const key = `${caFile ?? ""}\0${env.SSL_CERT_FILE ?? ""}\0${env.SSL_CERT_DIR ?? ""}`;
  if (cached?.key === key) return cached.context;
  const extra = caFile ? caFileCertificates(caFile) : [];
  // NODE_EXTRA_CA_CERTS is added again: a context of our own starts from Node's bundle only.
  const nodeExtra = env.NODE_EXTRA_CA_CERTS ? pemCertificates(readText(env.NODE_EXTRA_CA_CERTS) ?? "") : [];
  const added = newCertificates(tls.rootCertificates, [...systemCertificates(env), ...nodeExtra, ...extra]);
  let context: SecureContext | undefined;
  if (added.length > 0) {
    // A context without `ca` starts from Node's bundled roots; adding to it keeps them, where
    // passing `ca` would replace them and parse all of them again.
    context = tls.createSecureContext();
    const native = (context as SecureContext & { context: { addCACert(pem: string): void } }).context;
    for (const pem of added) native.addCACert(pem);
  }
  cached = { key, context };
  return context;
}

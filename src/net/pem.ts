// Certificates read from PEM text and files: what a --cacert file holds, and the system's
// bundles. Apart from trust.ts so that checking --cacert while parsing the command line does not
// load Node's TLS.
import { readFileSync } from "node:fs";
import { InstallError } from "../errors.js";

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;

/** The PEM certificates in a text (a bundle, a --cacert file); anything else in it is ignored. */
export function pemCertificates(text: string): string[] {
  return text.match(PEM_CERTIFICATE) ?? [];
}

/** A file's text, or null when it cannot be read. */
export function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** The certificates of a --cacert file; a file that cannot be read or holds none is a usage error. */
export function caFileCertificates(file: string): string[] {
  const text = readText(file);
  const certificates = text === null ? [] : pemCertificates(text);
  if (certificates.length === 0) {
    throw new InstallError(
      "usage",
      text === null
        ? `Cannot read the certificate file ${file} (--cacert / RUNMAT_CACERT).`
        : `${file} holds no PEM certificate (--cacert / RUNMAT_CACERT).`,
      'Pass a PEM file ("-----BEGIN CERTIFICATE-----"), such as your company\'s root certificate.',
    );
  }
  return certificates;
}

// What the installer adds to Node's certificate authorities: only PEM certificates, each once,
// and none Node already holds; a --cacert file that holds none is a usage error.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import { rootCertificates } from "node:tls";
import type { InstallError } from "../../src/errors.js";
import { caFileCertificates, pemCertificates } from "../../src/net/pem.js";
import { newCertificates } from "../../src/net/trust.js";

const [first, second] = rootCertificates;
/** The same certificate wrapped at another width, as bundles differ. */
const rewrapped = (pem: string) =>
  pem
    .replace(/\n(?!-----)/g, "")
    .replace(/(.{76})(?!-----)/g, "$1\n")
    .replace(/-----BEGIN CERTIFICATE-----/, "-----BEGIN CERTIFICATE-----\n");

it("pemCertificates: finds each certificate in a bundle, and nothing in other text", () => {
  assert.deepEqual(pemCertificates(`# a comment\n${first}\nsome text\n${second}\n`), [first, second]);
  assert.deepEqual(pemCertificates("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"), []);
});

it("newCertificates: drops what Node holds (at any line width) and repeats", () => {
  assert.deepEqual(newCertificates([first], [rewrapped(first), second, second]), [second]);
  assert.deepEqual(newCertificates(rootCertificates, rootCertificates), []);
});

it("caFileCertificates: a file without certificates, or none at all, is a usage error naming it", async () => {
  const dir = await mkdtemp(join(tmpdir(), "runmat-trust-"));
  try {
    const empty = join(dir, "empty.pem");
    await writeFile(empty, "not a certificate\n");
    for (const file of [empty, join(dir, "missing.pem")]) {
      assert.throws(
        () => caFileCertificates(file),
        (error: InstallError) => error.kind === "usage" && error.message.includes(file),
      );
    }
    const good = join(dir, "ca.pem");
    await writeFile(good, first);
    assert.deepEqual(caFileCertificates(good), [first]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

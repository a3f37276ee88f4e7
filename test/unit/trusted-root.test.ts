// The embedded public-good trusted root is what every real attestation is verified against: a
// damaged or truncated copy would refuse every genuine release. These checks hold it to what a
// trusted root must be, and to itself (each ECDSA log's id is the SHA-256 of its key).
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { it } from "node:test";
import { TrustedRoot } from "@sigstore/protobuf-specs";
import { toTrustMaterial } from "@sigstore/verify";
import { PUBLIC_GOOD_TRUSTED_ROOT } from "../../src/provenance/public-good-root.js";

interface Log {
  baseUrl: string;
  publicKey: { rawBytes: string; keyDetails: string; validFor: { start: string; end?: string } };
  logId: { keyId: string };
}
const root = PUBLIC_GOOD_TRUSTED_ROOT as {
  mediaType: string;
  tlogs: Log[];
  ctlogs: Log[];
  certificateAuthorities: {
    uri: string;
    certChain: { certificates: { rawBytes: string }[] };
    validFor: { end?: string };
  }[];
};

it("the embedded root is Sigstore's public-good one, and the verifier accepts it as trust material", () => {
  assert.match(root.mediaType, /^application\/vnd\.dev\.sigstore\.trustedroot\+json/);
  const material = toTrustMaterial(TrustedRoot.fromJSON(root));
  assert.ok(material.certificateAuthorities.length >= 1);
  assert.ok(root.tlogs.some((log) => log.baseUrl === "https://rekor.sigstore.dev"));
  assert.ok(root.ctlogs.some((log) => log.baseUrl.startsWith("https://ctfe.sigstore.dev")));
});

it("a current Fulcio CA (no end date) whose certificates parse, and each ECDSA log's id is the SHA-256 of its key", () => {
  const current = root.certificateAuthorities.filter(
    (ca) => ca.uri === "https://fulcio.sigstore.dev" && !ca.validFor.end,
  );
  assert.equal(current.length, 1);
  for (const { rawBytes } of current[0].certChain.certificates) {
    const certificate = new X509Certificate(Buffer.from(rawBytes, "base64"));
    assert.match(certificate.subject, /O=sigstore\.dev/);
  }
  // RFC 6962's log id, which Rekor v1 and the CT logs use (Rekor v2's Ed25519 logs name their
  // keys as signed notes do, otherwise).
  const ecdsaLogs = [...root.tlogs, ...root.ctlogs].filter((log) =>
    log.publicKey.keyDetails.startsWith("PKIX_ECDSA"),
  );
  assert.ok(ecdsaLogs.length >= 3);
  for (const log of ecdsaLogs) {
    const id = createHash("sha256").update(Buffer.from(log.publicKey.rawBytes, "base64")).digest("base64");
    assert.equal(log.logId.keyId, id, log.baseUrl);
  }
});

// Verifies Sigstore bundles offline against a trusted root, then holds what they prove to the
// release workflow's identity (policy.ts). The Sigstore libraries are loaded only here, when an
// attestation is to be checked, so that no other run pays for them.
import {
  derUtf8String,
  type ExpectedSigner,
  OID_SOURCE_REPOSITORY_URI,
  type SignerIdentity,
  signerMismatch,
  statementMismatch,
} from "./policy.js";

/** A verdict over every attestation of an asset: the first that passes, or why each did not. */
export type Verdict = { verified: true; signer: string } | { verified: false; reasons: string[] };

/**
 * Public-good certificates carry an SCT from Sigstore's CT log, as `cosign` and `gh` require: a
 * certificate that was never logged could have been issued out of sight. One transparency-log
 * entry, whose signed timestamp is the time every certificate must have been valid at.
 */
const THRESHOLDS = { ctlogThreshold: 1, tlogThreshold: 1 };

export async function verifyAttestations(
  bundles: unknown[],
  trustedRoot: unknown,
  expected: ExpectedSigner,
  sha256: string,
): Promise<Verdict> {
  const [{ bundleFromJSON }, { Verifier, toSignedEntity, toTrustMaterial }, { TrustedRoot }] =
    await Promise.all([
      import("@sigstore/bundle"),
      import("@sigstore/verify"),
      import("@sigstore/protobuf-specs"),
    ]);
  const verifier = new Verifier(toTrustMaterial(TrustedRoot.fromJSON(trustedRoot)), THRESHOLDS);
  const reasons: string[] = [];
  for (const json of bundles) {
    try {
      const bundle = bundleFromJSON(json);
      if (bundle.content.$case !== "dsseEnvelope") {
        reasons.push("it signs a message, not an in-toto statement");
        continue;
      }
      const signer = verifier.verify(toSignedEntity(bundle));
      const extensions = signer.identity?.oids ?? [];
      const source = extensions.find((oid) => oid.oid?.id.join(".") === OID_SOURCE_REPOSITORY_URI);
      const identity: SignerIdentity = {
        subjectAlternativeName: signer.identity?.subjectAlternativeName,
        issuer: signer.identity?.extensions?.issuer,
        sourceRepository: source ? derUtf8String(source.value) : undefined,
      };
      const { payload, payloadType } = bundle.content.dsseEnvelope;
      const mismatch = signerMismatch(identity, expected) ?? statementMismatch(payloadType, payload, sha256);
      if (mismatch) reasons.push(mismatch);
      else return { verified: true, signer: identity.subjectAlternativeName ?? "" };
    } catch (error) {
      reasons.push(describeFailure(error));
    }
  }
  return { verified: false, reasons };
}

/** The library's errors carry a code and a sentence; a bundle that does not parse, its fields. */
function describeFailure(error: unknown): string {
  const { message, code, fields } = error as { message?: string; code?: string; fields?: string[] };
  if (fields?.length) return `it is not a valid Sigstore bundle (${fields.join(", ")})`;
  const cause = (error as { cause?: { message?: string } }).cause?.message;
  return `its signature does not verify: ${message ?? String(error)}${cause ? ` (${cause})` : ""}${code ? ` [${code}]` : ""}`;
}

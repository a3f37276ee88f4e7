// Verifies Sigstore bundles offline against a trusted root, then holds what they prove to the
// release workflow's identity (policy.ts). The Sigstore libraries are loaded only here, when an
// attestation is to be checked, so that no other run pays for them.
import { InstallError } from "../errors.js";
import {
  derUtf8String,
  type ExpectedSigner,
  OID_SOURCE_REPOSITORY_URI,
  type SignerIdentity,
  signerMismatch,
  statementMismatch,
} from "./policy.js";

/**
 * A verdict over every attestation of an asset: the first that passes, or why each did not.
 * `unsupported` counts those logged in a form this verifier cannot check (Rekor v2).
 */
export type Verdict =
  | { verified: true; signer: string }
  | { verified: false; reasons: string[]; unsupported: number };

/**
 * Rekor v2 logs DSSE entries as kind dsse, version 0.0.2. @sigstore/verify 3.1.1 (the last that
 * runs on Node 20) fails them with "digest mismatch": such a bundle is set aside, not called
 * forged, so that --provenance auto does not refuse a genuine release for its log's format.
 */
function loggedInRekorV2(json: unknown): boolean {
  const entries = (json as { verificationMaterial?: { tlogEntries?: unknown } })?.verificationMaterial
    ?.tlogEntries;
  return (
    Array.isArray(entries) &&
    entries.length > 0 &&
    entries.every(
      (entry) => (entry as { kindVersion?: { version?: unknown } })?.kindVersion?.version === "0.0.2",
    )
  );
}

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
  let verifier: InstanceType<typeof Verifier>;
  try {
    verifier = new Verifier(toTrustMaterial(TrustedRoot.fromJSON(trustedRoot)), THRESHOLDS);
  } catch (error) {
    throw new InstallError(
      "usage",
      `The Sigstore trusted root is not usable: ${(error as Error).message}.`,
      "Pass a trusted_root.json with --sigstore-root (one line of `gh attestation trusted-root` is one).",
    );
  }
  const reasons: string[] = [];
  let unsupported = 0;
  for (const json of bundles) {
    if (loggedInRekorV2(json)) {
      unsupported += 1;
      reasons.push("it is logged in Rekor v2, which this installer cannot verify yet");
      continue;
    }
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
  return { verified: false, reasons, unsupported };
}

/** The library's errors carry a code and a sentence; a bundle that does not parse, its fields. */
function describeFailure(error: unknown): string {
  const { message, code, fields } = error as { message?: string; code?: string; fields?: string[] };
  if (fields?.length) return `it is not a valid Sigstore bundle (${fields.join(", ")})`;
  const cause = (error as { cause?: { message?: string } }).cause?.message;
  return `its signature does not verify: ${message ?? String(error)}${cause ? ` (${cause})` : ""}${code ? ` [${code}]` : ""}`;
}

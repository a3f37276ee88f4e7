// What an attestation must say for RunMat's bytes to count as built by RunMat's release
// workflow: pure checks over what the Sigstore verifier has already proven authentic (the
// certificate's identity, the signed in-toto statement). Each returns why it does not match, or
// null. The library's own identity policy is not used: it matches the SAN as an unanchored
// regular expression, so `.` would accept any workflow of any repository.

/** GitHub Actions' OIDC issuer, as Fulcio writes it into the certificate. */
export const GITHUB_ACTIONS_ISSUER = "https://token.actions.githubusercontent.com";
/** Fulcio's extension naming the repository the workflow ran in (a DER UTF8String). */
export const OID_SOURCE_REPOSITORY_URI = "1.3.6.1.4.1.57264.1.12";
const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";
const IN_TOTO_STATEMENT_TYPES = ["https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"];
/** SLSA provenance, as actions/attest-build-provenance writes it (v1), and its predecessor. */
const SLSA_PROVENANCE_TYPES = ["https://slsa.dev/provenance/v1", "https://slsa.dev/provenance/v0.2"];

export interface ExpectedSigner {
  /** https://github.com/OWNER/REPO/.github/workflows/WORKFLOW@refs/tags/TAG */
  subjectAlternativeName: string;
  issuer: string;
  /** https://github.com/OWNER/REPO */
  sourceRepository: string;
}

/** The identity of the release workflow that built `tag` of `repo`. */
export function expectedSigner(repo: string, workflow: string, tag: string): ExpectedSigner {
  const repository = `https://github.com/${repo}`;
  return {
    subjectAlternativeName: `${repository}/.github/workflows/${workflow}@refs/tags/${tag}`,
    issuer: GITHUB_ACTIONS_ISSUER,
    sourceRepository: repository,
  };
}

/** What the verifier read from the signing certificate. */
export interface SignerIdentity {
  subjectAlternativeName?: string;
  issuer?: string;
  /** The source-repository extension's value, decoded; undefined when absent or not a string. */
  sourceRepository?: string;
}

/**
 * GitHub's owner and repository names are case-insensitive (no two repositories differ only in
 * case), and the certificate spells them as GitHub does, which --repo need not: the repository
 * part compares without case, everything else exactly.
 */
function sameRepositoryUrl(actual: string, expected: string, expectedRepository: string): boolean {
  if (actual.length !== expected.length) return false;
  const cut = expectedRepository.length;
  return (
    actual.slice(0, cut).toLowerCase() === expected.slice(0, cut).toLowerCase() &&
    actual.slice(cut) === expected.slice(cut)
  );
}

export function signerMismatch(actual: SignerIdentity, expected: ExpectedSigner): string | null {
  const san = actual.subjectAlternativeName ?? "";
  if (!sameRepositoryUrl(san, expected.subjectAlternativeName, expected.sourceRepository)) {
    return `it was signed by ${san || "an unnamed identity"}, not ${expected.subjectAlternativeName}`;
  }
  if (actual.issuer !== expected.issuer) {
    return `its identity was issued by ${actual.issuer ?? "an unnamed issuer"}, not ${expected.issuer}`;
  }
  const source = actual.sourceRepository ?? "";
  if (!sameRepositoryUrl(source, expected.sourceRepository, expected.sourceRepository)) {
    return `its certificate names the repository ${source || "(none)"}, not ${expected.sourceRepository}`;
  }
  return null;
}

/** A DER UTF8String (tag 12) that fills `value` exactly, or undefined. */
export function derUtf8String(value: Uint8Array): string | undefined {
  if (value.length < 2 || value[0] !== 0x0c) return undefined;
  let length = value[1];
  let start = 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 2 || value.length < 2 + bytes) return undefined;
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + value[2 + i];
    start = 2 + bytes;
  }
  if (start + length !== value.length) return undefined;
  return Buffer.from(value.subarray(start)).toString("utf8");
}

/**
 * Why the signed statement does not vouch for an asset with this SHA-256, or null. The Sigstore
 * verifier checks the signature over the payload but never reads it: this is the part that ties
 * the attestation to these bytes.
 */
export function statementMismatch(payloadType: string, payload: Buffer, sha256: string): string | null {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) return `its payload is ${payloadType}, not an in-toto statement`;
  let statement: { _type?: unknown; predicateType?: unknown; subject?: unknown };
  try {
    statement = JSON.parse(payload.toString("utf8"));
  } catch {
    return "its in-toto statement is not JSON";
  }
  if (!IN_TOTO_STATEMENT_TYPES.includes(String(statement?._type))) {
    return "its payload is not an in-toto statement";
  }
  if (!SLSA_PROVENANCE_TYPES.includes(String(statement.predicateType))) {
    return `it states ${String(statement.predicateType)}, not SLSA build provenance`;
  }
  const subjects = Array.isArray(statement.subject) ? statement.subject : [];
  const wanted = sha256.toLowerCase();
  const names = subjects.some(
    (subject: { digest?: { sha256?: unknown } }) =>
      typeof subject?.digest?.sha256 === "string" && subject.digest.sha256.toLowerCase() === wanted,
  );
  return names ? null : `none of its subjects has the asset's SHA-256 ${wanted}`;
}

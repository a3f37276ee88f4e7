// The provenance step of an install: look the asset's attestations up while it downloads, then,
// once its SHA-256 is known, verify them offline and decide by --provenance. A failed check is
// an integrity error (exit 4) raised before anything is placed; what was decided goes into the
// receipt, `status` and --json.
import { setImmediate } from "node:timers/promises";
import { InstallError } from "../errors.js";
import { readRegularFile } from "../fs-atomic.js";
import type { HttpClient } from "../net/http.js";
import type { ProvenanceOptions, ReleaseOptions } from "../options.js";
import { RATE_LIMIT_HINT } from "../release/github.js";
import type { Source } from "../release/resolve.js";
import { type Attestation, attestationsBesideArchive, fetchAttestations } from "./fetch.js";
import { expectedSigner } from "./policy.js";
import { PUBLIC_GOOD_TRUSTED_ROOT } from "./public-good-root.js";
import { verifyAttestations } from "./verify.js";

/** What the installer knows of where an installed release was built. */
export type ProvenanceRecord =
  /** An attestation signed by the release workflow vouches for the asset's SHA-256. */
  | { status: "verified"; signer: string }
  /** The release publishes no attestation for the asset (allowed under --provenance auto). */
  | { status: "none" }
  /** --provenance off. */
  | { status: "off" }
  /** --provenance auto, and the attestations could not be looked up: said as a warning. */
  | { status: "unchecked"; reason: string };

type Lookup = Promise<Attestation[] | null>;

/**
 * Starts looking the attestations up, so that the lookup overlaps the download: from the API by
 * the digest the release states, or from beside an --archive. Null when there is nothing to do
 * yet (off, or a digest only the download will tell).
 */
export function startAttestationLookup(
  options: ReleaseOptions & { provenance: ProvenanceOptions },
  source: Source,
  http: HttpClient | null,
): Lookup | null {
  if (options.provenance.mode === "off") return null;
  if ("file" in source.location) return attestationsBesideArchive(source.location.file);
  if (!http || !source.sha256 || source.apiRateLimited) return null;
  const lookup = fetchAttestations(http, options.apiUrl, options.repo, source.sha256);
  // Awaited later; until then a failure must not count as unhandled.
  lookup.catch(() => {});
  return lookup;
}

/** What the step tells the terminal: a spinner while it waits or verifies, and debug lines. */
export interface ProvenanceObserver {
  debug(message: string): void;
  working(what: string): Promise<{ done(): void; stop(): void }>;
}

/** Decides the provenance of an asset whose bytes hash to `sha256`, throwing when it fails. */
export async function decideProvenance(
  options: ReleaseOptions & { provenance: ProvenanceOptions },
  source: Source,
  sha256: string,
  http: HttpClient | null,
  started: Lookup | null,
  observer: ProvenanceObserver,
): Promise<ProvenanceRecord> {
  const { mode } = options.provenance;
  if (mode === "off") return { status: "off" };
  // Attestations are only on the API, which has just refused this machine: asking again would
  // spend another request to be refused again.
  if (source.apiRateLimited) {
    const reason = "attestations are listed by GitHub's API, which is rate-limited for this machine";
    if (mode === "auto") return { status: "unchecked", reason };
    throw new InstallError(
      "network",
      `Cannot check where ${source.assetName} was built: ${reason}, and --provenance require asks for it.`,
      RATE_LIMIT_HINT,
    );
  }
  // Said on screen only while there is something to wait for or to verify: the lookup usually
  // ended during the download, and a release without attestations needs no line at all.
  // (A lookup that has settled wins the race: its callbacks run before the next turn of the loop.)
  const waiting = started
    ? await Promise.race([
        started.then(
          () => false,
          () => false,
        ),
        setImmediate(true),
      ])
    : Boolean(http);
  let shown = waiting ? await observer.working(`Looking up where ${source.assetName} was built`) : null;
  try {
    let attestations: Attestation[] | null;
    try {
      attestations =
        (await started) ??
        (http ? await fetchAttestations(http, options.apiUrl, options.repo, sha256) : null);
    } catch (error) {
      if (mode === "require" || !(error instanceof InstallError) || error.kind !== "network") throw error;
      return { status: "unchecked", reason: `the attestation lookup failed: ${error.message}` };
    }
    shown?.done();
    shown = attestations?.length
      ? await observer.working(`Verifying where ${source.assetName} was built`)
      : null;
    const record = await judge(options, source, sha256, attestations, observer);
    shown?.done();
    return record;
  } finally {
    shown?.stop();
  }
}

/** The verdict over what was found, by --provenance. */
async function judge(
  options: ReleaseOptions & { provenance: ProvenanceOptions },
  source: Source,
  sha256: string,
  attestations: Attestation[] | null,
  observer: ProvenanceObserver,
): Promise<ProvenanceRecord> {
  const { mode, workflow } = options.provenance;
  if (!attestations || attestations.length === 0) {
    if (mode === "require") {
      throw new InstallError(
        "integrity",
        `${source.assetName} has no attestation${"file" in source.location ? ` (no ${source.location.file}.sigstore.json beside it)` : ` in ${options.repo}`}, and --provenance require asks for one.`,
        "file" in source.location
          ? "Put the bundle from `gh attestation download` beside the archive as <archive>.sigstore.json, or use --provenance auto."
          : "This release was published without build provenance; use --provenance auto to install it anyway.",
      );
    }
    observer.debug(`provenance: ${source.assetName} has no attestation; installed on its SHA-256 alone`);
    return { status: "none" };
  }
  if (!source.tag) {
    throw provenanceFailure(source, workflow, [
      "the release's version is unknown, so the workflow run cannot be named",
    ]);
  }
  const expected = expectedSigner(options.repo, workflow, source.tag);
  const readable = attestations.flatMap((a) => ("bundle" in a ? [a.bundle] : []));
  const unreadable = attestations.flatMap((a) => ("unreadable" in a ? [a.unreadable] : []));
  const trustedRoot = options.provenance.trustedRoot
    ? JSON.parse((await readRegularFile(options.provenance.trustedRoot)) ?? "null")
    : PUBLIC_GOOD_TRUSTED_ROOT;
  const verdict = await verifyAttestations(readable, trustedRoot, expected, sha256);
  if (verdict.verified) return { status: "verified", signer: verdict.signer };
  // Only attestations this verifier cannot read: under auto, said and installed on the SHA-256,
  // as when none are published; under require, a failure like any other.
  if (mode === "auto" && verdict.unsupported === attestations.length) {
    return {
      status: "unchecked",
      reason: `${source.assetName}'s attestations are logged in Rekor v2, which this installer cannot verify yet`,
    };
  }
  throw provenanceFailure(source, workflow, [...unreadable, ...verdict.reasons]);
}

function provenanceFailure(source: Source, workflow: string, reasons: string[]): InstallError {
  const said =
    reasons.length === 1 ? reasons[0] : `${reasons.length} attestations, none valid: ${reasons.join("; ")}`;
  return new InstallError(
    "integrity",
    `The provenance of ${source.assetName} does not hold: ${said}. Nothing was installed.`,
    `Do not use this download: report it to the RunMat maintainers. (It was checked against the workflow ${workflow}; if RunMat releases from another, --provenance-workflow names it.)`,
  );
}

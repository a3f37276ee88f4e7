// Where attestations come from: GitHub's attestations API for a digest, each bundle inline or
// behind a `bundle_url` (Snappy-compressed, on blob storage), or a `.sigstore.json` beside an
// --archive. Every read is bounded like the release lookup's documents.
import { InstallError } from "../errors.js";
import { readRegularFile } from "../fs-atomic.js";
import { fetchDocument, type HttpClient, HttpStatusError, MAX_DOCUMENT_BYTES } from "../net/http.js";
import { checkUrlAllowed } from "../net/url-policy.js";
import { parseBoundedJson, rateLimitOrAuthError } from "../release/github.js";
import { decodeSnappy, SnappyError } from "./snappy.js";

/** A bundle to verify, or why one listed attestation could not be read (a verification failure). */
export type Attestation = { bundle: unknown } | { unreadable: string };

/** One page of the API's answer; a release asset has one or two attestations. */
const PER_PAGE = 30;

/** The attestations the API lists for `sha256` in `repo`; empty when it has none (404). */
export async function fetchAttestations(
  client: HttpClient,
  apiUrl: string,
  repo: string,
  sha256: string,
): Promise<Attestation[]> {
  const url = new URL(`${apiUrl}/repos/${repo}/attestations/sha256:${sha256}?per_page=${PER_PAGE}`);
  let text: string;
  try {
    const answer = await fetchDocument(
      client,
      url,
      "Attestation lookup",
      { accept: "application/vnd.github+json" },
      [404],
    );
    if (answer.statusCode === 404) return [];
    text = answer.text;
  } catch (error) {
    if (!(error instanceof HttpStatusError)) throw error;
    throw (
      rateLimitOrAuthError(error, Boolean(client.settings.token)) ??
      new InstallError(
        "network",
        `Attestation lookup failed: HTTP ${error.statusCode} from ${url.host}.`,
        "Check --github-api and your proxy settings, or pass --provenance off to install without the check.",
      )
    );
  }
  const listed = (parseBoundedJson(text) as { attestations?: unknown } | undefined)?.attestations;
  if (!Array.isArray(listed)) {
    throw new InstallError(
      "network",
      `${url.host} did not answer the attestation lookup with GitHub's JSON.`,
      "Check --github-api; a proxy or captive portal may be answering instead.",
    );
  }
  const attestations: Attestation[] = [];
  for (const entry of listed.slice(0, PER_PAGE) as { bundle?: unknown; bundle_url?: unknown }[]) {
    if (entry?.bundle && typeof entry.bundle === "object") attestations.push({ bundle: entry.bundle });
    else if (typeof entry?.bundle_url === "string")
      attestations.push(await fetchBundle(client, entry.bundle_url));
    else attestations.push({ unreadable: "the API listed it with neither a bundle nor a bundle_url" });
  }
  return attestations;
}

/**
 * A bundle on blob storage: fetched without the token (which only the API host ever sees), and
 * decoded strictly. What is wrong with its bytes is that attestation's failure, not the network's.
 */
async function fetchBundle(client: HttpClient, bundleUrl: string): Promise<Attestation> {
  let url: URL;
  try {
    url = checkUrlAllowed(bundleUrl, "an attestation's bundle_url", "integrity");
  } catch (error) {
    return { unreadable: (error as Error).message };
  }
  const anonymous: HttpClient = { ...client, settings: { ...client.settings, token: undefined } };
  const { bytes } = await fetchDocument(anonymous, url, `Download of an attestation from ${url.host}`, {
    accept: "application/octet-stream",
  });
  try {
    const bundle = parseBoundedJson(decodeSnappy(bytes, MAX_DOCUMENT_BYTES).toString("utf8"));
    return bundle && typeof bundle === "object"
      ? { bundle }
      : { unreadable: `its bundle from ${url.host} is not JSON` };
  } catch (error) {
    if (!(error instanceof SnappyError)) throw error;
    return { unreadable: `its bundle from ${url.host} is not valid Snappy: ${error.message}` };
  }
}

/**
 * The bundles beside an --archive: `<archive>.sigstore.json`, one bundle, or the JSON Lines that
 * `gh attestation download` writes. Null when there is no such file.
 */
export async function attestationsBesideArchive(archive: string): Promise<Attestation[] | null> {
  const file = `${archive}.sigstore.json`;
  let text: string | null;
  try {
    text = await readRegularFile(file, MAX_DOCUMENT_BYTES);
  } catch (error) {
    return [{ unreadable: `${file} could not be read: ${(error as Error).message}` }];
  }
  if (text === null) return null;
  const whole = parseBoundedJson(text);
  const values =
    whole !== undefined
      ? [whole]
      : text
          .split("\n")
          .filter((line) => line.trim())
          .map(parseBoundedJson);
  return values.map((bundle) =>
    bundle && typeof bundle === "object" ? { bundle } : { unreadable: `${file} is not a Sigstore bundle` },
  );
}

// Build provenance end to end: the fixture world's API lists attestations made by a private
// Sigstore (test/fixtures/sigstore.ts), whose trusted root the installer is given with
// --sigstore-root. A valid attestation installs and is recorded; every way one can be wrong is
// refused with exit 4 before anything is placed, and the earlier install stays as it was.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { sha256 } from "../fixtures/archives.js";
import { seaBinary } from "../fixtures/binaries.js";
import { ReleaseServer } from "../fixtures/release-server.js";
import { cleanHome, diffTrees, makeHome, runInstaller, snapshotTree } from "../fixtures/run.js";
import { type AttestationSpec, snappyLiterals, TestSigstore } from "../fixtures/sigstore.js";
import { assetName, publishRelease, serverArgs } from "../fixtures/world.js";

const REPO = "runmat-org/runmat";
const SIGNER = `https://github.com/${REPO}/.github/workflows/release.yml@refs/tags/v0.7.0`;

let server: ReleaseServer;
let sigstore: TestSigstore;
let home: string;
let rootFile: string;

before(async () => {
  server = await new ReleaseServer().start();
  sigstore = new TestSigstore();
});
after(async () => {
  await server.stop();
});
beforeEach(async () => {
  home = await makeHome("provenance");
  rootFile = join(home, "trusted_root.json");
  await writeFile(rootFile, JSON.stringify(sigstore.trustedRoot()));
  server.reset();
});
afterEach(async () => {
  await cleanHome(home);
});

/** Publishes v0.7.0 and lists `bundles` as its asset's attestations; returns the asset's SHA-256. */
function publishAttested(bundles: (digest: string) => { bundle?: object; bundle_url?: string }[]): string {
  const asset = publishRelease(server, "v0.7.0");
  const digest = sha256(asset.data);
  server.attestations.set(digest, bundles(digest));
  return digest;
}

function attestation(digest: string, spec: Partial<AttestationSpec> = {}): object {
  return sigstore.attest({ subjectSha256: digest, repo: REPO, tag: "v0.7.0", ...spec });
}

function install(args: string[] = [], env: Record<string, string> = {}) {
  return runInstaller(home, [...serverArgs(server), "--sigstore-root", rootFile, ...args], { env });
}

async function receipt(): Promise<{ provenance?: unknown }> {
  return JSON.parse(await readFile(join(home, ".runmat", "install-receipt.json"), "utf8"));
}

describe("a release with a valid attestation", () => {
  it("installs, says provenance verified with the signer, and records it in the receipt and status", async () => {
    publishAttested((digest) => [{ bundle: attestation(digest) }]);
    const run = await install();
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout + run.stderr,
      new RegExp(`provenance verified: built by ${SIGNER.replace(/[.?]/g, "\\$&")}`),
    );
    assert.deepEqual((await receipt()).provenance, { status: "verified", signer: SIGNER });
    assert.match(run.stderr, /^Verifying where runmat-v0\.7\.0-\S+ was built\.\.\.$/m);
    const status = await runInstaller(home, ["status", "--offline", "--json"]);
    assert.deepEqual(JSON.parse(status.stdout).provenance, { status: "verified", signer: SIGNER });
    const said = await runInstaller(home, ["status", "--offline"]);
    assert.match(said.stdout, /provenance verified: built by https:\/\/github\.com\/runmat-org\/runmat\//);
  });

  it("the single binary (Node 22) verifies it too, and refuses a tampered one", async () => {
    const command = [seaBinary("runmat-install-linux-x64")];
    const digest = publishAttested((d) => [{ bundle: attestation(d) }]);
    const run = await runInstaller(home, [...serverArgs(server), "--sigstore-root", rootFile], { command });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((await receipt()).provenance, { status: "verified", signer: SIGNER });
    server.attestations.set(digest, [{ bundle: attestation(digest, { tamper: "signature" }) }]);
    const args = [...serverArgs(server), "--sigstore-root", rootFile, "--force"];
    const tampered = await runInstaller(home, args, { command });
    assert.equal(tampered.code, 4, tampered.stderr);
  });

  it("--json carries the provenance in the result object", async () => {
    publishAttested((digest) => [{ bundle: attestation(digest) }]);
    const run = await install(["--json"]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout).provenance, { status: "verified", signer: SIGNER });
  });

  it("one valid attestation among invalid ones is enough", async () => {
    publishAttested((digest) => [
      { bundle: attestation(digest, { workflow: "nightly.yml" }) },
      { bundle: attestation(digest) },
    ]);
    const run = await install();
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((await receipt()).provenance, { status: "verified", signer: SIGNER });
  });

  it("--provenance-workflow names another release workflow, and only that one passes", async () => {
    publishAttested((digest) => [{ bundle: attestation(digest, { workflow: "publish.yaml" }) }]);
    const refused = await install();
    assert.equal(refused.code, 4, refused.stderr);
    const run = await install(["--provenance-workflow", "publish.yaml"]);
    assert.equal(run.code, 0, run.stderr);
  });
});

/** Each way an attestation can fail to vouch for the asset, and a word the error must say. */
const REFUSED: [string, (digest: string) => object, RegExp][] = [
  [
    "another repository's workflow",
    (d) => attestation(d, { repo: "someone/runmat" }),
    /signed by https:\/\/github\.com\/someone\/runmat/,
  ],
  ["another ref (tag)", (d) => attestation(d, { tag: "v0.6.9" }), /@refs\/tags\/v0\.6\.9, not/],
  ["another workflow", (d) => attestation(d, { workflow: "build.yml" }), /workflows\/build\.yml/],
  [
    "a SAN that only starts like the right one",
    (d) => attestation(d, { san: `${SIGNER}-evil` }),
    /not https:\/\/github/,
  ],
  [
    "a SAN that carries a terminal escape: shown escaped",
    (d) => attestation(d, { san: `${SIGNER}\u001b[2J` }),
    /v0\.7\.0\\u001b\[2J, not https/,
  ],
  [
    "another OIDC issuer",
    (d) => attestation(d, { issuer: "https://token.actions.example.com" }),
    /issued by https:\/\/token\.actions\.example\.com/,
  ],
  [
    "a certificate naming another source repository",
    (d) => attestation(d, { sourceRepository: "https://github.com/someone/fork" }),
    /names the repository https:\/\/github\.com\/someone\/fork/,
  ],
  ["a tampered payload", (d) => attestation(d, { tamper: "payload" }), /payload hash mismatch/],
  [
    "a tampered signature",
    (d) => attestation(d, { tamper: "signature" }),
    /signature mismatch|signature verification failed/,
  ],
  [
    "a subject digest that differs",
    () => attestation("0".repeat(64)),
    /none of its subjects has the asset's SHA-256/,
  ],
  [
    "another predicate type",
    (d) => attestation(d, { predicateType: "https://example.com/vuln-scan" }),
    /not SLSA build provenance/,
  ],
  [
    "a certificate expired when the log saw the entry",
    (d) => attestation(d, { certificateLifetimeMs: 1000 }),
    /expired/,
  ],
  [
    "a certificate from a CA the root does not name",
    (d) => attestation(d, { foreignCa: true }),
    /certificate chain/,
  ],
  ["a certificate never logged in CT (no SCT)", (d) => attestation(d, { withoutSct: true }), /SCT/],
];

describe("an attestation that does not vouch for the asset: exit 4, the earlier install untouched", () => {
  for (const [name, make, said] of REFUSED) {
    it(name, async () => {
      publishRelease(server, "v0.6.1");
      assert.equal((await install()).code, 0);
      const before = await snapshotTree(home);
      publishAttested((digest) => [{ bundle: make(digest) }]);
      const run = await install();
      assert.equal(run.code, 4, run.stderr);
      assert.match(run.stderr, /error: The provenance of runmat-v0\.7\.0-\S+ does not hold: /);
      assert.match(run.stderr, said);
      assert.match(run.stderr, /Nothing was installed\./);
      assert.match(run.stderr, /hint: /);
      assert.doesNotMatch(run.stderr, /\u001b/, "no raw escape from the certificate reaches the terminal");
      assert.deepEqual(diffTrees(before, await snapshotTree(home)), []);
    });
  }

  for (const [name, end] of [
    ["the CA's validity in the trusted root", "caEnd"],
    ["the log key's validity in the trusted root", "logEnd"],
  ] as const) {
    it(`${name} ended before the entry was logged`, async () => {
      await writeFile(
        rootFile,
        JSON.stringify(sigstore.trustedRoot({ [end]: new Date(Date.now() - 3_600_000) })),
      );
      publishAttested((digest) => [{ bundle: attestation(digest) }]);
      const run = await install();
      assert.equal(run.code, 4, run.stderr);
      assert.match(run.stderr, /does not hold: its signature does not verify/);
    });
  }

  it("the public-good root (no --sigstore-root) does not trust the test CA", async () => {
    publishAttested((digest) => [{ bundle: attestation(digest) }]);
    const run = await runInstaller(home, serverArgs(server));
    assert.equal(run.code, 4, run.stderr);
    assert.match(run.stderr, /its signature does not verify/);
  });
});

describe("bundles behind a bundle_url, Snappy-compressed on another host", () => {
  /** The blob host: the same fixture server by another name, so another origin than the API. */
  const blobUrl = (path: string) => `${server.url.replace("127.0.0.1", "localhost")}${path}`;

  it("a valid body installs, and the token is sent to the API host only, never to the blob host", async () => {
    publishAttested((digest) => {
      server.files.set("/blobs/good", snappyLiterals(Buffer.from(JSON.stringify(attestation(digest)))));
      return [{ bundle: null as unknown as undefined, bundle_url: blobUrl("/blobs/good") }];
    });
    const run = await install([], { GITHUB_TOKEN: "ghp_fixture_token" });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((await receipt()).provenance, { status: "verified", signer: SIGNER });
    const blob = server.requests.filter((r) => r.path === "/blobs/good");
    assert.equal(blob.length, 1);
    assert.equal(blob[0].headers.authorization, undefined);
    const api = server.requests.find((r) => r.path.includes("/attestations/sha256:"));
    assert.equal(api?.headers.authorization, "Bearer ghp_fixture_token");
  });

  const bodies: [string, (json: Buffer) => Buffer, RegExp][] = [
    [
      "a length header far larger than any bundle (1 GiB in 5 bytes)",
      () => Buffer.from([0x80, 0x80, 0x80, 0x80, 0x04]),
      /more than the \d+ allowed/,
    ],
    [
      "a body cut short",
      (json) => snappyLiterals(json).subarray(0, -100),
      /runs past the end|holds \d+ bytes/,
    ],
    [
      "a header that claims more than the body holds",
      (json) => snappyLiterals(json, json.length + 100),
      /holds \d+ bytes where its header says \d+/,
    ],
    [
      "a copy that reaches before the start",
      () => Buffer.from([0x08, 0x01, 0x05]),
      /reaches before the start/,
    ],
  ];
  for (const [name, damage, said] of bodies) {
    it(`${name}: exit 4, nothing installed`, async () => {
      publishAttested((digest) => {
        server.files.set("/blobs/bad", damage(Buffer.from(JSON.stringify(attestation(digest)))));
        return [{ bundle_url: blobUrl("/blobs/bad") }];
      });
      const run = await install();
      assert.equal(run.code, 4, run.stderr);
      assert.match(run.stderr, /is not valid Snappy: /);
      assert.match(run.stderr, said);
      assert.equal((await snapshotTree(join(home, ".local"))).size, 0, "nothing placed");
    });
  }
});

describe("no attestation published", () => {
  it("auto (the default): installs, says so under --verbose, and records none", async () => {
    publishRelease(server, "v0.7.0");
    const run = await install(["--verbose"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /has no attestation; installed on its SHA-256 alone/);
    assert.doesNotMatch(
      run.stderr,
      /where runmat-v0\.7\.0\S+ was built/,
      "no step shown for nothing to verify",
    );
    assert.deepEqual((await receipt()).provenance, { status: "none" });
  });

  it("require: exit 4, nothing installed", async () => {
    publishRelease(server, "v0.7.0");
    const run = await install(["--provenance", "require"]);
    assert.equal(run.code, 4, run.stderr);
    assert.match(
      run.stderr,
      /has no attestation in runmat-org\/runmat, and --provenance require asks for one/,
    );
    assert.equal((await snapshotTree(join(home, ".local"))).size, 0);
  });

  it("RUNMAT_PROVENANCE=require does the same", async () => {
    publishRelease(server, "v0.7.0");
    const run = await install([], { RUNMAT_PROVENANCE: "require" });
    assert.equal(run.code, 4, run.stderr);
  });

  it("off: no attestation lookup at all, recorded as off", async () => {
    publishAttested((digest) => [{ bundle: attestation(digest, { tamper: "payload" }) }]);
    const run = await install(["--provenance", "off"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(server.requests.filter((r) => r.path.includes("/attestations/")).length, 0);
    assert.deepEqual((await receipt()).provenance, { status: "off" });
  });

  it("a lookup that fails under auto: a warning, installed, recorded as unchecked; under require: exit 3", async () => {
    publishRelease(server, "v0.7.0");
    server.fault("/attestations/", { kind: "status", status: 500 }, 8);
    const run = await install(["--timeout", "2"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      /warning: Could not check where the release was built \(the attestation lookup failed: /,
    );
    assert.equal(((await receipt()).provenance as { status: string }).status, "unchecked");
    server.clearFaults();
    server.fault("/attestations/", { kind: "status", status: 500 }, 8);
    const required = await install(["--provenance", "require", "--force"]);
    assert.equal(required.code, 3, required.stderr);
  });
});

describe("GitHub's API rate-limited, the release found on its pages", () => {
  it("auto: no second API call, a warning, recorded as unchecked; require: exit 3 naming the token variables", async () => {
    const asset = publishRelease(server, "v0.7.0");
    const sums = `${sha256(asset.data)}  ${asset.name}\n`;
    server.publish("v0.7.0", [asset, { name: "SHA256SUMS", data: Buffer.from(sums) }]);
    server.attestations.set(sha256(asset.data), [{ bundle: attestation(sha256(asset.data)) }]);
    server.fault("/repos/", { kind: "status", status: 403, headers: { "x-ratelimit-remaining": "0" } }, 100);
    const run = await install();
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      server.requests.filter((r) => r.path.startsWith("/repos/")).length,
      1,
      "one API call, then none",
    );
    assert.match(
      run.stderr,
      /warning: Could not check where the release was built \(attestations are listed by GitHub's API, which is rate-limited/,
    );
    assert.equal(((await receipt()).provenance as { status: string }).status, "unchecked");
    const required = await install(["--provenance", "require", "--force"]);
    assert.equal(required.code, 3, required.stderr);
    assert.match(required.stderr, /hint: Set GITHUB_TOKEN or GH_TOKEN/);
  });
});

describe("attestations logged in Rekor v2, which @sigstore/verify 3.1.1 cannot check", () => {
  it("auto: installs with a warning that says so, recorded as unchecked; require: exit 4", async () => {
    publishAttested((digest) => [{ bundle: attestation(digest, { rekorV2: true }) }]);
    const run = await install();
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /warning: Could not check where the release was built \(.*logged in Rekor v2/);
    assert.equal(((await receipt()).provenance as { status: string }).status, "unchecked");
    const required = await install(["--provenance", "require", "--force"]);
    assert.equal(required.code, 4, required.stderr);
    assert.match(required.stderr, /logged in Rekor v2, which this installer cannot verify yet/);
  });

  it("beside a Rekor v1 attestation that verifies, it is not needed", async () => {
    publishAttested((digest) => [
      { bundle: attestation(digest, { rekorV2: true }) },
      { bundle: attestation(digest) },
    ]);
    const run = await install(["--provenance", "require"]);
    assert.equal(run.code, 0, run.stderr);
  });
});

describe("--archive with a bundle beside it", () => {
  it("<archive>.sigstore.json is verified offline; a wrong one is exit 4; none is fine under auto", async () => {
    const asset = publishRelease(server, "v0.7.0");
    const archive = join(home, assetName("v0.7.0"));
    await writeFile(archive, asset.data);
    await writeFile(
      `${archive}.sigstore.json`,
      JSON.stringify(attestation(sha256(asset.data), { workflow: "other.yml" })),
    );
    const wrong = await runInstaller(home, [
      "--archive",
      archive,
      "--sigstore-root",
      rootFile,
      "--repo",
      REPO,
    ]);
    assert.equal(wrong.code, 4, wrong.stderr);
    assert.match(wrong.stderr, /workflows\/other\.yml/);
    // JSON Lines, as `gh attestation download` writes them: one valid line is enough.
    const lines = [
      attestation(sha256(asset.data), { workflow: "other.yml" }),
      attestation(sha256(asset.data)),
    ];
    await writeFile(`${archive}.sigstore.json`, lines.map((line) => JSON.stringify(line)).join("\n"));
    const run = await runInstaller(home, ["--archive", archive, "--sigstore-root", rootFile, "--repo", REPO]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((await receipt()).provenance, { status: "verified", signer: SIGNER });
  });

  it("no bundle beside the archive: auto installs, require is exit 4", async () => {
    const asset = publishRelease(server, "v0.7.0");
    const archive = join(home, assetName("v0.7.0"));
    await writeFile(archive, asset.data);
    const required = await runInstaller(home, ["--archive", archive, "--provenance", "require"]);
    assert.equal(required.code, 4, required.stderr);
    assert.match(required.stderr, /\.sigstore\.json beside it/);
    const run = await runInstaller(home, ["--archive", archive]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((await receipt()).provenance, { status: "none" });
  });
});

describe("usage", () => {
  it("a trusted root that names no CA or log: exit 2 naming the file, before anything starts", async () => {
    await writeFile(
      rootFile,
      JSON.stringify({ mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1", tlogs: "x" }),
    );
    const run = await runInstaller(home, ["--sigstore-root", rootFile, "--dry-run"]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(
      run.stderr,
      /trusted_root\.json is not a Sigstore trusted root \(it needs a mediaType, certificateAuthorities and tlogs\)/,
    );
  });

  for (const [args, said] of [
    [["--provenance", "maybe"], /--provenance must be auto, require or off, not "maybe"/],
    [["--provenance-workflow", "../x.yml"], /--provenance-workflow must be a workflow's file name/],
    [
      ["--sigstore-root", "/nonexistent/root.json"],
      /Cannot read the Sigstore trusted root \/nonexistent\/root\.json: ENOENT/,
    ],
  ] as const) {
    it(`${args.join(" ")}: exit 2 with a hint`, async () => {
      const run = await runInstaller(home, [...args, "--dry-run"]);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, said);
      assert.match(run.stderr, /hint: /);
    });
  }
});

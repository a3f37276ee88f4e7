import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  derUtf8String,
  expectedSigner,
  GITHUB_ACTIONS_ISSUER,
  signerMismatch,
  statementMismatch,
} from "../../src/provenance/policy.js";

const expected = expectedSigner("runmat-org/runmat", "release.yml", "v0.6.1");
const SAN = "https://github.com/runmat-org/runmat/.github/workflows/release.yml@refs/tags/v0.6.1";
const good = {
  subjectAlternativeName: SAN,
  issuer: GITHUB_ACTIONS_ISSUER,
  sourceRepository: "https://github.com/runmat-org/runmat",
};

describe("signerMismatch", () => {
  it("accepts the release workflow of the repository at the tag", () => {
    assert.equal(expected.subjectAlternativeName, SAN);
    assert.equal(signerMismatch(good, expected), null);
  });

  it("compares the owner and name without case, as GitHub does, and nothing else", () => {
    const spelled = {
      ...good,
      subjectAlternativeName: SAN.replace("runmat-org/runmat", "RunMat-Org/RunMat"),
      sourceRepository: "https://github.com/RunMat-Org/RunMat",
    };
    assert.equal(signerMismatch(spelled, expected), null);
    assert.match(
      signerMismatch(
        { ...good, subjectAlternativeName: SAN.replace("release.yml", "Release.yml") },
        expected,
      ) ?? "",
      /signed by/,
    );
    assert.match(
      signerMismatch({ ...good, subjectAlternativeName: SAN.replace("v0.6.1", "V0.6.1") }, expected) ?? "",
      /signed by/,
    );
  });

  for (const [name, san] of [
    ["a prefix of the SAN", SAN.slice(0, -1)],
    ["the SAN with more after it", `${SAN}.evil`],
    ["the SAN inside another", `https://evil.example/${SAN}`],
    ["a branch instead of the tag", SAN.replace("refs/tags/", "refs/heads/")],
    ["another host", SAN.replace("github.com", "github.com.evil.example")],
    ["none", undefined],
  ] as const) {
    it(`refuses ${name}`, () => {
      assert.match(signerMismatch({ ...good, subjectAlternativeName: san }, expected) ?? "", /signed by/);
    });
  }

  it("refuses another issuer, and a missing or different source repository", () => {
    assert.match(
      signerMismatch({ ...good, issuer: `${GITHUB_ACTIONS_ISSUER}/` }, expected) ?? "",
      /issued by/,
    );
    assert.match(signerMismatch({ ...good, issuer: undefined }, expected) ?? "", /an unnamed issuer/);
    assert.match(
      signerMismatch({ ...good, sourceRepository: undefined }, expected) ?? "",
      /names the repository \(none\)/,
    );
    assert.match(
      signerMismatch({ ...good, sourceRepository: "https://github.com/runmat-org/runmat2" }, expected) ?? "",
      /runmat2/,
    );
  });
});

describe("derUtf8String", () => {
  it("reads a short and a long-form UTF8String that fills the value exactly", () => {
    assert.equal(derUtf8String(Buffer.from([0x0c, 2, 0x68, 0x69])), "hi");
    const long = "x".repeat(200);
    assert.equal(derUtf8String(Buffer.concat([Buffer.from([0x0c, 0x81, 200]), Buffer.from(long)])), long);
  });
  for (const [name, bytes] of [
    ["another type (IA5String)", [0x16, 2, 0x68, 0x69]],
    ["a length longer than the value", [0x0c, 3, 0x68, 0x69]],
    ["bytes after the string", [0x0c, 1, 0x68, 0x69]],
    ["an indefinite length", [0x0c, 0x80, 0x68]],
    ["nothing", []],
  ] as const) {
    it(`refuses ${name}`, () => assert.equal(derUtf8String(Buffer.from(bytes)), undefined));
  }
});

describe("statementMismatch", () => {
  const digest = "ab".repeat(32);
  const statement = (fields: object) =>
    Buffer.from(
      JSON.stringify({
        _type: "https://in-toto.io/Statement/v1",
        predicateType: "https://slsa.dev/provenance/v1",
        subject: [
          { name: "a", digest: { sha256: "cd".repeat(32) } },
          { name: "b", digest: { sha256: digest } },
        ],
        ...fields,
      }),
    );
  const type = "application/vnd.in-toto+json";

  it("accepts SLSA provenance with the asset's digest among its subjects", () => {
    assert.equal(statementMismatch(type, statement({}), digest), null);
    assert.equal(statementMismatch(type, statement({}), digest.toUpperCase()), null);
  });
  it("refuses another payload type, statement type, predicate type or digest", () => {
    assert.match(
      statementMismatch("application/json", statement({}), digest) ?? "",
      /not an in-toto statement/,
    );
    assert.match(
      statementMismatch(type, statement({ _type: "x" }), digest) ?? "",
      /not an in-toto statement/,
    );
    assert.match(
      statementMismatch(type, statement({ predicateType: "https://spdx.dev/Document" }), digest) ?? "",
      /not SLSA build provenance/,
    );
    assert.match(statementMismatch(type, statement({ subject: [] }), digest) ?? "", /none of its subjects/);
    assert.match(
      statementMismatch(type, statement({ subject: [{ digest: { sha256: 5 } }] }), digest) ?? "",
      /none of its subjects/,
    );
    assert.match(statementMismatch(type, Buffer.from("{"), digest) ?? "", /not JSON/);
  });
});

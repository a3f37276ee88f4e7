import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { InstallError } from "../../src/errors.js";
import { resolveTarget } from "../../src/platform/resolve.js";
import { selectAsset } from "../../src/release/assets.js";
import { parseChecksumList, parseDigest } from "../../src/release/checksums.js";
import {
  compareVersions,
  parseRequestedTag,
  printsVersion,
  type Tag,
  tagFromArchiveName,
  toTag,
} from "../../src/release/versions.js";

const linux = resolveTarget({
  platform: "linux",
  machine: "x86_64",
  isAppleSilicon: () => false,
  isMusl: () => false,
});
const windowsArm = resolveTarget({
  platform: "win32",
  machine: "ARM64",
  isAppleSilicon: () => false,
  isMusl: () => false,
});
const asset = (name: string) => ({ name, browser_download_url: `https://example.test/${name}` });

describe("release logic", () => {
  it("refuses tags that are not versions, whatever the server sends", () => {
    for (const bad of [
      "v1.0.0/../../x",
      "../v1.0.0",
      "v1.0.0\u001b[2J",
      "v1.0.0\nerror: fake",
      "release",
      "",
    ]) {
      assert.equal(toTag(bad), null, JSON.stringify(bad));
    }
    assert.equal(toTag("0.6.1"), "v0.6.1");
  });

  it("matches the smoke test's version exactly, as a word", () => {
    assert.ok(printsVersion("runmat 0.6.1", "0.6.1"));
    assert.ok(printsVersion("runmat v0.6.1 (abc123)", "0.6.1"));
    assert.ok(printsVersion("RunMat 1.0.0-rc.1\nbuilt today", "1.0.0-rc.1"));
    assert.ok(!printsVersion("runmat 0.6.10", "0.6.1"));
    assert.ok(!printsVersion("runmat 10.6.1", "0.6.1"));
    assert.ok(!printsVersion("runmat 0.6.1-rc.1", "0.6.1"));
    assert.ok(!printsVersion("runmat", "0.6.1"));
  });

  it("normalises requested versions", () => {
    assert.equal(parseRequestedTag(undefined), null);
    assert.equal(parseRequestedTag("latest"), null);
    assert.equal(parseRequestedTag("0.6.1"), "v0.6.1");
    assert.equal(parseRequestedTag("v0.6.1"), "v0.6.1");
    assert.equal(parseRequestedTag("1.0.0-rc.1"), "v1.0.0-rc.1");
    assert.throws(
      () => parseRequestedTag("banana"),
      (e: InstallError) => e.kind === "usage",
    );
  });

  it("compares versions numerically, honouring the v prefix and pre-releases", () => {
    assert.equal(compareVersions("v0.10.0", "v0.9.9"), 1);
    assert.equal(compareVersions("v0.6.1", "v0.6.1"), 0);
    assert.equal(compareVersions("v1.0.0-rc.1", "v1.0.0"), -1);
    assert.equal(compareVersions("v0.6.0", "v0.6.1"), -1);
  });

  it("prefers the tagged asset name, then the untagged one", () => {
    const release = {
      tag_name: "v0.6.1" as Tag,
      assets: [asset("runmat-linux-x86_64.tar.gz"), asset("runmat-v0.6.1-linux-x86_64.tar.gz")],
    };
    assert.equal(selectAsset(release, linux).asset.name, "runmat-v0.6.1-linux-x86_64.tar.gz");
    const untagged = { tag_name: "v0.6.1" as Tag, assets: [asset("runmat-linux-x86_64.tar.gz")] };
    assert.equal(selectAsset(untagged, linux).asset.name, "runmat-linux-x86_64.tar.gz");
  });

  it("falls back from windows-aarch64 to windows-x86_64, saying so", () => {
    const release = { tag_name: "v0.6.1" as Tag, assets: [asset("runmat-v0.6.1-windows-x86_64.zip")] };
    const choice = selectAsset(release, windowsArm);
    assert.equal(choice.platform, "windows-x86_64");
    assert.equal(choice.usedFallback, true);
  });

  it("names what a release has when our asset is missing", () => {
    const release = { tag_name: "v0.6.1" as Tag, assets: [asset("runmat-v0.6.1-macos-aarch64.tar.gz")] };
    assert.throws(
      () => selectAsset(release, linux),
      (e: InstallError) =>
        /No build of v0.6.1 for linux-x86_64/.test(e.message) && /macos-aarch64/.test(e.hint),
    );
  });

  it("parses digests and refuses malformed ones", () => {
    const hex = "ab".repeat(32);
    assert.equal(parseDigest(`sha256:${hex.toUpperCase()}`, "a"), hex);
    assert.equal(parseDigest(null, "a"), null);
    assert.equal(parseDigest(undefined, "a"), null);
    assert.throws(
      () => parseDigest("md5:abc", "a"),
      (e: InstallError) => e.kind === "integrity",
    );
    assert.throws(
      () => parseDigest("sha256:xyz", "a"),
      (e: InstallError) => e.kind === "integrity",
    );
  });

  it("reads sha256sum lists and bare .sha256 files", () => {
    const a = "a".repeat(64);
    const b = "b".repeat(64);
    assert.equal(parseChecksumList(`${a}  other.tar.gz\n${b} *runmat.tar.gz\n`, "runmat.tar.gz"), b);
    assert.equal(parseChecksumList(`${a}\n`, "runmat.tar.gz"), a);
    assert.equal(parseChecksumList(`${a}  other\n`, "runmat.tar.gz"), null);
  });

  it("reads the tag from an archive name", () => {
    assert.equal(tagFromArchiveName("runmat-v0.6.1-linux-x86_64.tar.gz"), "v0.6.1");
    assert.equal(tagFromArchiveName("runmat-v1.0.0-rc.1-macos-aarch64.tar.gz"), "v1.0.0-rc.1");
    assert.equal(tagFromArchiveName("runmat-linux-x86_64.tar.gz"), null);
  });
});

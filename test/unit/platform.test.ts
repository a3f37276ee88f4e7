import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { InstallError } from "../../src/errors.js";
import { describeHost, type PlatformProbes, resolveTarget } from "../../src/platform/resolve.js";

function probes(platform: string, machine: string, extra: Partial<PlatformProbes> = {}): PlatformProbes {
  return { platform, machine, isAppleSilicon: () => false, isMusl: () => false, ...extra };
}

describe("platform table", () => {
  const rows: [string, string, string, string, string][] = [
    ["linux", "x86_64", "linux", "x86_64", "linux-x86_64"],
    ["linux", "aarch64", "linux", "arm64", "linux-aarch64"],
    ["darwin", "x86_64", "darwin", "x86_64", "macos-x86_64"],
    ["darwin", "arm64", "darwin", "arm64", "macos-aarch64"],
    ["win32", "x86_64", "windows", "x86_64", "windows-x86_64"],
    ["win32", "AMD64", "windows", "x86_64", "windows-x86_64"],
    ["win32", "ARM64", "windows", "arm64", "windows-aarch64"],
    ["linux", "amd64", "linux", "x86_64", "linux-x86_64"],
  ];
  for (const [platform, machine, os, arch, target] of rows) {
    it(`${platform}/${machine} → ${target}`, () => {
      const resolved = resolveTarget(probes(platform, machine));
      assert.equal(resolved.os, os);
      assert.equal(resolved.arch, arch);
      assert.equal(resolved.platform, target);
      assert.equal(resolved.binaryName, os === "windows" ? "runmat.exe" : "runmat");
    });
  }

  it("an x64 installer emulated on ARM64 Windows reports arm64 and picks the arm64 row (x64 as its fallback)", () => {
    const emulated = probes("win32", "x86_64", { windowsNativeArch: () => "ARM64" });
    assert.deepEqual(describeHost(emulated), { os: "windows", arch: "arm64" });
    const target = resolveTarget(emulated);
    assert.equal(target.platform, "windows-aarch64");
    assert.equal(target.fallbackPlatform, "windows-x86_64");
    assert.equal(
      describeHost(probes("win32", "x86_64", { windowsNativeArch: () => "AMD64" })).arch,
      "x86_64",
    );
    assert.equal(describeHost(probes("win32", "x86_64", { windowsNativeArch: () => null })).arch, "x86_64");
  });

  it("installs the arm64 build for an x64 Node under Rosetta", () => {
    const target = resolveTarget(probes("darwin", "x86_64", { isAppleSilicon: () => true }));
    assert.equal(target.platform, "macos-aarch64");
  });

  it("lets Windows on ARM fall back to the x64 build", () => {
    assert.equal(resolveTarget(probes("win32", "ARM64")).fallbackPlatform, "windows-x86_64");
    assert.equal(resolveTarget(probes("linux", "aarch64")).fallbackPlatform, undefined);
  });

  it("refuses musl Linux with a clear platform error", () => {
    assert.throws(
      () => resolveTarget(probes("linux", "x86_64", { isMusl: () => true })),
      (error: InstallError) =>
        error.kind === "platform" && /musl/.test(error.message) && /source/.test(error.hint),
    );
  });

  for (const [platform, machine] of [
    ["freebsd", "x86_64"],
    ["linux", "riscv64"],
    ["linux", "i686"],
    ["aix", "ppc64"],
  ]) {
    it(`refuses ${platform}/${machine}, naming what is supported`, () => {
      assert.throws(
        () => resolveTarget(probes(platform, machine)),
        (error: InstallError) =>
          error.kind === "platform" &&
          error.exitCode === 5 &&
          /linux-x86_64/.test(error.hint) &&
          /source/.test(error.hint),
      );
    });
  }

  it("reports unknown hosts raw but sanitised", () => {
    assert.deepEqual(describeHost(probes("sun os!", `${"x".repeat(100)}<>`)), {
      os: "sunos",
      arch: "x".repeat(64),
    });
  });
});

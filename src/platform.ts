// Pure, table-driven platform resolution. Everything the host can tell us arrives
// through PlatformProbes, so each row of the table is a unit test (see test/unit/platform.test.ts).
import { InstallError } from "./errors.js";

export type Os = "linux" | "darwin" | "windows";
export type Arch = "x86_64" | "arm64";

export interface PlatformProbes {
  /** process.platform */
  platform: string;
  /** os.machine(): the kernel's architecture, which process.arch gets wrong under emulation. */
  machine: string;
  /** macOS: true when this process runs under Rosetta 2 (sysctl.proc_translated) or the CPU is arm64. */
  isAppleSilicon(): boolean;
  /** Linux: true when the C library is musl (Alpine), which cannot run our glibc builds. */
  isMusl(): boolean;
}

/** What telemetry reports even when no target can be resolved. */
export interface Host {
  os: string;
  arch: string;
}

export interface Target extends Host {
  os: Os;
  arch: Arch;
  /** The RunMat release target, as in runmat-v0.6.1-<platform>.tar.gz */
  platform: string;
  /** A target to use when the release has no build for `platform` (Windows on ARM runs x64). */
  fallbackPlatform?: string;
  archiveExtension: ".tar.gz" | ".zip";
  binaryName: "runmat" | "runmat.exe";
}

// Maps, not object literals: a host string such as "valueOf" must not find a prototype member.
const RELEASE_TARGETS = new Map<string, string>([
  ["linux-x86_64", "linux-x86_64"],
  ["linux-arm64", "linux-aarch64"],
  ["darwin-x86_64", "macos-x86_64"],
  ["darwin-arm64", "macos-aarch64"],
  ["windows-x86_64", "windows-x86_64"],
  ["windows-arm64", "windows-aarch64"],
]);

// Windows on ARM emulates x64 binaries, so an arm64 host can fall back to them.
const FALLBACKS = new Map([["windows-aarch64", "windows-x86_64"]]);

const OS_ALIASES = new Map<string, Os>([
  ["linux", "linux"],
  ["darwin", "darwin"],
  ["win32", "windows"],
  ["windows", "windows"],
]);

const ARCH_ALIASES = new Map<string, Arch>([
  ["x64", "x86_64"],
  ["x86_64", "x86_64"],
  ["amd64", "x86_64"],
  ["AMD64", "x86_64"],
  ["arm64", "arm64"],
  ["aarch64", "arm64"],
  ["ARM64", "arm64"],
]);

export const SUPPORTED_PLATFORMS = [...RELEASE_TARGETS.values()];

/** Any value that leaves this machine: at most 64 characters of [A-Za-z0-9_.-]. */
export function sanitizeDimension(raw: string): string {
  return raw.replace(/[^A-Za-z0-9_.-]/g, "").slice(0, 64);
}

export function normalizeOs(raw: string): string {
  return OS_ALIASES.get(raw) ?? sanitizeDimension(raw);
}

export function normalizeArch(raw: string): string {
  return ARCH_ALIASES.get(raw) ?? sanitizeDimension(raw);
}

export function describeHost(probes: PlatformProbes): Host {
  const os = normalizeOs(probes.platform);
  let arch = normalizeArch(probes.machine);
  // An x64 Node under Rosetta reports x86_64; the native arm64 build runs faster and is what the user wants.
  if (os === "darwin" && arch === "x86_64" && probes.isAppleSilicon()) arch = "arm64";
  return { os, arch };
}

export function resolveTarget(probes: PlatformProbes): Target {
  const host = describeHost(probes);
  const platform = RELEASE_TARGETS.get(`${host.os}-${host.arch}`);
  if (!platform) {
    throw new InstallError(
      "platform",
      `RunMat has no prebuilt binary for ${host.os || "this OS"} on ${host.arch || "this CPU"}.`,
      `Prebuilt targets: ${SUPPORTED_PLATFORMS.join(", ")}. To build from source: https://github.com/runmat-org/runmat#building-from-source`,
    );
  }
  if (host.os === "linux" && probes.isMusl()) {
    throw new InstallError(
      "platform",
      "This Linux uses the musl C library (Alpine?), but RunMat's Linux builds need glibc.",
      "Use a glibc distribution (Debian, Ubuntu, Fedora), Alpine's gcompat package, or build from source: https://github.com/runmat-org/runmat#building-from-source",
    );
  }
  const windows = host.os === "windows";
  return {
    os: host.os as Os,
    arch: host.arch as Arch,
    platform,
    fallbackPlatform: FALLBACKS.get(platform),
    archiveExtension: windows ? ".zip" : ".tar.gz",
    binaryName: windows ? "runmat.exe" : "runmat",
  };
}

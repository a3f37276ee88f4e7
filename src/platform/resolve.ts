// Pure, table-driven platform resolution. Everything the host can tell us arrives
// through PlatformProbes, so each row of the table is a unit test (see test/unit/platform.test.ts).
import {
  ARCH_SPELLINGS,
  type Arch,
  type Os,
  PLATFORM_ROWS,
  type PlatformRow,
  SUPPORTED_PLATFORMS,
  sanitizeDimension,
} from "../contract.js";
import { InstallError } from "../errors.js";

export interface PlatformProbes {
  /** process.platform */
  platform: string;
  /** os.machine(): the kernel's architecture, which process.arch gets wrong under emulation. */
  machine: string;
  /** macOS: true when this process runs under Rosetta 2 (sysctl.proc_translated) or the CPU is arm64. */
  isAppleSilicon(): boolean;
  /** Linux: true when the C library is musl (Alpine), which cannot run our glibc builds. */
  isMusl(): boolean;
  /**
   * Windows: the machine's own architecture as Windows names it (AMD64, ARM64), which an x64
   * process emulated on ARM64 is not told by os.machine(); null when it cannot be told.
   */
  windowsNativeArch?(): string | null;
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
  binaryName: "runmat" | "runmat.exe";
}

// Maps, not object literals: a host string such as "valueOf" must not find a prototype member.
const ROWS_BY_HOST = new Map<string, PlatformRow>(PLATFORM_ROWS.map((row) => [`${row.os}-${row.arch}`, row]));

const OS_ALIASES = new Map<string, Os>([
  ["linux", "linux"],
  ["darwin", "darwin"],
  ["win32", "windows"],
  ["windows", "windows"],
]);

const ARCH_ALIASES = new Map<string, Arch>(
  Object.entries(ARCH_SPELLINGS).flatMap(([arch, spellings]) =>
    spellings.map((spelling): [string, Arch] => [spelling, arch as Arch]),
  ),
);

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
  // The Windows installer is an x64 program, emulated on ARM64: telemetry and the choice of
  // RunMat's build follow the machine, not the emulation.
  if (os === "windows" && arch === "x86_64") {
    const native = probes.windowsNativeArch?.();
    if (native && normalizeArch(native.toLowerCase()) === "arm64") arch = "arm64";
  }
  return { os, arch };
}

export function resolveTarget(probes: PlatformProbes): Target {
  const host = describeHost(probes);
  const row = ROWS_BY_HOST.get(`${host.os}-${host.arch}`);
  if (!row) {
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
  return {
    os: row.os,
    arch: row.arch,
    platform: row.platform,
    fallbackPlatform: row.fallback,
    binaryName: row.os === "windows" ? "runmat.exe" : "runmat",
  };
}

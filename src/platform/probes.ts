// The effectful half of platform detection: asks the real host the questions PlatformProbes poses.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import type { PlatformProbes } from "./resolve.js";

function sysctlIsOne(name: string): boolean {
  try {
    return execFileSync("sysctl", ["-n", name], { encoding: "utf8", timeout: 2000 }).trim() === "1";
  } catch {
    return false;
  }
}

function hostIsMusl(): boolean {
  // The C library this very process was loaded with: cheaper than a process report.
  try {
    return readFileSync("/proc/self/maps", "utf8").includes("/ld-musl-");
  } catch {
    // no procfs: fall through to the process report, as detect-libc does
  }
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)
    ?.header;
  if (header?.glibcVersionRuntime) return false;
  return existsSync("/usr/bin/ldd") && readFileSync("/usr/bin/ldd", "utf8").includes("musl");
}

/**
 * The machine's architecture on Windows. An x64 process emulated on ARM64 is told AMD64 by
 * os.machine() and by its PROCESSOR_ARCHITECTURE; PROCESSOR_ARCHITEW6432 (set for a 32-bit
 * process) and PROCESSOR_IDENTIFIER (the CPU's own name, "ARMv8 (64-bit) Family 8 …") are not
 * rewritten. Only when the environment has neither is the system's value read from the registry
 * (one process, so not on every run).
 */
function windowsNativeArch(): string | null {
  const env = process.env;
  if (env.PROCESSOR_ARCHITEW6432) return env.PROCESSOR_ARCHITEW6432;
  if (/^arm64$/i.test(env.PROCESSOR_ARCHITECTURE ?? "")) return "ARM64";
  if (env.PROCESSOR_IDENTIFIER) return /^arm/i.test(env.PROCESSOR_IDENTIFIER) ? "ARM64" : null;
  try {
    const output = execFileSync(
      "reg",
      [
        "query",
        "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment",
        "/v",
        "PROCESSOR_ARCHITECTURE",
      ],
      { encoding: "utf8", timeout: 5000, windowsHide: true, stdio: ["ignore", "pipe", "ignore"] },
    );
    return /PROCESSOR_ARCHITECTURE\s+REG_\w+\s+(\S+)/i.exec(output)?.[1] ?? null;
  } catch {
    return null;
  }
}

export const hostProbes: PlatformProbes = {
  platform: process.platform,
  machine: os.machine(),
  isAppleSilicon: () => sysctlIsOne("sysctl.proc_translated") || sysctlIsOne("hw.optional.arm64"),
  isMusl: hostIsMusl,
  windowsNativeArch,
};

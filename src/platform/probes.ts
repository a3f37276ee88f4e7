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

export const hostProbes: PlatformProbes = {
  platform: process.platform,
  machine: os.machine(),
  isAppleSilicon: () => sysctlIsOne("sysctl.proc_translated") || sysctlIsOne("hw.optional.arm64"),
  isMusl: hostIsMusl,
};

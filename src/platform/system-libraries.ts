// Pure: what the system's dynamic loader says a Linux binary lacks, and the words and the exact
// command that fix it on this distribution. The effects (reading the binary's header, running
// the loader in trace mode, reading /etc/os-release) are in install/library-check.ts.
import { type DistroFamily, PACKAGE_MANAGERS, SYSTEM_LIBRARIES } from "../contract.js";

const PT_INTERP = 3;

/** The dynamic loader an ELF binary names (PT_INTERP), from its first bytes; null for none. */
export function elfInterpreter(header: Buffer): string | null {
  if (header.length < 64 || header.readUInt32BE(0) !== 0x7f454c46 || header[5] !== 1) return null;
  const is64 = header[4] === 2;
  const phoff = is64 ? Number(header.readBigUInt64LE(0x20)) : header.readUInt32LE(0x1c);
  const phentsize = header.readUInt16LE(is64 ? 0x36 : 0x2a);
  const phnum = header.readUInt16LE(is64 ? 0x38 : 0x2c);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + phentsize > header.length) return null;
    if (header.readUInt32LE(at) !== PT_INTERP) continue;
    const offset = is64 ? Number(header.readBigUInt64LE(at + 8)) : header.readUInt32LE(at + 4);
    const size = is64 ? Number(header.readBigUInt64LE(at + 32)) : header.readUInt32LE(at + 16);
    if (offset + size > header.length || size > 256) return null;
    return header
      .subarray(offset, offset + size)
      .toString("latin1")
      .replace(/\0.*$/s, "");
  }
  return null;
}

export interface LoaderTrace {
  /** Libraries the loader could not find, in its order. */
  missingLibraries: string[];
  /** Symbol versions a found library lacks, such as libc.so.6's GLIBC_2.39. */
  missingVersions: { library: string; version: string }[];
}

/**
 * Reads the loader's trace (LD_TRACE_LOADED_OBJECTS=1 LD_VERBOSE=1, what `ldd -v` prints):
 * "libfoo.so.1 => not found" for a missing library, and under "Version information:" a
 * "libc.so.6 (GLIBC_2.39) => not found" for a missing symbol version.
 */
export function parseLoaderTrace(text: string): LoaderTrace {
  const missingLibraries: string[] = [];
  const missingVersions: LoaderTrace["missingVersions"] = [];
  for (const line of text.split("\n")) {
    const version = /^\s+(\S+) \(([^)]+)\) => not found\s*$/.exec(line);
    if (version) {
      if (!missingVersions.some((v) => v.library === version[1] && v.version === version[2]))
        missingVersions.push({ library: version[1], version: version[2] });
      continue;
    }
    const library = /^\s+(\S+) => not found\s*$/.exec(line);
    if (library && !missingLibraries.includes(library[1])) missingLibraries.push(library[1]);
  }
  return { missingLibraries, missingVersions };
}

/** The newest glibc the binary asks for and this one lacks ("2.39"), or null. */
export function neededGlibc(trace: LoaderTrace): string | null {
  const versions = trace.missingVersions
    .map((v) => /^GLIBC_(\d+(?:\.\d+)+)$/.exec(v.version)?.[1])
    .filter((v): v is string => v !== undefined);
  return versions.sort(compareDotted).at(-1) ?? null;
}

function compareDotted(a: string, b: string): number {
  const [left, right] = [a, b].map((v) => v.split(".").map(Number));
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const diff = (left[i] ?? 0) - (right[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

export interface OsRelease {
  id: string;
  idLike: string[];
  versionId: string;
  prettyName: string;
}

/** /etc/os-release's fields: KEY=value lines, values optionally quoted. */
export function parseOsRelease(text: string): OsRelease {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match) fields.set(match[1], match[2].replace(/^(["'])(.*)\1$/, "$2"));
  }
  return {
    id: fields.get("ID") ?? "",
    idLike: (fields.get("ID_LIKE") ?? "").split(/\s+/).filter(Boolean),
    versionId: fields.get("VERSION_ID") ?? "",
    prettyName: fields.get("PRETTY_NAME") ?? fields.get("NAME") ?? "",
  };
}

const FAMILY_IDS: Record<DistroFamily, string[]> = {
  debian: ["debian", "ubuntu"],
  fedora: ["fedora", "rhel", "centos", "rocky", "almalinux"],
  arch: ["arch"],
  suse: ["suse", "opensuse", "sles", "opensuse-leap", "opensuse-tumbleweed"],
};

export function distroFamily(os: OsRelease): DistroFamily | null {
  for (const id of [os.id, ...os.idLike]) {
    for (const [family, ids] of Object.entries(FAMILY_IDS) as [DistroFamily, string[]][]) {
      if (ids.includes(id)) return family;
    }
  }
  return null;
}

/** Ubuntu 24.04 and Debian 13 renamed libraries whose ABI has a time_t (the "t64" packages). */
function usesT64(os: OsRelease): boolean {
  const version = Number.parseFloat(os.versionId);
  if (os.id === "ubuntu") return version >= 24.04;
  if (os.id === "debian") return version >= 13 || os.versionId === "";
  // A derivative (Mint, Pop!_OS): its own numbering says nothing; its base's package names do.
  return false;
}

function providedBy(row: (typeof SYSTEM_LIBRARIES)[number], library: string): boolean {
  return row.sonames.some((prefix) => library.startsWith(prefix));
}

/** The library families of RunMat's build that `libraries` belong to ("OpenBLAS", …), each once. */
export function libraryFamilies(libraries: string[]): string[] {
  const families = libraries
    .map((name) => SYSTEM_LIBRARIES.find((row) => providedBy(row, name))?.family)
    .filter((family): family is (typeof SYSTEM_LIBRARIES)[number]["family"] => family !== undefined);
  return [...new Set(families)];
}

/**
 * The exact command that installs the packages providing `libraries` on this distribution, or
 * null when it is not one we know or none of the libraries is RunMat's.
 */
export function installCommand(libraries: string[], os: OsRelease): string | null {
  const family = distroFamily(os);
  if (!family) return null;
  const packages: string[] = [];
  for (const name of libraries) {
    const row = SYSTEM_LIBRARIES.find((candidate) => providedBy(candidate, name));
    if (!row) continue;
    const names: Partial<Record<string, string>> = row.packages;
    const pkg = family === "debian" && usesT64(os) && names.debianT64 ? names.debianT64 : names[family];
    if (pkg && !packages.includes(pkg)) packages.push(pkg);
  }
  return packages.length ? PACKAGE_MANAGERS[family].replace("{}", packages.join(" ")) : null;
}

/** "a", "a and b", "a, b and c" */
export function listOf(items: string[]): string {
  return items.length <= 1 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}

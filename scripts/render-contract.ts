// Renders src/contract.ts into the generated block of each bootstrapper, the way cargo-dist
// renders its platform `case` arms from one table. The hand-written logic around the block
// stays hand-written; only the facts come from here.
//
//   npm run render:bootstrap       rewrite bootstrap/install.sh and bootstrap/install.ps1
//
// build-binaries.ts renders the released copies the same way, and test/unit/contract.test.ts
// fails when a checked-in bootstrapper's block differs from the rendering by one byte.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ARCH_SPELLINGS,
  DEFAULT_INSTALLER_URL,
  DEFAULT_TELEMETRY_ENDPOINT,
  DO_NOT_TRACK_ALLOWS,
  type ErrorKind,
  EXIT_CODES,
  FALSY,
  INSTALLER_CACHE_DIR,
  type Method,
  NODE_FLOOR,
  PAYLOAD_KEYS,
  PLATFORM_ROWS,
  STATE_DIR,
  TELEMETRY_ID_FILE,
  TELEMETRY_ID_MAX_BYTES,
  TELEMETRY_ID_PATTERN,
  TELEMETRY_SETTINGS_FILE,
  TRUTHY,
} from "../src/contract.js";
import { VERSION } from "../src/version.js";

export type Bootstrapper = "install.sh" | "install.ps1";

const BEGIN = ">>> generated from src/contract.ts by `npm run render:bootstrap`: do not edit >>>";
const END = "<<< end of generated block <<<";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BOOTSTRAP_DIR = join(ROOT, "bootstrap");

/** What each bootstrapper sends for each payload key; it must cover exactly the contract's keys. */
const SHELL_PAYLOAD: Record<(typeof PAYLOAD_KEYS)[number], string> = {
  event_label: "$1",
  os: "$OS_NAME",
  arch: "$ARCH_NAME",
  platform: "$RELEASE_PLATFORM",
  release: "unknown",
  method: "shell" satisfies Method,
  cid: "$2",
};

const POWERSHELL_METHOD: Method = "powershell";

/** EXIT_NOT_INSTALLED: a shell variable name. */
function exitName(kind: ErrorKind): string {
  return kind.toUpperCase().replace(/-/g, "_");
}

function sortedExitKinds(): ErrorKind[] {
  return (Object.keys(EXIT_CODES) as ErrorKind[]).sort((a, b) => EXIT_CODES[a] - EXIT_CODES[b]);
}

function shellWords(words: readonly string[]): string {
  return words.join(" | ");
}

function renderShellBlock(): string {
  const lines = [
    `# ${BEGIN}`,
    `DEFAULT_INSTALLER_URL="${DEFAULT_INSTALLER_URL}"`,
    `DEFAULT_TELEMETRY_ENDPOINT="${DEFAULT_TELEMETRY_ENDPOINT}"`,
    "# What the early-failure events say they come from, as runmat-install's own requests do.",
    `USER_AGENT="runmat-install/${VERSION}"`,
    "# Exit codes shared with runmat-install (see its README); this script uses some of them.",
    "# shellcheck disable=SC2034",
    sortedExitKinds()
      .map((kind) => `EXIT_${exitName(kind)}=${EXIT_CODES[kind]}`)
      .join(" "),
    `STATE_DIR=${STATE_DIR}`,
    `TELEMETRY_ID_FILE=${TELEMETRY_ID_FILE}`,
    `TELEMETRY_SETTINGS_FILE=${TELEMETRY_SETTINGS_FILE}`,
    `INSTALLER_CACHE_DIR=${INSTALLER_CACHE_DIR}`,
    `TELEMETRY_ID_PATTERN='${TELEMETRY_ID_PATTERN}'`,
    `TELEMETRY_ID_MAX_BYTES=${TELEMETRY_ID_MAX_BYTES}`,
    `NODE_FLOOR_MAJOR=${NODE_FLOOR.major}`,
    `NODE_FLOOR_MINOR=${NODE_FLOOR.minor}`,
    "",
    "is_truthy() {",
    `    case "$(lower "$1")" in ${shellWords(TRUTHY)}) return 0 ;; esac`,
    "    return 1",
    "}",
    "",
    "is_falsy() {",
    `    case "$(lower "$1")" in ${shellWords(FALSY)}) return 0 ;; esac`,
    "    return 1",
    "}",
    "",
    "# DO_NOT_TRACK opts out with any non-empty value but these.",
    "does_not_track() {",
    `    case "$(lower "$1")" in '' | ${shellWords(DO_NOT_TRACK_ALLOWS)}) return 1 ;; esac`,
    "    return 0",
    "}",
    "",
    "# arch_of MACHINE: sets ARCH_NAME from uname -m's spelling, or returns 1.",
    "arch_of() {",
    '    case "$1" in',
    ...Object.entries(ARCH_SPELLINGS).map(
      ([arch, spellings]) => `        ${shellWords(spellings)}) ARCH_NAME=${arch} ;;`,
    ),
    "        *) return 1 ;;",
    "    esac",
    "}",
    "",
    "# platform_row OS-ARCH: sets RELEASE_PLATFORM and SEA_TARGET, or returns 1.",
    "platform_row() {",
    '    case "$1" in',
    ...PLATFORM_ROWS.map(
      (row) => `        ${row.os}-${row.arch}) RELEASE_PLATFORM=${row.platform} SEA_TARGET=${row.sea} ;;`,
    ),
    "        *) return 1 ;;",
    "    esac",
    "}",
    "",
    "# telemetry_payload LABEL CID: one event, exactly the contract's keys in its order.",
    "telemetry_payload() {",
    `    printf '{${PAYLOAD_KEYS.map((key) => `"${key}":"%s"`).join(",")}}' \\`,
    `        ${PAYLOAD_KEYS.map((key) => `"${SHELL_PAYLOAD[key]}"`).join(" ")}`,
    "}",
    `# ${END}`,
  ];
  return `${lines.join("\n")}\n`;
}

function psString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function psArray(values: readonly string[]): string {
  return `@(${values.map(psString).join(", ")})`;
}

function renderPowerShellBlock(): string {
  // PowerShell hashtables ignore case: AMD64 and amd64 are one key.
  const spellings = new Map<string, string>();
  for (const [arch, names] of Object.entries(ARCH_SPELLINGS)) {
    for (const name of names) if (!spellings.has(name.toLowerCase())) spellings.set(name.toLowerCase(), arch);
  }
  const windowsRows = PLATFORM_ROWS.filter((row) => row.os === "windows");
  const lines = [
    `# ${BEGIN}`,
    `$DefaultInstallerUrl = ${psString(DEFAULT_INSTALLER_URL)}`,
    `$DefaultTelemetryEndpoint = ${psString(DEFAULT_TELEMETRY_ENDPOINT)}`,
    "# What the early-failure events say they come from, as runmat-install's own requests do.",
    `$UserAgent = ${psString(`runmat-install/${VERSION}`)}`,
    "# Exit codes shared with runmat-install (see its README).",
    "$ExitCodes = @{",
    ...sortedExitKinds().map((kind) => `    ${psString(kind)} = ${EXIT_CODES[kind]}`),
    "}",
    `$StateDir = ${psString(STATE_DIR)}`,
    `$TelemetryIdFile = ${psString(TELEMETRY_ID_FILE)}`,
    `$TelemetrySettingsFile = ${psString(TELEMETRY_SETTINGS_FILE)}`,
    `$InstallerCacheDir = ${psString(INSTALLER_CACHE_DIR)}`,
    `$TelemetryIdPattern = ${psString(TELEMETRY_ID_PATTERN)}`,
    `$TelemetryIdMaxBytes = ${TELEMETRY_ID_MAX_BYTES}`,
    `$Truthy = ${psArray(TRUTHY)}`,
    `$Falsy = ${psArray(FALSY)}`,
    `$DoNotTrackAllows = ${psArray(DO_NOT_TRACK_ALLOWS)}`,
    `$PayloadKeys = ${psArray(PAYLOAD_KEYS)}`,
    `$PayloadMethod = ${psString(POWERSHELL_METHOD)}`,
    "# PROCESSOR_ARCHITECTURE's spelling: the contract's architecture.",
    "$ArchSpellings = @{",
    ...[...spellings].map(([name, arch]) => `    ${psString(name)} = ${psString(arch)}`),
    "}",
    "# Architecture: RunMat's release target and the runmat-install binary that runs there.",
    "$WindowsPlatforms = @{",
    ...windowsRows.map(
      (row) =>
        `    ${psString(row.arch)} = @{ platform = ${psString(row.platform)}; sea = ${psString(row.sea)} }`,
    ),
    "}",
    `# ${END}`,
  ];
  return `${lines.join("\n")}\n`;
}

export function renderBlock(kind: Bootstrapper): string {
  return kind === "install.sh" ? renderShellBlock() : renderPowerShellBlock();
}

/** The bootstrapper's text with its generated block replaced by a fresh rendering. */
function withRenderedBlock(text: string, kind: Bootstrapper): string {
  const start = text.indexOf(`# ${BEGIN}`);
  const endMarker = `# ${END}`;
  const end = text.indexOf(endMarker, start);
  if (start < 0 || end < 0) throw new Error(`${kind} has no generated block (# ${BEGIN} ... # ${END})`);
  let after = end + endMarker.length;
  if (text.startsWith("\r\n", after)) after += 2;
  else if (text.startsWith("\n", after)) after += 1;
  return text.slice(0, start) + renderBlock(kind) + text.slice(after);
}

/** The generated block as it stands in a bootstrapper's text, or null without one. */
export function currentBlock(text: string): string | null {
  const start = text.indexOf(`# ${BEGIN}`);
  const endMarker = `# ${END}`;
  const end = text.indexOf(endMarker, start);
  if (start < 0 || end < 0) return null;
  const after = end + endMarker.length;
  const eol = text.startsWith("\r\n", after) ? 2 : text.startsWith("\n", after) ? 1 : 0;
  return text.slice(start, after + eol);
}

export async function renderedBootstrapper(kind: Bootstrapper): Promise<string> {
  return withRenderedBlock(await readFile(join(BOOTSTRAP_DIR, kind), "utf8"), kind);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const kind of ["install.sh", "install.ps1"] as const) {
    await writeFile(join(BOOTSTRAP_DIR, kind), await renderedBootstrapper(kind));
    console.log(`rendered bootstrap/${kind}`);
  }
}

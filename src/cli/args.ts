// Turns argv and the environment into plain options, and nothing else. commander lives only here.
import { readFileSync } from "node:fs";
import os from "node:os";
import { join, resolve } from "node:path";
import { Command, CommanderError, Option } from "commander";
import {
  type ErrorKind,
  EXIT_CODE_MEANINGS,
  EXIT_CODES,
  EXIT_UPDATE_AVAILABLE,
  isTruthy,
  METHODS,
  type Method,
  SEGMENTED_MIN_BYTES,
  STATE_DIR,
} from "../contract.js";
import { InstallError } from "../errors.js";
import { caFileCertificates } from "../net/pem.js";
import { checkUrlAllowed } from "../net/url-policy.js";
import type {
  CommonOptions,
  ConnectionPlan,
  InstallOptions,
  ProvenanceMode,
  ProvenanceOptions,
  ReleaseOptions,
  UpdateOptions,
} from "../options.js";
import { parseRequestedTag } from "../release/versions.js";
import { VERSION } from "../version.js";
import { wrapLine } from "./ui.js";

export type Invocation =
  | { command: "install"; options: InstallOptions }
  | { command: "telemetry"; action: "status" | "enable" | "disable"; options: CommonOptions }
  | { command: "status"; offline: boolean; options: ReleaseOptions }
  | { command: "update"; check: boolean; options: UpdateOptions }
  | { command: "uninstall"; yes: boolean; purge: boolean; options: CommonOptions }
  /** Help, the version, or a usage error commander reported (its words in `usage`). */
  | { command: "exit"; code: number; usage?: string };

const DEFAULT_REPO = "runmat-org/runmat";
const DEFAULT_API = "https://api.github.com";
const DEFAULT_PROVENANCE_WORKFLOW = "release.yml";
const PROVENANCE_MODES: ProvenanceMode[] = ["auto", "require", "off"];

export const ENVIRONMENT_HELP: [string, string][] = [
  ["RUNMAT_VERSION", "version to install, like the [version] argument"],
  ["RUNMAT_INSTALL_DIR", "install directory, like --dir"],
  ["RUNMAT_NO_MODIFY_PATH=1", "like --no-modify-path"],
  ["RUNMAT_REPO", "like --repo"],
  ["RUNMAT_GITHUB_API_URL", "like --github-api"],
  ["GITHUB_TOKEN, GH_TOKEN", "GitHub token sent to the API host only (raises rate limits)"],
  ["HTTPS_PROXY, HTTP_PROXY, NO_PROXY", "proxy settings; credentials in the URL are used"],
  ["RUNMAT_CACERT", "a PEM file of certificate authorities to trust too, like --cacert"],
  ["RUNMAT_HTTP_TIMEOUT", "seconds allowed to connect or stall before a retry, like --timeout (default 30)"],
  ["RUNMAT_SMOKE_TIMEOUT", "seconds allowed for `runmat --version` after install (default 20)"],
  ["RUNMAT_CONNECTIONS", "like --connections (1 turns parallel segments off)"],
  ["RUNMAT_PROVENANCE", "like --provenance: auto, require or off"],
  ["RUNMAT_PROVENANCE_WORKFLOW", "like --provenance-workflow"],
  ["RUNMAT_SIGSTORE_ROOT", "like --sigstore-root"],
  [
    "RUNMAT_NO_TELEMETRY=1, RUNMAT_TELEMETRY=0, DO_NOT_TRACK=1",
    "turn install telemetry off (DO_NOT_TRACK: any value but 0 or false)",
  ],
  ["RUNMAT_TELEMETRY_DEBUG=1", "print telemetry payloads to stderr instead of sending them"],
  ["RUNMAT_TELEMETRY_ENDPOINT", "where telemetry goes (default https://runmat.org/api/telemetry)"],
  ["NO_COLOR, CI, TERM=dumb", "no colour; CI and TERM=dumb also mean no spinner"],
];

function exitCodeHelp(): string {
  const rows: [number, string][] = [
    [0, "success (also: already installed, already up to date)"],
    [EXIT_UPDATE_AVAILABLE, "`update --check` only: a newer release exists"],
    ...(Object.keys(EXIT_CODES) as ErrorKind[]).map((kind): [number, string] => [
      EXIT_CODES[kind],
      EXIT_CODE_MEANINGS[kind],
    ]),
  ];
  return rows
    .sort(([a], [b]) => a - b)
    .map(([code, meaning]) => `  ${String(code).padEnd(5)}${meaning}`)
    .join("\n");
}

function helpEpilogue(columns: number): string {
  // Long names get a line of their own, so the meanings stay in one readable column.
  const width = 26;
  const environment = ENVIRONMENT_HELP.map(([name, meaning]) =>
    name.length < width - 1
      ? `  ${name.padEnd(width)}${meaning}`
      : `  ${name}\n  ${"".padEnd(width)}${meaning}`,
  ).join("\n");
  const text = `
Environment:
${environment}

Exit codes:
${exitCodeHelp()}

Examples:
  runmat-install                      install the latest release into ~/.local/bin
  runmat-install v0.6.1 --dir ~/bin   install a pinned version elsewhere
  runmat-install --archive runmat-v0.6.1-linux-x86_64.tar.gz   install offline
  runmat-install --dry-run            show what would happen, change nothing

Docs: https://runmat.org/docs/install`;
  return text
    .split("\n")
    .map((line) => wrapLine(line, columns))
    .join("\n");
}

function expandHome(path: string, home: string): string {
  if (path === "~") return home;
  if (path.startsWith("~/") || path.startsWith("~\\")) return join(home, path.slice(2));
  return path;
}

const DEFAULT_CONNECTIONS = 4;
const MAX_CONNECTIONS = 8;

/**
 * A small number: polite to the CDN, and enough to beat a per-connection cap. Unset, the download
 * starts with 4 and grows to 8 only while that still raises the total rate; a number the user
 * gives is used as it is.
 */
function connectionPlan(value: string | undefined, name: string): ConnectionPlan {
  if (value === undefined || value === "") return { initial: DEFAULT_CONNECTIONS, max: MAX_CONNECTIONS };
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > MAX_CONNECTIONS) {
    throw new InstallError(
      "usage",
      `${name} must be a whole number from 1 to ${MAX_CONNECTIONS}, not "${value}".`,
      `For example: ${DEFAULT_CONNECTIONS}, or 1 for one stream.`,
    );
  }
  return { initial: parsed, max: parsed };
}

/** A --cacert file is checked now, so that a wrong path is a usage error before anything starts. */
function readableCaFile(path: string): string {
  caFileCertificates(path);
  return path;
}

function seconds(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value === "") return fallback * 1000;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) {
    throw new InstallError(
      "usage",
      `${name} must be a positive number of seconds, not "${value}".`,
      "For example: 30",
    );
  }
  return Math.round(parsed * 1000);
}

function defaultInstallDir(platform: string, home: string, env: NodeJS.ProcessEnv): string {
  if (platform === "win32") return join(env.USERPROFILE || home, ".runmat", "bin");
  return join(home, ".local", "bin");
}

/** The bootstrappers say how they started us; otherwise it is told from how we run. */
function detectMethod(explicit: string | undefined, context: CliContext): Method {
  if (explicit) {
    if (!(METHODS as readonly string[]).includes(explicit)) {
      throw new InstallError(
        "usage",
        `Unknown install method "${explicit}".`,
        `Use one of: ${METHODS.join(", ")}.`,
      );
    }
    return explicit as Method;
  }
  if (context.runningAsBinary) return "binary";
  // npx and `npm exec` set npm_command=exec for what they start (npm 6's npx: npm_lifecycle_event).
  if (context.env.npm_command === "exec" || context.env.npm_lifecycle_event === "npx") return "npx";
  return /[\\/]node_modules[\\/]/.test(context.entryPoint) ? "npm" : "source";
}

interface RawOptions {
  dir?: string;
  modifyPath?: boolean;
  archive?: string;
  repo?: string;
  githubApi?: string;
  requireChecksum?: boolean;
  skipSmokeTest?: boolean;
  connections?: string;
  provenance?: string;
  provenanceWorkflow?: string;
  sigstoreRoot?: string;
  force?: boolean;
  dryRun?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  json?: boolean;
  telemetry?: boolean;
  timeout?: string;
  cacert?: string;
  method?: string;
}

export interface CliContext {
  env: NodeJS.ProcessEnv;
  platform: string;
  runningAsBinary: boolean;
  /** The script node runs (process.argv[1]): inside node_modules for an npm install. */
  entryPoint: string;
  write: (text: string) => void;
  writeError: (text: string) => void;
  /** The terminal's width, for --help; 80 when it is not a terminal. */
  columns?: number;
}

function addOutputOptions(command: Command): Command {
  return command
    .option("-q, --quiet", "print only errors")
    .option("--verbose", "print debugging detail, including the cause of errors")
    .option("--json", "print one JSON object with the result on stdout");
}

/** The options few need, under their own heading in --help (the README's "Advanced"). */
function advanced(flags: string, description: string): Option {
  return new Option(flags, description).helpGroup("Advanced options:");
}

function addReleaseOptions(command: Command): Command {
  return command
    .addOption(
      advanced("--repo <owner/name>", `GitHub repository to install from (default: ${DEFAULT_REPO})`),
    )
    .addOption(
      advanced(
        "--github-api <url>",
        `GitHub API base URL, for GitHub Enterprise or mirrors (default: ${DEFAULT_API})`,
      ),
    )
    .addOption(
      advanced("--timeout <seconds>", "seconds to connect or stall before a download retry (default: 30)"),
    )
    .addOption(
      advanced(
        "--cacert <file>",
        "also trust the certificate authorities in this PEM file (the system's are trusted already)",
      ),
    );
}

function addUpdateOptions(command: Command): Command {
  return addReleaseOptions(command)
    .addOption(advanced("--require-checksum", "fail when the release publishes no SHA-256 for the asset"))
    .addOption(
      advanced(
        "--skip-smoke-test",
        "place RunMat even if it cannot start yet (system libraries you will add): no library check or smoke test",
      ),
    )
    .addOption(
      advanced(
        "--connections <n>",
        `connections for a download of ${SEGMENTED_MIN_BYTES / 1024 ** 2} MiB or more, when the server allows (default: ${DEFAULT_CONNECTIONS}, up to ${MAX_CONNECTIONS} while that is faster; 1: one stream)`,
      ),
    )
    .addOption(
      advanced(
        "--provenance <mode>",
        "check the asset's GitHub build attestation: auto (when published; default), require, off",
      ),
    )
    .addOption(
      advanced(
        "--provenance-workflow <file>",
        `the workflow in .github/workflows that must have built the release (default: ${DEFAULT_PROVENANCE_WORKFLOW})`,
      ),
    )
    .addOption(
      advanced(
        "--sigstore-root <file>",
        "verify attestations against this Sigstore trusted root JSON instead of the public-good one",
      ),
    )
    .option("--no-telemetry", "send no install telemetry for this run");
}

function addInstallOptions(command: Command): Command {
  return addOutputOptions(
    addUpdateOptions(
      command
        .option(
          "-d, --dir <path>",
          "where the runmat binary goes (default: ~/.local/bin; Windows: %USERPROFILE%\\.runmat\\bin)",
        )
        .option("--no-modify-path", "do not touch shell profiles or the registry")
        .option("--archive <file>", "install from a local release archive, with no network"),
    )
      .option("--force", "reinstall even when the same version is already installed")
      .option(
        "--dry-run",
        "print the plan (version, asset, URL, target, PATH edits); download and write nothing",
      ),
  ).addOption(new Option("--method <method>", "how the installer was started").choices(METHODS).hideHelp());
}

function homeOf(context: CliContext): string {
  // An unset HOME is reported (preflight.ts) rather than replaced by the passwd entry's home,
  // so a CI job with a scrubbed environment never writes somewhere it did not expect.
  const { env } = context;
  return context.platform === "win32" ? env.USERPROFILE || os.homedir() : (env.HOME ?? "");
}

function commonOptions(raw: RawOptions, context: CliContext): CommonOptions {
  const home = homeOf(context);
  return {
    home,
    // Empty without a home: nothing may then be read or written relative to the working directory.
    runmatHome: home ? join(home, STATE_DIR) : "",
    output: raw.json ? "json" : raw.quiet ? "quiet" : raw.verbose ? "verbose" : "normal",
    telemetryFlag: raw.telemetry ?? true,
    method: detectMethod(raw.method ?? context.env.RUNMAT_INSTALL_METHOD, context),
  };
}

function releaseOptions(raw: RawOptions, context: CliContext): ReleaseOptions {
  const { env } = context;
  const repo = raw.repo ?? env.RUNMAT_REPO ?? DEFAULT_REPO;
  if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repo)) {
    throw new InstallError(
      "usage",
      `"${repo}" is not a GitHub repository.`,
      "Use owner/name, for example runmat-org/runmat.",
    );
  }
  const common = commonOptions(raw, context);
  const caFile = raw.cacert ?? env.RUNMAT_CACERT;
  return {
    ...common,
    repo,
    apiUrl: checkUrlAllowed(
      raw.githubApi ?? env.RUNMAT_GITHUB_API_URL ?? DEFAULT_API,
      "--github-api",
    ).href.replace(/\/+$/, ""),
    token: env.GITHUB_TOKEN || env.GH_TOKEN || undefined,
    timeoutMs: raw.timeout
      ? seconds(raw.timeout, 30, "--timeout")
      : seconds(env.RUNMAT_HTTP_TIMEOUT, 30, "RUNMAT_HTTP_TIMEOUT"),
    caFile: caFile ? readableCaFile(resolve(expandHome(caFile, common.home))) : undefined,
    smokeTimeoutMs: seconds(env.RUNMAT_SMOKE_TIMEOUT, 20, "RUNMAT_SMOKE_TIMEOUT"),
  };
}

function updateOptions(raw: RawOptions, context: CliContext): UpdateOptions {
  return {
    ...releaseOptions(raw, context),
    requireChecksum: Boolean(raw.requireChecksum),
    skipSmokeTest: Boolean(raw.skipSmokeTest),
    // An error names what the user set: the flag, else the environment variable.
    connections: raw.connections
      ? connectionPlan(raw.connections, "--connections")
      : connectionPlan(context.env.RUNMAT_CONNECTIONS, "RUNMAT_CONNECTIONS"),
    provenance: provenanceOptions(raw, context),
  };
}

function provenanceOptions(raw: RawOptions, context: CliContext): ProvenanceOptions {
  const { env } = context;
  // An error names what the user set: the flag, else the environment variable.
  const [mode, modeFrom] = raw.provenance
    ? [raw.provenance, "--provenance"]
    : [env.RUNMAT_PROVENANCE || "auto", "RUNMAT_PROVENANCE"];
  if (!PROVENANCE_MODES.includes(mode as ProvenanceMode)) {
    throw new InstallError(
      "usage",
      `${modeFrom} must be auto, require or off, not "${mode}".`,
      "For example: --provenance require.",
    );
  }
  const [workflow, workflowFrom] = raw.provenanceWorkflow
    ? [raw.provenanceWorkflow, "--provenance-workflow"]
    : [env.RUNMAT_PROVENANCE_WORKFLOW || DEFAULT_PROVENANCE_WORKFLOW, "RUNMAT_PROVENANCE_WORKFLOW"];
  if (!/^[A-Za-z0-9_.-]+\.ya?ml$/.test(workflow)) {
    throw new InstallError(
      "usage",
      `${workflowFrom} must be a workflow's file name in .github/workflows, not "${workflow}".`,
      `For example: --provenance-workflow ${DEFAULT_PROVENANCE_WORKFLOW}.`,
    );
  }
  const root = raw.sigstoreRoot ?? env.RUNMAT_SIGSTORE_ROOT;
  return {
    mode: mode as ProvenanceMode,
    workflow,
    trustedRoot: root ? readableTrustedRoot(resolve(expandHome(root, homeOf(context)))) : undefined,
  };
}

/** A --sigstore-root file is checked now, so that a wrong path is a usage error before anything starts. */
function readableTrustedRoot(path: string): string {
  let root: unknown = null;
  try {
    root = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new InstallError(
      "usage",
      `Cannot read the Sigstore trusted root ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`,
      "Pass a Sigstore trusted_root.json (one line of `gh attestation trusted-root` is one).",
    );
  }
  const { mediaType, certificateAuthorities, tlogs } = (root ?? {}) as Record<string, unknown>;
  const lists = [certificateAuthorities, tlogs].every((list) => Array.isArray(list) && list.length > 0);
  if (typeof mediaType !== "string" || !mediaType.includes("trustedroot") || !lists) {
    throw new InstallError(
      "usage",
      `${path} is not a Sigstore trusted root (it needs a mediaType, certificateAuthorities and tlogs).`,
      "Pass a Sigstore trusted_root.json (one line of `gh attestation trusted-root` is one).",
    );
  }
  return path;
}

function installOptions(
  raw: RawOptions,
  versionArgument: string | undefined,
  context: CliContext,
): InstallOptions {
  const { env } = context;
  const update = updateOptions(raw, context);
  const dirInput = raw.dir ?? env.RUNMAT_INSTALL_DIR ?? defaultInstallDir(context.platform, update.home, env);
  return {
    ...update,
    tag: parseRequestedTag(versionArgument ?? env.RUNMAT_VERSION),
    dir: resolve(expandHome(dirInput, update.home)),
    modifyPath: (raw.modifyPath ?? true) && !isTruthy(env.RUNMAT_NO_MODIFY_PATH),
    archive: raw.archive ? resolve(expandHome(raw.archive, update.home)) : undefined,
    force: Boolean(raw.force),
    dryRun: Boolean(raw.dryRun),
  };
}

/** Telemetry's actions by the other words people type for them. */
const TELEMETRY_WORDS: Record<string, string> = { on: "enable", off: "disable" };

/** Commands by the words people type for them: `install` is what runs without one. */
const COMMAND_WORDS: Record<string, string[]> = {
  install: [],
  upgrade: ["update"],
  remove: ["uninstall"],
  help: ["--help"],
};

/** Options that take a value, so that a command word is not mistaken for it (`--dir install`). */
const VALUE_OPTIONS = [
  "-d",
  "--dir",
  "--archive",
  "--repo",
  "--github-api",
  "--timeout",
  "--connections",
  "--provenance",
  "--provenance-workflow",
  "--sigstore-root",
  "--cacert",
  "--method",
];

/** argv with its command word, if it is one people type for another, replaced by ours. */
function withOurWords(argv: string[]): string[] {
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (VALUE_OPTIONS.includes(word)) {
      i += 1;
      continue;
    }
    if (word.startsWith("-")) continue;
    const ours = COMMAND_WORDS[word];
    return ours ? [...argv.slice(0, i), ...ours, ...argv.slice(i + 1)] : argv;
  }
  return argv;
}

export async function parseCommandLine(typed: string[], context: CliContext): Promise<Invocation> {
  const argv = withOurWords(typed);
  let invocation: Invocation | null = null;
  let usage = "";
  const program = addInstallOptions(new Command("runmat-install"))
    .description("Install RunMat, the fast MATLAB-compatible runtime, from its GitHub releases.")
    .argument("[version]", 'version to install: "latest" (default), v0.6.1 or 0.6.1')
    .version(VERSION, "-V, --version", "print the installer's version")
    .helpOption("-h, --help", "show this help")
    .addHelpText("after", helpEpilogue(context.columns ?? 80))
    .configureOutput({
      writeOut: context.write,
      writeErr: context.writeError,
      // commander's own errors (unknown option, missing argument) get a hint like every other.
      outputError: (text, write) => {
        usage = text.trim().replace(/^error: /, "");
        write(`${text.trimEnd()}\n  hint: Run runmat-install --help for the options and commands.\n`);
      },
    })
    // Options after a subcommand belong to it (`status --json`); ones before it, such as the
    // bootstrappers' `--method shell`, to the program. Each subcommand sees both.
    .enablePositionalOptions()
    .exitOverride()
    .action((version: string | undefined, raw: RawOptions) => {
      invocation = { command: "install", options: installOptions(raw, version, context) };
    });
  const withProgram = (raw: RawOptions): RawOptions => ({ ...program.opts<RawOptions>(), ...raw });

  program
    .command("telemetry")
    .description("show or change the install telemetry setting")
    .argument("<action>", "status, enable or disable")
    .action((typed: string) => {
      const action = TELEMETRY_WORDS[typed] ?? typed;
      if (action !== "status" && action !== "enable" && action !== "disable") {
        throw new InstallError(
          "usage",
          `Unknown telemetry action "${action}".`,
          "Use: telemetry status|enable|disable",
        );
      }
      invocation = { command: "telemetry", action, options: commonOptions(withProgram({}), context) };
    });

  addOutputOptions(
    addReleaseOptions(
      program
        .command("status")
        .description("show the installed version, whether it starts, its provenance, PATH and telemetry"),
    ),
  )
    .option("--offline", "do not look up the latest release")
    .action((raw: RawOptions & { offline?: boolean }) => {
      invocation = {
        command: "status",
        offline: Boolean(raw.offline),
        options: releaseOptions(withProgram(raw), context),
      };
    });

  addOutputOptions(
    addUpdateOptions(program.command("update").description("install the latest release if it is newer")),
  )
    .option("--check", "only check: exit 0 when up to date, 10 when an update exists, 11 when not installed")
    .action((raw: RawOptions & { check?: boolean }) => {
      invocation = {
        command: "update",
        check: Boolean(raw.check),
        options: updateOptions(withProgram(raw), context),
      };
    });

  program
    .command("uninstall")
    .description("remove exactly what the install receipt lists")
    .option("-y, --yes", "do not ask for confirmation")
    .option("--purge", "also remove the telemetry id and setting and the installer download cache")
    .option("-q, --quiet", "print only errors")
    .option("--json", "print one JSON object with the result on stdout")
    .action((raw: RawOptions & { yes?: boolean; purge?: boolean }) => {
      invocation = {
        command: "uninstall",
        yes: Boolean(raw.yes),
        purge: Boolean(raw.purge),
        options: commonOptions(withProgram(raw), context),
      };
    });

  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      const helpOrVersion = ["commander.helpDisplayed", "commander.version", "commander.help"].includes(
        error.code,
      );
      return helpOrVersion
        ? { command: "exit", code: 0 }
        : { command: "exit", code: EXIT_CODES.usage, usage };
    }
    throw error;
  }
  return invocation ?? { command: "exit", code: 0 };
}

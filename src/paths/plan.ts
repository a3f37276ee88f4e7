// Pure decisions about PATH, and the one owner of that knowledge: which shell files get which
// lines, which files and lines are ours (install writes them, uninstall removes exactly them),
// how to read PATH from an environment, and how a Windows Path value changes. The effectful
// halves are unix.ts and windows.ts.
import { basename, delimiter, dirname, join, posix, relative, win32 } from "node:path";

const PROFILE_MARKER = "# added by runmat-install";

/** The files under ~/.runmat that put RunMat on PATH, and the fish conf.d file that sources one. */
const ENV_FILE = "env";
const ENV_FISH_FILE = "env.fish";
const FISH_CONF_FILE = "runmat.env.fish";

/** The entries of PATH (Path on Windows) in an environment. */
function pathEntries(env: NodeJS.ProcessEnv): string[] {
  return (env.PATH ?? env.Path ?? "").split(delimiter).filter((entry) => entry !== "");
}

/** One change the installer makes so that new shells find RunMat; the receipt records each. */
export type PathEdit =
  /** A file the installer wrote whole (~/.runmat/env, the fish conf.d file). */
  | { kind: "file"; path: string }
  /** One line appended to a file the user owns (a shell profile, $GITHUB_PATH). */
  | { kind: "line"; path: string; line: string; createdFile?: boolean }
  /** One entry prepended to the user's Path in the registry. */
  | { kind: "registry"; key: string; name: "Path"; entry: string };

export function isOnPath(directory: string, env: NodeJS.ProcessEnv): boolean {
  return pathEntries(env).some((entry) => relative(entry, directory) === "");
}

/** The first `name` on PATH, as a shell would find it. */
export function findOnPath(
  name: string,
  env: NodeJS.ProcessEnv,
  exists: (path: string) => boolean,
): string | null {
  for (const entry of pathEntries(env)) {
    const candidate = join(entry, name);
    if (exists(candidate)) return candidate;
  }
  return null;
}

/**
 * Another `name` that a new shell will find before the one in `directory`, if any. A directory
 * already on PATH keeps its place; one the install puts first (the Unix env file prepends it)
 * is shadowed by nothing; on Windows the user Path comes after the system Path, so anything on
 * PATH may come first.
 */
export function shadowingBinary(
  directory: string,
  name: string,
  env: NodeJS.ProcessEnv,
  exists: (path: string) => boolean,
  goesFirst: boolean,
): string | null {
  const entries = pathEntries(env);
  const ours = entries.findIndex((entry) => relative(entry, directory) === "");
  const earlier = ours >= 0 ? entries.slice(0, ours) : goesFirst ? [] : entries;
  for (const entry of earlier) {
    const candidate = join(entry, name);
    if (exists(candidate)) return candidate;
  }
  return null;
}

/** A file the installer writes whole and uninstall deletes: ~/.runmat/env, env.fish, fish conf.d. */
export function isOwnedFile(path: string, runmatHome: string): boolean {
  return (
    isEnvFile(path, runmatHome) || (basename(path) === FISH_CONF_FILE && basename(dirname(path)) === "conf.d")
  );
}

/** ~/.runmat/env and ~/.runmat/env.fish, which put the install directory on PATH. */
export function envFiles(runmatHome: string): [string, string] {
  return [join(runmatHome, ENV_FILE), join(runmatHome, ENV_FISH_FILE)];
}

/** The env files: plumbing the summary does not name (the profiles that source them are named). */
export function isEnvFile(path: string, runmatHome: string): boolean {
  return envFiles(runmatHome).includes(path);
}

/** The line the installer appends to a shell profile: it sources ~/.runmat/env. */
export function isOwnedLine(line: string, home: string): boolean {
  return line === sourceLineFor(home);
}

/**
 * A shell profile the installer may add its line to (chooseProfiles picks among these), so
 * uninstall never edits any other file: HOME's sh and bash files, and a .zshenv ($ZDOTDIR may
 * put it anywhere).
 */
export function isOwnedProfile(path: string, home: string): boolean {
  const inHome = [".profile", ".bashrc", ".bash_profile", ".bash_login", ".zshenv"].map((n) =>
    posix.join(home, n),
  );
  return inHome.includes(path) || basename(path) === ".zshenv";
}

function sourceLineFor(home: string): string {
  return `. ${homeRelative(posix.join(home, ".runmat", ENV_FILE), home, shQuote)} ${PROFILE_MARKER}`;
}

export interface UnixShellContext {
  home: string;
  /** Absolute install directory. */
  directory: string;
  zdotdir?: string;
  xdgConfigHome?: string;
  /** $SHELL, used to decide whether zsh or fish needs a file that does not exist yet. */
  shell?: string;
  /** Which candidate files exist already. */
  exists: (path: string) => boolean;
}

export interface UnixPathPlan {
  envFile: { path: string; content: string };
  envFishFile: { path: string; content: string };
  fishConfFile?: { path: string; content: string };
  /** Shell startup files that should carry `sourceLine`. */
  profiles: string[];
  sourceLine: string;
}

/** Double-quotes a value for sh: inside "…", sh expands \\, ", $ and `. */
function shQuote(value: string): string {
  return `"${value.replace(/[\\"$`]/g, (c) => `\\${c}`)}"`;
}

/** Double-quotes a value for fish: inside "…", fish expands only \\, " and $ (a ` is literal). */
function fishQuote(value: string): string {
  return `"${value.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}

/** "$HOME/..." when the path is under home, so the line survives a renamed home directory. */
function homeRelative(path: string, home: string, quote: (value: string) => string): string {
  if (path.startsWith(`${home}/`)) return `"$HOME/${quote(path.slice(home.length + 1)).slice(1)}`;
  return quote(path);
}

export function planUnixPath(context: UnixShellContext): UnixPathPlan {
  const { home, directory } = context;
  const runmatHome = posix.join(home, ".runmat");
  const envPath = posix.join(runmatHome, ENV_FILE);
  const envFishPath = posix.join(runmatHome, ENV_FISH_FILE);
  const shDir = shQuote(directory);
  const fishDir = fishQuote(directory);
  const envContent = [
    "#!/bin/sh",
    `${PROFILE_MARKER}: puts RunMat on PATH. \`runmat-install uninstall\` removes it.`,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax, not a template
    'case ":${PATH}:" in',
    `  *:${shDir}:*) ;;`,
    `  *) export PATH=${shDir}":$PATH" ;;`,
    "esac",
    "",
  ].join("\n");
  const envFishContent = [
    `${PROFILE_MARKER}: puts RunMat on PATH.`,
    `if not contains -- ${fishDir} $PATH`,
    `    set -gx PATH ${fishDir} $PATH`,
    "end",
    "",
  ].join("\n");

  const shellName = posix.basename(context.shell ?? "");
  const profiles = chooseProfiles(context, shellName);

  const fishConfigDir = posix.join(context.xdgConfigHome || posix.join(home, ".config"), "fish");
  const wantsFish = shellName === "fish" || context.exists(fishConfigDir);
  return {
    envFile: { path: envPath, content: envContent },
    envFishFile: { path: envFishPath, content: envFishContent },
    fishConfFile: wantsFish
      ? {
          path: posix.join(fishConfigDir, "conf.d", FISH_CONF_FILE),
          content: `${PROFILE_MARKER}\nsource ${homeRelative(envFishPath, home, fishQuote)}\n`,
        }
      : undefined,
    profiles,
    sourceLine: sourceLineFor(home),
  };
}

/**
 * The startup files that get the source line, so that every new shell finds runmat (as rustup
 * and cargo-dist decide, one step further so that no shell a user can open is missed):
 * - ~/.profile, always (created when missing): sh, dash and ksh login shells, and bash login
 *   shells without a .bash_profile or .bash_login;
 * - ~/.bashrc, always (created when missing): interactive bash that is not a login shell
 *   (a new terminal tab on most Linux desktops) reads only this;
 * - ~/.bash_profile and ~/.bash_login when they exist: a bash login shell reads the first of them
 *   instead of .profile. Never created, as that would stop bash from reading .profile;
 * - $ZDOTDIR/.zshenv (default ~/.zshenv) for zsh users ($SHELL, or zsh startup files already
 *   there), created when missing: every zsh reads it, login or not, interactive or not.
 * fish gets its own conf.d file (planUnixPath).
 */
function chooseProfiles(context: UnixShellContext, shellName: string): string[] {
  const inHome = (name: string) => posix.join(context.home, name);
  const profiles = [inHome(".profile"), inHome(".bashrc")];
  for (const name of [".bash_profile", ".bash_login"]) {
    if (context.exists(inHome(name))) profiles.push(inHome(name));
  }
  const zshDir = context.zdotdir || context.home;
  const zshFiles = [".zshenv", ".zprofile", ".zshrc", ".zlogin"].map((name) => posix.join(zshDir, name));
  if (shellName === "zsh" || zshFiles.some((file) => context.exists(file))) profiles.push(zshFiles[0]);
  return profiles;
}

/** The file with `line` appended, keeping its line endings; null when the line is already there. */
export function appendLine(content: string, line: string): string | null {
  const lines = content.split("\n").map((l) => l.replace(/\r$/, ""));
  if (lines.includes(line)) return null;
  const eol = content.includes("\r\n") ? "\r\n" : "\n";
  const separator = content === "" || content.endsWith("\n") ? "" : eol;
  return `${content}${separator}${line}${eol}`;
}

/** The file without any line equal to `line`; every other byte is kept. */
export function removeLine(content: string, line: string): string {
  return content
    .split(/(?<=\n)/)
    .filter((l) => l.replace(/\r?\n$/, "") !== line)
    .join("");
}

function sameWindowsDirectory(a: string, b: string, expand: (s: string) => string): boolean {
  const normalise = (p: string) => win32.normalize(expand(p)).replace(/\\+$/, "").toLowerCase();
  return normalise(a) === normalise(b);
}

export function expandWindowsVariables(value: string, env: Record<string, string | undefined>): string {
  const lookup = new Map(Object.entries(env).map(([k, v]) => [k.toLowerCase(), v]));
  return value.replace(/%([^%]+)%/g, (whole, name: string) => lookup.get(name.toLowerCase()) ?? whole);
}

/**
 * The user Path with `directory` first, or null when an entry already names it. The rest is kept
 * byte for byte (empty entries too), so that removing the entry again restores it exactly.
 */
export function prependWindowsPath(
  current: string,
  directory: string,
  expand: (s: string) => string = (s) => s,
): string | null {
  if (current.split(";").some((entry) => entry !== "" && sameWindowsDirectory(entry, directory, expand)))
    return null;
  return current === "" ? directory : `${directory};${current}`;
}

/** The user Path without the entries naming `directory`; every other byte is kept. */
export function removeWindowsPath(
  current: string,
  directory: string,
  expand: (s: string) => string = (s) => s,
) {
  return current
    .split(";")
    .filter((entry) => entry === "" || !sameWindowsDirectory(entry, directory, expand))
    .join(";");
}

/** A registry value as `reg export` wrote it: its type and its exact text. */
export interface RegistryValue {
  type: "REG_SZ" | "REG_EXPAND_SZ";
  value: string;
}

/**
 * The value `name` in the text of a `reg export` file (UTF-16, so no console code page ever
 * touches it: "Zoë" and "陈" come back as they are), or null when the key has no such value.
 * A value of another type is refused, not guessed at: a Path that cannot be read back exactly is
 * never written.
 */
export function parseRegExport(text: string, name: string): RegistryValue | null {
  const joined = text.replace(/^\uFEFF/, "").replace(/\\\r?\n[ \t]*/g, "");
  const prefix = `"${name.toLowerCase()}"=`;
  const line = joined.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(prefix));
  if (line === undefined) return null;
  const data = line.slice(prefix.length);
  if (data.startsWith('"') && data.endsWith('"')) {
    return { type: "REG_SZ", value: data.slice(1, -1).replace(/\\(.)/g, "$1") };
  }
  const hex = /^hex\(2\):((?:[0-9a-f]{2},?)*)$/i.exec(data);
  if (!hex)
    throw new Error(
      `the registry value ${name} has a type the installer does not edit (${data.slice(0, 12)}…)`,
    );
  const bytes = Buffer.from(hex[1].replace(/,/g, ""), "hex");
  if (bytes.length % 2 !== 0) throw new Error(`the registry value ${name} is not UTF-16 text`);
  return { type: "REG_EXPAND_SZ", value: bytes.toString("utf16le").replace(/\0+$/, "") };
}

/** A `reg import` file (UTF-16LE with its byte order mark) that sets `name` to `value` as REG_EXPAND_SZ. */
export function renderRegImport(key: string, name: string, value: string): Buffer {
  const hive = key.replace(/^HKCU\\/i, "HKEY_CURRENT_USER\\");
  const bytes = [...Buffer.from(`${value}\0`, "utf16le")].map((byte) => byte.toString(16).padStart(2, "0"));
  const rows: string[] = [];
  for (let i = 0; i < bytes.length; i += 24) rows.push(bytes.slice(i, i + 24).join(","));
  const text = [
    "Windows Registry Editor Version 5.00",
    "",
    `[${hive}]`,
    `"${name}"=hex(2):${rows.join(",\\\r\n  ")}`,
    "",
  ].join("\r\n");
  return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]);
}

/** Whether a file the installer writes whole (an env file, the fish conf.d file) still holds its words. */
export function isOwnedContent(content: string): boolean {
  return content.includes(PROFILE_MARKER);
}

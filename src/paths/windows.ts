// The user's Path lives in HKCU\Environment\Path. It is read with `reg export` and written with
// `reg import`, both through UTF-16 files: `reg query` prints to a pipe in the console's code
// page, which turns "Zoë" into "Zo?" (and a Path written back from that loses the user's
// entries). It stays REG_EXPAND_SZ, with every %VAR% kept unexpanded; never setx, which cuts the
// value at 1024 characters. Every write is read back and compared.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  expandWindowsVariables,
  type PathEdit,
  parseRegExport,
  prependWindowsPath,
  type RegistryValue,
  removeWindowsPath,
  renderRegImport,
} from "./plan.js";
import type { PathOutcome } from "./unix.js";

const run = promisify(execFile);
const KEY = "HKCU\\Environment";

/** Runs `work` with a private directory for reg.exe's files (the export holds every variable). */
async function withScratch<T>(work: (directory: string) => Promise<T>): Promise<T> {
  const directory = await mkdtemp(join(tmpdir(), "runmat-reg-"));
  try {
    return await work(directory);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** The user's Path exactly as stored, or null when there is none; throws when it cannot be read. */
async function readUserPath(): Promise<RegistryValue | null> {
  return withScratch(async (directory) => {
    const file = join(directory, "environment.reg");
    await run("reg", ["export", KEY, file, "/y"], { windowsHide: true });
    return parseRegExport((await readFile(file)).toString("utf16le"), "Path");
  });
}

async function writeUserPath(value: string): Promise<void> {
  await withScratch(async (directory) => {
    const file = join(directory, "path.reg");
    await writeFile(file, renderRegImport(KEY, "Path", value));
    await run("reg", ["import", file], { windowsHide: true });
  });
  const stored = await readUserPath();
  if (stored?.value !== value) {
    throw new Error("the Path read back from the registry differs from the one written");
  }
  await broadcastEnvironmentChange();
}

/** Tells Explorer (and new terminals it starts) that the environment changed. Best effort. */
async function broadcastEnvironmentChange(): Promise<void> {
  const script =
    'Add-Type -Namespace R -Name W -MemberDefinition \'[DllImport("user32.dll")] public static extern IntPtr SendMessageTimeout(IntPtr h, uint m, UIntPtr w, string l, uint f, uint t, out UIntPtr r);\'; $r=[UIntPtr]::Zero; [void][R.W]::SendMessageTimeout([IntPtr]0xffff, 0x1A, [UIntPtr]::Zero, "Environment", 2, 5000, [ref]$r)';
  await run("powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", script], {
    windowsHide: true,
    timeout: 10_000,
  }).catch(() => {});
}

const expand = (value: string) => expandWindowsVariables(value, process.env);

function describe(error: unknown): string {
  return ((error as Error).message ?? String(error)).split("\n")[0];
}

/** Puts `directory` first on the user's Path; a Path it cannot read exactly is left alone, with a warning. */
export async function addToWindowsPath(directory: string, dryRun: boolean): Promise<PathOutcome> {
  const outcome: PathOutcome = { edits: [], changed: [], warnings: [], createdDirs: [] };
  const edit: PathEdit = { kind: "registry", key: KEY, name: "Path", entry: directory };
  const manual = `add ${directory} to your user Path yourself (Settings → "Edit environment variables for your account")`;
  let current: RegistryValue | null;
  try {
    current = await readUserPath();
  } catch (error) {
    outcome.warnings.push(
      `Could not read your user Path (${describe(error)}), so it was not changed; ${manual}.`,
    );
    return outcome;
  }
  const updated = prependWindowsPath(current?.value ?? "", directory, expand);
  // Already there: not ours to record, so uninstall will not remove an entry the user made.
  if (updated === null) return outcome;
  if (!dryRun) {
    try {
      await writeUserPath(updated);
    } catch (error) {
      outcome.warnings.push(`Could not update your user Path (${describe(error)}); ${manual}.`);
      return outcome;
    }
  }
  return { ...outcome, edits: [edit], changed: [edit] };
}

/** Whether the user's Path in the registry still names `directory`. */
export async function windowsPathHas(directory: string): Promise<boolean> {
  const current = await readUserPath().catch(() => null);
  return current !== null && prependWindowsPath(current.value, directory, expand) === null;
}

/** Takes `directory` out of the user's Path, keeping every other entry byte for byte. */
export async function removeFromWindowsPath(directory: string): Promise<boolean> {
  const current = await readUserPath();
  if (!current) return false;
  const updated = removeWindowsPath(current.value, directory, expand);
  if (updated === current.value) return false;
  await writeUserPath(updated);
  return true;
}

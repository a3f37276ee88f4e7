// The user's Path lives in HKCU\Environment\Path. We edit it with reg.exe, keeping it
// REG_EXPAND_SZ, and never with setx, which truncates the value at 1024 characters.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expandWindowsVariables, type PathEdit, prependWindowsPath, removeWindowsPath } from "./plan.js";
import type { PathOutcome } from "./unix.js";

const run = promisify(execFile);
const KEY = "HKCU\\Environment";

interface RegistryValue {
  value: string;
  type: string;
}

function parseRegQuery(output: string): RegistryValue | null {
  const match = /^\s*Path\s+(REG_\w+)\s*(.*?)\s*$/im.exec(output);
  return match ? { type: match[1], value: match[2] } : null;
}

async function readUserPath(): Promise<RegistryValue | null> {
  try {
    const { stdout } = await run("reg", ["query", KEY, "/v", "Path"], { windowsHide: true });
    return parseRegQuery(stdout);
  } catch {
    return null; // no Path value yet
  }
}

async function writeUserPath(value: string): Promise<void> {
  await run("reg", ["add", KEY, "/v", "Path", "/t", "REG_EXPAND_SZ", "/d", value, "/f"], {
    windowsHide: true,
  });
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

export async function addToWindowsPath(directory: string, dryRun: boolean) {
  const current = await readUserPath();
  const edit: PathEdit = { kind: "registry", key: KEY, name: "Path", entry: directory };
  const updated = prependWindowsPath(current?.value ?? "", directory, expand);
  // Already there: not ours to record, so uninstall will not remove an entry the user made.
  const outcome: PathOutcome = { edits: [], changed: [], warnings: [], createdDirs: [] };
  if (updated === null) return outcome;
  if (!dryRun) await writeUserPath(updated);
  return { ...outcome, edits: [edit], changed: [edit] };
}

/** Whether the user's Path in the registry still names `directory`. */
export async function windowsPathHas(directory: string): Promise<boolean> {
  const current = await readUserPath();
  return current !== null && prependWindowsPath(current.value, directory, expand) === null;
}

export async function removeFromWindowsPath(directory: string): Promise<boolean> {
  const current = await readUserPath();
  if (!current) return false;
  const updated = removeWindowsPath(current.value, directory, expand);
  if (updated === current.value) return false;
  await writeUserPath(updated);
  return true;
}

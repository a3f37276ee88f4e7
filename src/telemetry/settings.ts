// ~/.runmat/telemetry.json: the persisted opt-out (`runmat-install telemetry disable`) and the
// record that this machine has seen the telemetry notice. Both live in one small JSON object.
import { join } from "node:path";
import { DEFAULT_TELEMETRY_ENDPOINT, TELEMETRY_SETTINGS_FILE } from "../contract.js";
import { readRegularFile, writeFileAtomic } from "../fs-atomic.js";
import { type Consent, consentFromEnvironment, consentFromSetting } from "./consent.js";

interface Settings {
  enabled?: boolean;
  /** When the notice was first shown on this machine (ISO date). */
  noticeShown?: string;
}

export function settingsPath(runmatHome: string): string {
  return join(runmatHome, TELEMETRY_SETTINGS_FILE);
}

async function readSettings(runmatHome: string): Promise<Settings> {
  if (!runmatHome) return {};
  try {
    const value = JSON.parse((await readRegularFile(settingsPath(runmatHome))) ?? "{}") as unknown;
    return typeof value === "object" && value !== null ? (value as Settings) : {};
  } catch {
    return {};
  }
}

async function updateSettings(runmatHome: string, change: Partial<Settings>): Promise<void> {
  const next: Record<string, unknown> = { ...(await readSettings(runmatHome)), ...change };
  for (const key of Object.keys(next)) if (next[key] === undefined) delete next[key];
  await writeFileAtomic(settingsPath(runmatHome), `${JSON.stringify(next)}\n`, 0o644);
}

/** Persists the opt-out. The id file stays: RunMat's own telemetry reads and owns it too. */
export async function persistDisabled(runmatHome: string): Promise<void> {
  await updateSettings(runmatHome, { enabled: false });
}

export async function removePersistedSetting(runmatHome: string): Promise<void> {
  await updateSettings(runmatHome, { enabled: undefined });
}

/** Whether this machine has seen the notice; a missing HOME never has (and is never written). */
export async function noticeWasShown(runmatHome: string): Promise<boolean> {
  return Boolean((await readSettings(runmatHome)).noticeShown);
}

export async function recordNoticeShown(runmatHome: string): Promise<void> {
  await updateSettings(runmatHome, { noticeShown: new Date().toISOString().slice(0, 10) });
}

/** Any "off" wins; the persisted setting is read only when nothing else has decided. */
export async function resolveConsent(
  env: NodeJS.ProcessEnv,
  options: { telemetryFlag: boolean; runmatHome: string },
): Promise<Consent> {
  return (
    consentFromEnvironment(env, options.telemetryFlag) ??
    consentFromSetting((await readSettings(options.runmatHome)).enabled === false)
  );
}

/** Where install events go: RUNMAT_TELEMETRY_ENDPOINT, else RunMat's relay. */
export function telemetryEndpoint(env: NodeJS.ProcessEnv): string {
  return env.RUNMAT_TELEMETRY_ENDPOINT || DEFAULT_TELEMETRY_ENDPOINT;
}

// The persisted opt-out: ~/.runmat/telemetry.json, written by `runmat-install telemetry disable`.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { TELEMETRY_SETTINGS_FILE } from "../contract.js";
import { readRegularFile, writeFileAtomic } from "../fs-atomic.js";
import { type Consent, consentFromEnvironment, consentFromSetting } from "./consent.js";
import { idPath } from "./id.js";

export function settingsPath(runmatHome: string): string {
  return join(runmatHome, TELEMETRY_SETTINGS_FILE);
}

async function isPersistedDisabled(runmatHome: string): Promise<boolean> {
  if (!runmatHome) return false;
  try {
    const text = await readRegularFile(settingsPath(runmatHome));
    if (text === null) return false;
    const value = JSON.parse(text) as { enabled?: unknown };
    return value.enabled === false;
  } catch {
    return false;
  }
}

export async function persistDisabled(runmatHome: string): Promise<void> {
  await writeFileAtomic(settingsPath(runmatHome), `${JSON.stringify({ enabled: false })}\n`, 0o644);
  await rm(idPath(runmatHome), { force: true });
}

export async function removePersistedSetting(runmatHome: string): Promise<void> {
  await rm(settingsPath(runmatHome), { force: true });
}

/** Any "off" wins; the persisted setting is read only when nothing else has decided. */
export async function resolveConsent(
  env: NodeJS.ProcessEnv,
  options: { telemetryFlag: boolean; runmatHome: string },
): Promise<Consent> {
  return (
    consentFromEnvironment(env, options.telemetryFlag) ??
    consentFromSetting(await isPersistedDisabled(options.runmatHome))
  );
}

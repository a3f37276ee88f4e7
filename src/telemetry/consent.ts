// Pure opt-out resolution: any "off" wins. The persisted setting is read last and only when
// nothing in the environment or on the command line has already said off, so an opted-out
// run never touches ~/.runmat at all.
import { doNotTrack, isFalsy, isTruthy } from "../contract.js";

export interface Consent {
  enabled: boolean;
  /** Human-readable, e.g. "off: set by DO_NOT_TRACK". */
  reason: string;
}

/** The decision that needs neither disk nor network; null means "ask the persisted setting". */
export function consentFromEnvironment(env: NodeJS.ProcessEnv, telemetryFlag: boolean): Consent | null {
  if (isTruthy(env.RUNMAT_NO_TELEMETRY)) return { enabled: false, reason: "off: set by RUNMAT_NO_TELEMETRY" };
  if (isFalsy(env.RUNMAT_TELEMETRY)) return { enabled: false, reason: "off: set by RUNMAT_TELEMETRY" };
  if (doNotTrack(env.DO_NOT_TRACK)) return { enabled: false, reason: "off: set by DO_NOT_TRACK" };
  if (!telemetryFlag) return { enabled: false, reason: "off: --no-telemetry" };
  return null;
}

export function consentFromSetting(persistedDisabled: boolean): Consent {
  return persistedDisabled
    ? { enabled: false, reason: "off: disabled by `runmat-install telemetry disable`" }
    : { enabled: true, reason: "on: default (opt out with RUNMAT_NO_TELEMETRY=1)" };
}

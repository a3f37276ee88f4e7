// Builds the one payload shape the installer ever sends. The keys are fixed here and
// nowhere else; test/unit/readme.test.ts checks that the README lists exactly these.
import { normalizeArch, normalizeOs, sanitizeDimension } from "../platform.js";

export const TELEMETRY_EVENTS = ["install_start", "install_complete", "install_failed"] as const;
export type TelemetryEvent = (typeof TELEMETRY_EVENTS)[number];

export const PAYLOAD_KEYS = ["event_label", "os", "arch", "platform", "release", "method", "cid"] as const;
export type Payload = Record<(typeof PAYLOAD_KEYS)[number], string>;

export const METHODS = ["shell", "powershell", "npx", "binary"] as const;
export type Method = (typeof METHODS)[number];

export interface InstallFacts {
  os: string;
  arch: string;
  platform: string;
  release: string;
  method: string;
}

function orUnknown(value: string): string {
  return sanitizeDimension(value) || "unknown";
}

export function buildPayload(event: TelemetryEvent, facts: InstallFacts, cid: string): Payload {
  return {
    event_label: event,
    os: orUnknown(normalizeOs(facts.os)),
    arch: orUnknown(normalizeArch(facts.arch)),
    platform: orUnknown(facts.platform),
    release: orUnknown(facts.release),
    method: orUnknown(facts.method),
    cid: orUnknown(cid),
  };
}

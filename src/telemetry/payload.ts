// Builds the one payload shape the installer ever sends. The keys are fixed in the contract
// (src/contract.ts); test/unit/readme.test.ts checks that the README lists exactly these.
import { type Payload, sanitizeDimension, type TelemetryEvent } from "../contract.js";
import { normalizeArch, normalizeOs } from "../platform/resolve.js";

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

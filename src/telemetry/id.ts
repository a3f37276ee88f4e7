// The anonymous client id in ~/.runmat/telemetry_id, shared with the old install scripts.
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { open } from "node:fs/promises";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "../fs-atomic.js";

/** Old scripts wrote GUIDs and "1700000000-12345" ids; both match. Anything else is never sent. */
const VALID_ID = /^[A-Za-z0-9-]{8,64}$/;
// Read at most this much: a 10 MB file of garbage must not be slurped.
const MAX_ID_BYTES = 256;

export function idPath(runmatHome: string): string {
  return join(runmatHome, "telemetry_id");
}

export function isValidId(text: string): boolean {
  return VALID_ID.test(text.trim());
}

async function readExistingId(path: string): Promise<string | null> {
  try {
    const handle = await open(path, "r");
    try {
      const buffer = Buffer.alloc(MAX_ID_BYTES + 1);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      if (bytesRead > MAX_ID_BYTES) return null;
      const text = buffer.subarray(0, bytesRead).toString("utf8").trim();
      return isValidId(text) ? text : null;
    } finally {
      await handle.close();
    }
  } catch {
    return null;
  }
}

/** Returns the id to send, creating (or replacing an invalid) one. A read-only HOME gets a per-run id. */
export async function loadOrCreateId(runmatHome: string): Promise<string> {
  // No home (unset or missing): an id for this run only, and never a home created for it.
  if (!runmatHome || !existsSync(dirname(runmatHome))) return randomUUID();
  const path = idPath(runmatHome);
  const existing = await readExistingId(path);
  if (existing) return existing;
  const id = randomUUID();
  await writeFileAtomic(path, `${id}\n`, 0o600).catch(() => {});
  return id;
}

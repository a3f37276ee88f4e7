// The anonymous client id in ~/.runmat/telemetry_id, shared with the old install scripts.
import { constants, existsSync } from "node:fs";
import { open } from "node:fs/promises";
import { dirname, join } from "node:path";
import { TELEMETRY_ID_FILE, TELEMETRY_ID_MAX_BYTES, TELEMETRY_ID_PATTERN } from "../contract.js";
import { writeFileAtomic } from "../fs-atomic.js";

const VALID_ID = new RegExp(TELEMETRY_ID_PATTERN);

export function idPath(runmatHome: string): string {
  return join(runmatHome, TELEMETRY_ID_FILE);
}

// Windows has neither flag (and neither links nor FIFOs in a user's profile to fear here).
const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const NONBLOCK = constants.O_NONBLOCK ?? 0;

function isValidId(text: string): boolean {
  return VALID_ID.test(text.trim());
}

async function readExistingId(path: string): Promise<string | null> {
  try {
    // Never follow a link (its target's content would be sent as the id) and never block on
    // a FIFO: only a regular file of ours is read, and at most this much of it.
    const handle = await open(path, constants.O_RDONLY | NOFOLLOW | NONBLOCK);
    try {
      if (!(await handle.stat()).isFile()) return null;
      const buffer = Buffer.alloc(TELEMETRY_ID_MAX_BYTES + 1);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      if (bytesRead > TELEMETRY_ID_MAX_BYTES) return null;
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
  // Loaded here, not at start-up: --help and a usage error need no crypto.
  const { randomUUID } = await import("node:crypto");
  // No home (unset or missing): an id for this run only, and never a home created for it.
  if (!runmatHome || !existsSync(dirname(runmatHome))) return randomUUID();
  const path = idPath(runmatHome);
  const existing = await readExistingId(path);
  if (existing) return existing;
  const id = randomUUID();
  await writeFileAtomic(path, `${id}\n`, 0o600).catch(() => {});
  return id;
}

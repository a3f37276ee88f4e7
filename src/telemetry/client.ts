// Sends the three install events: start concurrently with the download, then one outcome,
// each at most once, never retried, never allowed to slow the install by more than a second.

import type { Payload, TelemetryEvent } from "../contract.js";
import { checkUrlAllowed } from "../url-policy.js";
import { VERSION } from "../version.js";
import { loadOrCreateId } from "./id.js";
import { buildPayload, type InstallFacts } from "./payload.js";

/** Hard cap on one request. Shorter than the flush window, so that when install_start is
 * still in flight at exit, the outcome always has 300 ms left to go out after it. */
const REQUEST_TIMEOUT_MS = 500;
/** Hard cap on what telemetry may add at exit. */
const FLUSH_WINDOW_MS = 800;

const TELEMETRY_NOTICE =
  "runmat-install sends 3 anonymous install events (os, arch, platform, release, method, random id). " +
  "Opt out: RUNMAT_NO_TELEMETRY=1 or --no-telemetry. Details: https://runmat.org/docs/telemetry";

export interface TelemetryOptions {
  enabled: boolean;
  endpoint: string;
  /** RUNMAT_TELEMETRY_DEBUG=1: print payloads to stderr instead of sending. */
  debug: boolean;
  runmatHome: string;
  facts: InstallFacts;
  /** Shows the one-time notice (the UI drops it under --quiet and --json). */
  notice: (text: string) => void;
  print: (text: string) => void;
  /** Aborts sends when the user insists on quitting (a second Ctrl-C). */
  signal?: AbortSignal;
}

export class Telemetry {
  private readonly sent = new Set<TelemetryEvent>();
  private startRequest: Promise<void> | null = null;
  private cid: Promise<string> | null = null;
  private noticeShown = false;
  readonly facts: InstallFacts;

  constructor(private readonly options: TelemetryOptions) {
    this.facts = options.facts;
  }

  /** Fire and forget: the install never waits for it. */
  start(): void {
    if (!this.options.enabled || this.sent.has("install_start")) return;
    this.startRequest = this.send("install_start");
  }

  /** Sends install_complete or install_failed once, after start, within FLUSH_WINDOW_MS. */
  async finish(outcome: "install_complete" | "install_failed"): Promise<void> {
    if (!this.options.enabled || this.sent.has("install_complete") || this.sent.has("install_failed")) return;
    this.start();
    const deadline = Date.now() + FLUSH_WINDOW_MS;
    // Order matters to the receiver: the outcome goes only once start has been answered or
    // has timed out, and both together stay inside the window.
    await untilDeadline(this.startRequest!, deadline);
    await untilDeadline(this.send(outcome, Math.max(1, deadline - Date.now())), deadline);
  }

  /** Never rejects: telemetry never fails an install. */
  private async send(event: TelemetryEvent, timeoutMs = REQUEST_TIMEOUT_MS): Promise<void> {
    this.sent.add(event);
    try {
      if (!this.noticeShown) {
        this.noticeShown = true;
        this.options.notice(TELEMETRY_NOTICE);
      }
      this.cid ??= loadOrCreateId(this.options.runmatHome);
      const payload = buildPayload(event, this.facts, await this.cid);
      if (this.options.debug) {
        this.options.print(`telemetry (debug, not sent): ${JSON.stringify(payload)}`);
        return;
      }
      await post(
        this.options.endpoint,
        payload,
        Math.min(timeoutMs, REQUEST_TIMEOUT_MS),
        this.options.signal,
      );
    } catch {
      // an endpoint that hangs, refuses or fails changes nothing
    }
  }
}

/**
 * Node 20 can garbage-collect a timeout signal that only AbortSignal.any refers to, and then it
 * never fires (seen here: a hanging endpoint held install_start for the whole flush window).
 * Each request's timeout signal stays referenced here until the request settles.
 */
const pendingDeadlines = new Set<AbortSignal>();

async function post(
  endpoint: string,
  payload: Payload,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const url = checkUrlAllowed(endpoint, "RUNMAT_TELEMETRY_ENDPOINT");
  const { request, EnvHttpProxyAgent } = await import("undici");
  const dispatcher = new EnvHttpProxyAgent({ connect: { timeout: timeoutMs } });
  const deadline = AbortSignal.timeout(timeoutMs);
  pendingDeadlines.add(deadline);
  try {
    const response = await request(url, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": `runmat-install/${VERSION}` },
      body: JSON.stringify(payload),
      dispatcher,
      signal: signal ? AbortSignal.any([deadline, signal]) : deadline,
    });
    await response.body.dump();
  } finally {
    pendingDeadlines.delete(deadline);
    void dispatcher.destroy().catch(() => {});
  }
}

/** Waits for `promise`, but not past `deadline`. */
function untilDeadline(promise: Promise<void>, deadline: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    promise.then(done, done);
  });
}

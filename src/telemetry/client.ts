// Sends the three install events: start concurrently with the download, then one outcome,
// each at most once, never retried, never allowed to slow the install by more than a second.
import { checkUrlAllowed } from "../http.js";
import { VERSION } from "../version.js";
import { loadOrCreateId } from "./id.js";
import { buildPayload, type InstallFacts, type Payload, type TelemetryEvent } from "./payload.js";

export const DEFAULT_TELEMETRY_ENDPOINT = "https://runmat.org/api/telemetry";
/** Hard cap on one request. */
const REQUEST_TIMEOUT_MS = 700;
/** Hard cap on what the outcome event may add at exit. */
const FLUSH_WINDOW_MS = 800;

export const TELEMETRY_NOTICE =
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
  private startRequest: Promise<boolean> | null = null;
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
    // Order matters to the receiver: the outcome goes only after start has landed.
    const startDelivered = await withDeadline(this.startRequest!, deadline, false);
    // An endpoint that could not be reached for start will not be for the outcome either:
    // do not spend the window on it.
    if (!startDelivered) return;
    await withDeadline(this.send(outcome, Math.max(1, deadline - Date.now())), deadline, false);
  }

  private async send(event: TelemetryEvent, timeoutMs = REQUEST_TIMEOUT_MS): Promise<boolean> {
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
        return true;
      }
      return await post(
        this.options.endpoint,
        payload,
        Math.min(timeoutMs, REQUEST_TIMEOUT_MS),
        this.options.signal,
      );
    } catch {
      return false; // telemetry never fails an install
    }
  }
}

async function post(
  endpoint: string,
  payload: Payload,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  const url = checkUrlAllowed(endpoint, "RUNMAT_TELEMETRY_ENDPOINT");
  const { request, EnvHttpProxyAgent } = await import("undici");
  const dispatcher = new EnvHttpProxyAgent({ connect: { timeout: timeoutMs } });
  try {
    const response = await request(url, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": `runmat-install/${VERSION}` },
      body: JSON.stringify(payload),
      dispatcher,
      signal: signal
        ? AbortSignal.any([AbortSignal.timeout(timeoutMs), signal])
        : AbortSignal.timeout(timeoutMs),
    });
    await response.body.dump();
    // Any answer, even a 500, shows the endpoint is reachable, which is all finish() needs to know.
    return true;
  } finally {
    void dispatcher.destroy().catch(() => {});
  }
}

function withDeadline<T>(promise: Promise<T>, deadline: number, fallback: T): Promise<T> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(fallback), Math.max(0, deadline - Date.now()));
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      () => {
        clearTimeout(timer);
        resolve(fallback);
      },
    );
  });
}

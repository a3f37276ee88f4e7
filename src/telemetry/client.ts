// Sends the three install events. The connection opens as soon as consent is settled; install_start
// goes out as soon as the release is known; the outcome goes out the moment it is known (on the
// first Ctrl-C too, before the rollback), without waiting for start's answer. Each counts as
// delivered once written to the socket. Nothing is retried, and at exit the run waits for
// delivery at most FLUSH_BUDGET_MS.
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import type { Payload, TelemetryEvent } from "../contract.js";
import { checkUrlAllowed } from "../net/url-policy.js";
import { VERSION } from "../version.js";
import { type TelemetryAnswer, TelemetryConnection } from "./connection.js";
import { loadOrCreateId } from "./id.js";
import { buildPayload, type InstallFacts } from "./payload.js";
import { noticeWasShown, recordNoticeShown } from "./settings.js";

/** The most telemetry may add to a run once its outcome is known (a hanging or black-holed endpoint). */
const FLUSH_BUDGET_MS = 900;
/** Of that, how long to wait for the endpoint's answers after delivery: politeness, not delivery. */
const ANSWER_GRACE_MS = 150;
/** A moved endpoint (307, 308) is followed this many times at most. */
const MAX_REDIRECTS = 3;

export const TELEMETRY_NOTICE =
  "runmat-install sends 2 anonymous install events per run, a start and its outcome (os, arch, platform, release, method, random id). " +
  "Opt out: RUNMAT_NO_TELEMETRY=1 or --no-telemetry. RunMat itself has its own setting. Details: https://runmat.org/docs/telemetry";

export interface TelemetryOptions {
  enabled: boolean;
  endpoint: string;
  /** RUNMAT_TELEMETRY_DEBUG=1: print payloads to stderr instead of sending. */
  debug: boolean;
  runmatHome: string;
  facts: InstallFacts;
  /** Shows the notice: on stderr, whatever the output mode. */
  notice: (text: string) => void;
  print: (text: string) => void;
  /** The proxy environment. */
  env: NodeJS.ProcessEnv;
  /** Certificate authorities to trust besides Node's and the system's (--cacert). */
  caFile?: string;
  /** Writes diagnostics for --verbose. */
  verbose: (message: string) => void;
}

export class Telemetry {
  private readonly sends = new Map<TelemetryEvent, Promise<void>>();
  private outcome: Promise<void> | null = null;
  /** Where the next event goes: the endpoint, or where it has moved to (307, 308). */
  private connection: TelemetryConnection | null = null;
  /** Every connection opened, by URL, so a move is followed over one connection and all are closed. */
  private readonly connections = new Map<string, TelemetryConnection>();
  /** Events being sent again where their endpoint moved. */
  private readonly redirecting = new Set<Promise<void>>();
  private cid: Promise<string> | null = null;
  private notice: Promise<void> | null = null;
  readonly facts: InstallFacts;

  constructor(private readonly options: TelemetryOptions) {
    this.facts = options.facts;
  }

  /**
   * Opens the connection now, so that its round trips overlap the install's own work, and shows
   * the notice now, before anything else can be said (an error must never be followed by it).
   */
  connect(): void {
    if (this.options.enabled) this.notice ??= this.showNoticeOnce();
    if (!this.options.enabled || this.options.debug || this.connection) return;
    try {
      const url = checkUrlAllowed(this.options.endpoint, "RUNMAT_TELEMETRY_ENDPOINT");
      this.connection = this.connectionTo(url);
    } catch {
      // an endpoint that is not allowed is never contacted
    }
  }

  /** Fire and forget: the install never waits for it. */
  start(): void {
    if (!this.options.enabled || this.sends.has("install_start")) return;
    this.sends.set("install_start", this.send("install_start"));
  }

  /**
   * Sends the outcome now, once; resolves when both events are delivered or the budget is spent.
   * Called again (the first Ctrl-C sent it already), it returns the same promise.
   */
  finish(outcome: "install_complete" | "install_failed"): Promise<void> {
    this.outcome ??= this.deliver(outcome);
    return this.outcome;
  }

  private async deliver(outcome: "install_complete" | "install_failed"): Promise<void> {
    if (!this.options.enabled) return;
    const deadline = Date.now() + FLUSH_BUDGET_MS;
    this.start();
    this.sends.set(outcome, this.send(outcome));
    await untilDeadline(
      Promise.all(this.sends.values()).then(() => {}),
      deadline,
    );
    if (this.connection) {
      await untilDeadline(this.connection.answered(), Math.min(deadline, Date.now() + ANSWER_GRACE_MS));
    }
    // An endpoint that moved gets the events at its new address, within the same budget.
    while (this.redirecting.size > 0 && Date.now() < deadline) {
      await untilDeadline(
        Promise.all(this.redirecting).then(() => {}),
        deadline,
      );
    }
    for (const connection of this.connections.values()) connection.close();
  }

  private connectionTo(url: URL): TelemetryConnection {
    let connection = this.connections.get(url.href);
    if (!connection) {
      connection = new TelemetryConnection(
        url,
        this.options.env,
        `runmat-install/${VERSION}`,
        this.options.caFile,
      );
      this.connections.set(url.href, connection);
    }
    return connection;
  }

  /** Writes one event; its answer, when it comes, may say the endpoint moved. */
  private async post(body: string, connection: TelemetryConnection, hops: number): Promise<void> {
    const { answer } = await connection.send(body);
    const followed = answer.then((moved) => this.follow(moved, body, connection, hops)).catch(() => {});
    // An event sent again waits for its own answer too: the new address may have moved as well.
    if (hops > 0) await followed;
  }

  /**
   * 307 and 308 keep the POST and its body, so the event is sent again there, over a connection
   * opened now, and the rest of the run's events go straight to it. 301, 302 and 303 would turn
   * a POST into a GET: not followed.
   */
  private follow(answer: TelemetryAnswer | null, body: string, from: TelemetryConnection, hops: number) {
    if (!answer || answer.status < 300 || answer.status >= 400) return;
    if (answer.status !== 307 && answer.status !== 308) {
      this.options.verbose(
        `telemetry: ${from.url.host} answered ${answer.status}; only 307 and 308 keep a POST`,
      );
      return;
    }
    if (!answer.location || hops >= MAX_REDIRECTS) return;
    let next: URL;
    try {
      next = checkUrlAllowed(new URL(answer.location, from.url), "the telemetry endpoint's redirect");
    } catch {
      return;
    }
    if (from.url.protocol === "https:" && next.protocol !== "https:") return;
    this.options.verbose(`telemetry: ${from.url.host} moved to ${next.origin} (${answer.status})`);
    this.connection = this.connectionTo(next);
    const again = this.post(body, this.connection, hops + 1).catch(() => {});
    this.redirecting.add(again);
    void again.finally(() => this.redirecting.delete(again));
  }

  /** Never rejects: telemetry never fails an install. */
  private async send(event: TelemetryEvent): Promise<void> {
    try {
      this.notice ??= this.showNoticeOnce();
      await this.notice;
      this.cid ??= loadOrCreateId(this.options.runmatHome);
      const payload: Payload = buildPayload(event, this.facts, await this.cid);
      if (this.options.debug) {
        this.options.print(`telemetry (debug, not sent): ${JSON.stringify(payload)}`);
        return;
      }
      this.connect();
      if (this.connection) await this.post(JSON.stringify(payload), this.connection, 0);
    } catch {
      // an endpoint that hangs, refuses or fails changes nothing
    }
  }

  /** Before the first event this machine sends, the notice; recorded, as Homebrew does. */
  private async showNoticeOnce(): Promise<void> {
    if (await noticeWasShown(this.options.runmatHome)) return;
    this.options.notice(TELEMETRY_NOTICE);
    // A read-only or missing HOME cannot record it: the notice then shows each time.
    const { runmatHome } = this.options;
    if (runmatHome && existsSync(dirname(runmatHome))) await recordNoticeShown(runmatHome).catch(() => {});
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

// Runs one install (also used by `update`) and owns its outcome: the single place that
// prints the error, sends install_failed and picks the exit code.

import { EXIT_CODES, isTruthy } from "../contract.js";
import { InstallError, toInstallError } from "../errors.js";
import { install } from "../install/pipeline.js";
import type { InstallObserver } from "../install/types.js";
import type { InstallOptions } from "../options.js";
import { hostProbes } from "../platform/probes.js";
import type { PlatformProbes } from "../platform/resolve.js";
import type { Release } from "../release/assets.js";
import { Telemetry } from "../telemetry/client.js";
import { resolveConsent, telemetryEndpoint } from "../telemetry/settings.js";
import { describeWarning, reportInstall } from "./report.js";
import { reportFailure, Ui } from "./ui.js";

/**
 * Ctrl-C and SIGTERM abort the pipeline, which rolls back and reports; a second signal quits
 * at once. `onFirst` runs before the rollback (it sends the outcome, so a second Ctrl-C cannot
 * lose it). Once the outcome is settled a signal changes nothing: the handlers stay until the
 * process exits, so a late signal cannot kill a finished install with a misleading status.
 */
function interruptOnSignals(onFirst: () => void): { signal: AbortSignal; settle: () => void } {
  const controller = new AbortController();
  let settled = false;
  const onSignal = (name: NodeJS.Signals) => {
    if (settled) return;
    if (controller.signal.aborted) process.exit(EXIT_CODES.interrupted);
    onFirst();
    controller.abort(
      new InstallError(
        "interrupted",
        `Interrupted by ${name}; nothing was left half-installed.`,
        "Run the installer again to finish.",
      ),
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    settle: () => {
      settled = true;
    },
  };
}

/** Turns what the install reports into telemetry facts and terminal output. */
function observe(ui: Ui, telemetry: Telemetry, progress: { committed: boolean }): InstallObserver {
  return {
    committed: () => {
      progress.committed = true;
    },
    hostDetected: (host) => Object.assign(telemetry.facts, host),
    targetResolved: (platform) => {
      telemetry.facts.platform = platform;
    },
    // install_start goes out as soon as the tag is known, so every later failure carries it.
    releaseResolved: (tag, platform) => {
      telemetry.facts.release = tag ?? "unknown";
      telemetry.facts.platform = platform;
      telemetry.start();
    },
    warning: (warning) => ui.warn(describeWarning(warning)),
    downloading: (assetName) => ui.progress(assetName),
    unpacking: (assetName) => ui.info(`Unpacking ${assetName}...`),
    working: (what) => ui.step(what),
    retrying: (message) => ui.warn(message),
    debug: (message) => ui.debug(message),
  };
}

export async function runInstall(
  options: InstallOptions,
  env: NodeJS.ProcessEnv,
  probes: PlatformProbes = hostProbes,
  release?: Release,
): Promise<number> {
  const ui = new Ui(options.output, env);
  const progress = { committed: false };
  // Declared before the handlers that use it; set as soon as consent is known.
  let telemetry: Telemetry | null = null;
  // A signal before the install is committed fails it: say so now, before the rollback.
  const interrupt = interruptOnSignals(() => {
    if (!progress.committed) void telemetry?.finish("install_failed");
  });
  const consent = await resolveConsent(env, options);
  telemetry = new Telemetry({
    // A dry run writes nothing, so it creates no id and sends nothing either.
    enabled: consent.enabled && !options.dryRun,
    endpoint: telemetryEndpoint(env),
    debug: isTruthy(env.RUNMAT_TELEMETRY_DEBUG),
    runmatHome: options.runmatHome,
    facts: {
      os: "unknown",
      arch: "unknown",
      platform: "unknown",
      release: "unknown",
      method: options.method,
    },
    notice: (text) => ui.notice(text),
    print: (text) => ui.raw(text),
    caFile: options.caFile,
    verbose: (message) => ui.debug(message),
    env,
  });
  // DNS, TCP and TLS to the endpoint now, beside the release lookup.
  telemetry.connect();
  ui.debug(`telemetry ${consent.reason}`);
  try {
    const summary = await install(options, {
      probes,
      observer: observe(ui, telemetry, progress),
      signal: interrupt.signal,
      env,
      release,
    });
    reportInstall(summary, ui);
    await telemetry.finish("install_complete");
    if (ui.mode === "json") ui.json(summary.outcome);
    return 0;
  } catch (thrown) {
    const error = toInstallError(interrupt.signal.aborted ? (interrupt.signal.reason ?? thrown) : thrown);
    const code = reportFailure(ui, error);
    await telemetry.finish("install_failed");
    return code;
  } finally {
    interrupt.settle();
  }
}

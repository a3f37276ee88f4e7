// Entry point: parses the command line and runs one command, returning its exit code.

import { realpathSync } from "node:fs";
import { toInstallError } from "../errors.js";
import type { CommonOptions } from "../options.js";
import { consentFromEnvironment } from "../telemetry/consent.js";
import { idPath } from "../telemetry/id.js";
import {
  persistDisabled,
  removePersistedSetting,
  resolveConsent,
  settingsPath,
  telemetryEndpoint,
} from "../telemetry/settings.js";
import { type CliContext, parseCommandLine } from "./args.js";
import { reportFailure, Ui } from "./ui.js";

/** Where RunMat's runtime documents its own telemetry, which this installer does not control. */
const RUNTIME_TELEMETRY_DOCS = "https://github.com/runmat-org/runmat/blob/main/docs/development/telemetry.md";

/** Synchronous and cheap: a dynamic import() costs every start a few milliseconds. */
function runningAsBinary(): boolean {
  return process.getBuiltinModule("node:sea")?.isSea() ?? false;
}

async function runTelemetryCommand(
  action: "status" | "enable" | "disable",
  options: CommonOptions,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const ui = new Ui(options.output === "quiet" ? "normal" : options.output, env);
  if (action === "disable") {
    await persistDisabled(options.runmatHome);
    ui.result(
      [
        `runmat-install's telemetry is disabled; saved in ${settingsPath(options.runmatHome)}.`,
        `The anonymous id ${idPath(options.runmatHome)} is kept: RunMat's own telemetry uses it too (\`uninstall --purge\` removes it).`,
        `RunMat itself has its own switch: [runtime.telemetry] enabled = false in runmat.toml (${RUNTIME_TELEMETRY_DOCS}).`,
      ].join("\n"),
    );
    return 0;
  }
  if (action === "enable") {
    await removePersistedSetting(options.runmatHome);
    const stillOff = consentFromEnvironment(env, options.telemetryFlag);
    ui.result(
      stillOff
        ? `Persisted setting removed, but telemetry is still ${stillOff.reason}.`
        : "Telemetry enabled (the default): install events will be sent.",
    );
    return 0;
  }
  const consent = await resolveConsent(env, options);
  const status = {
    enabled: consent.enabled,
    reason: consent.reason,
    endpoint: telemetryEndpoint(env),
    idPath: idPath(options.runmatHome),
  };
  if (ui.mode === "json") ui.json(status);
  else ui.result(`${consent.reason}\nendpoint: ${status.endpoint}\nid file:  ${status.idPath}`);
  return 0;
}

/**
 * Exits explicitly (idle keep-alive sockets must not hold the process open), but only once
 * stdout and stderr have drained: a pipe must receive the whole --json document.
 */
export async function exitWhenFlushed(code: number): Promise<never> {
  await Promise.all(
    [process.stdout, process.stderr].map((stream) => new Promise((done) => stream.write("", done))),
  );
  process.exit(code);
}

/**
 * The script node runs, links resolved: `npm install -g` starts us through a link in its bin
 * directory, and only the link's target says node_modules (the npm method).
 */
function entryPoint(script: string | undefined): string {
  if (!script) return "";
  try {
    return realpathSync(script);
  } catch {
    return script;
  }
}

/**
 * A reader that went away (`… | head -1`) is not a failure of the install: what it no longer
 * reads is dropped, and the run ends with its own exit code, not a stack trace.
 */
function ignoreClosedOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE") throw error;
    });
  }
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  ignoreClosedOutput();
  const context: CliContext = {
    env,
    platform: process.platform,
    runningAsBinary: runningAsBinary(),
    entryPoint: entryPoint(process.argv[1]),
    write: (text) => process.stdout.write(text),
    writeError: (text) => process.stderr.write(text),
    columns: process.stdout.columns,
  };
  // --json promises one JSON document on stdout, a usage error's too.
  const asked = argv.includes("--json") ? "json" : "normal";
  let invocation: Awaited<ReturnType<typeof parseCommandLine>>;
  try {
    invocation = await parseCommandLine(argv, context);
  } catch (error) {
    return reportFailure(new Ui(asked, env), toInstallError(error));
  }
  try {
    switch (invocation.command) {
      case "exit":
        // commander has said what was wrong on stderr; under --json stdout says it as well.
        if (invocation.usage !== undefined && asked === "json") {
          new Ui("json", env).json({
            ok: false,
            error: { code: "usage", exitCode: invocation.code, message: invocation.usage },
          });
        }
        return invocation.code;
      // The commands load when they run: --help and a usage error need none of their modules
      // (nor Node's crypto, TLS and child processes, which they load).
      case "install":
        return await (await import("./install-command.js")).runInstall(invocation.options, env);
      case "telemetry":
        return await runTelemetryCommand(invocation.action, invocation.options, env);
      case "status":
        return await (await import("./lifecycle.js")).runStatus(invocation.options, invocation.offline, env);
      case "update":
        return await (await import("./lifecycle.js")).runUpdate(invocation.options, invocation.check, env);
      case "uninstall":
        return await (await import("./lifecycle.js")).runUninstall(
          invocation.options,
          invocation.yes,
          invocation.purge,
          env,
        );
    }
  } catch (error) {
    const output = "options" in invocation ? invocation.options.output : "normal";
    return reportFailure(new Ui(output, env), toInstallError(error));
  }
}

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type CliContext, parseCommandLine } from "../../src/cli/args.js";

function context(env: Record<string, string>, entryPoint: string, runningAsBinary = false): CliContext {
  return {
    env: { HOME: "/home/u", ...env },
    platform: "linux",
    runningAsBinary,
    entryPoint,
    write: () => {},
    writeError: () => {},
  };
}

async function methodOf(ctx: CliContext, args: string[] = []): Promise<string> {
  const invocation = await parseCommandLine(["--dry-run", ...args], ctx);
  assert.equal(invocation.command, "install");
  return invocation.command === "install" ? invocation.options.method : "";
}

describe("the method telemetry reports", () => {
  it("is npx when npx or npm exec started us", async () => {
    const npxCache = "/home/u/.npm/_npx/1a2b/node_modules/runmat-install/bin/runmat-install.js";
    assert.equal(await methodOf(context({ npm_command: "exec" }, npxCache)), "npx");
  });

  it("is npm for an installed package run directly, source for a checkout, binary for the SEA", async () => {
    assert.equal(
      await methodOf(context({}, "/usr/lib/node_modules/runmat-install/bin/runmat-install.js")),
      "npm",
    );
    assert.equal(await methodOf(context({}, "/home/u/src/runmat-install/bin/runmat-install.js")), "source");
    assert.equal(await methodOf(context({}, "/home/u/bin/runmat-install", true)), "binary");
  });

  it("is what a bootstrapper says, and only a known method", async () => {
    assert.equal(await methodOf(context({ npm_command: "exec" }, "x"), ["--method", "shell"]), "shell");
    assert.equal(await methodOf(context({ RUNMAT_INSTALL_METHOD: "powershell" }, "x")), "powershell");
    await assert.rejects(
      methodOf(context({ RUNMAT_INSTALL_METHOD: "bogus" }, "x")),
      /Unknown install method/,
    );
  });
});

describe("--help fits the terminal", () => {
  for (const columns of [80, 40]) {
    it(`at ${columns} columns no line is wider, except a single word that cannot break`, async () => {
      let help = "";
      const ctx = { ...context({}, "x"), columns, write: (text: string) => (help += text) };
      const invocation = await parseCommandLine(["--help"], ctx);
      assert.deepEqual(invocation, { command: "exit", code: 0 });
      const wide = help.split("\n").filter((line) => line.length > columns && /\S\s+\S/.test(line.trim()));
      // commander wraps its own columns; the epilogue (environment, exit codes, examples) is ours.
      const ours = help.slice(help.indexOf("Environment:"));
      assert.deepEqual(
        wide.filter((line) => ours.includes(line)),
        [],
      );
    });
  }
});

// The Node.js floor, tested on official Node.js builds from the npm registry: an older Node.js
// gets one clear error and a hint (not "File is not defined … report it as a bug"), and the
// oldest supported one really installs.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { nodeBinary, SEA_TARGETS } from "../../scripts/build-binaries.js";
import { NODE_FLOOR } from "../../src/contract.js";
import { ReleaseServer } from "../fixtures/release-server.js";
import { CLI, cleanHome, makeHome, ROOT, runInstaller } from "../fixtures/run.js";
import { publishRelease, serverArgs } from "../fixtures/world.js";

const linuxX64 = SEA_TARGETS.find((target) => target.id === "linux-x64")!;
const OLD = "18.20.8";
const FLOOR = `${NODE_FLOOR.major}.${NODE_FLOOR.minor}.0`;

let server: ReleaseServer;
let home: string;
before(async () => {
  server = await new ReleaseServer().start();
  home = await makeHome("node-floor");
});
after(async () => {
  await server.stop();
  await cleanHome(home);
});

describe("the Node.js floor", () => {
  it("package.json's engines states the contract's floor", () => {
    const engines = JSON.parse(readFileSync(`${ROOT}/package.json`, "utf8")).engines.node;
    assert.equal(engines, `>=${NODE_FLOOR.major}.${NODE_FLOOR.minor}`);
  });

  it(`Node.js ${OLD} gets one error line naming what is needed, a hint with the one-liner, and exit 5`, async () => {
    const node = await nodeBinary(linuxX64, OLD);
    const run = await runInstaller(home, ["--help"], { command: [node, CLI] });
    assert.equal(run.code, 5, run.stderr);
    const lines = run.stderr.trim().split("\n");
    assert.equal(lines.length, 2, run.stderr);
    assert.equal(lines[0], `error: runmat-install needs Node.js 20.18 or newer, and this is Node.js ${OLD}.`);
    assert.match(lines[1], /^ {2}hint: .*curl -fsSL https:\/\/runmat\.org\/install\.sh \| sh/);
    assert.equal(run.stdout, "");
  });

  it(`Node.js ${FLOOR}, the oldest supported, installs`, async () => {
    const node = await nodeBinary(linuxX64, FLOOR);
    publishRelease(server, "v0.6.1");
    const run = await runInstaller(home, serverArgs(server), { command: [node, CLI] });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Installed RunMat v0\.6\.1/);
  });
});

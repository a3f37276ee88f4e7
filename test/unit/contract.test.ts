// The contract is stated once (src/contract.ts); every other place that needs a fact renders
// or imports it. These checks fail when a copy drifts.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { type Bootstrapper, currentBlock, renderBlock } from "../../scripts/render-contract.js";
import {
  doNotTrack,
  type ErrorKind,
  EXIT_CODES,
  isFalsy,
  isTruthy,
  PLATFORM_ROWS,
  SUPPORTED_PLATFORMS,
} from "../../src/contract.js";
import { requireTool } from "../fixtures/system-tools.js";

const sortedKinds = Object.keys(EXIT_CODES) as ErrorKind[];

const read = (name: string) => readFileSync(new URL(`../../${name}`, import.meta.url), "utf8");

describe("contract", () => {
  for (const kind of ["install.sh", "install.ps1"] as Bootstrapper[]) {
    it(`${kind}'s generated block is exactly what the contract renders (npm run render:bootstrap)`, () => {
      const block = currentBlock(read(`bootstrap/${kind}`));
      assert.ok(block, `${kind} has a generated block`);
      assert.equal(block, renderBlock(kind));
    });
  }

  it("the rendered shell block defines every exit code and platform row for a real sh", () => {
    const script = `${renderBlock("install.sh")}
lower() { printf '%s' "$1" | tr '[:upper:]' '[:lower:]'; }
${sortedKinds.map((kind) => `echo "${kind}=$EXIT_${kind.toUpperCase().replace(/-/g, "_")}"`).join("\n")}
platform_row linux-arm64 && echo "row=$RELEASE_PLATFORM/$SEA_TARGET"
arch_of amd64 && echo "arch=$ARCH_NAME"
does_not_track yes && echo dnt=off
`;
    const output = execFileSync(requireTool("dash"), ["-c", script], { encoding: "utf8" });
    for (const kind of sortedKinds) assert.match(output, new RegExp(`^${kind}=${EXIT_CODES[kind]}$`, "m"));
    assert.match(output, /^row=linux-aarch64\/linux-arm64$/m);
    assert.match(output, /^arch=x86_64$/m);
    assert.match(output, /^dnt=off$/m);
  });

  it("states each platform once", () => {
    assert.equal(new Set(SUPPORTED_PLATFORMS).size, PLATFORM_ROWS.length);
    assert.equal(new Set(PLATFORM_ROWS.map((row) => `${row.os}-${row.arch}`)).size, PLATFORM_ROWS.length);
    for (const row of PLATFORM_ROWS) {
      if (row.fallback) assert.ok(SUPPORTED_PLATFORMS.includes(row.fallback), row.fallback);
    }
  });

  it("reads the environment's switches as documented", () => {
    for (const on of ["1", "true", "YES", " On "]) assert.ok(isTruthy(on), on);
    for (const off of ["", "0", "2", "enabled"]) assert.ok(!isTruthy(off), off);
    for (const off of ["0", "false", "No", "OFF"]) assert.ok(isFalsy(off), off);
    // DO_NOT_TRACK: any non-empty value but 0 or false opts out.
    for (const value of ["1", "true", "yes", "on", "anything"]) assert.ok(doNotTrack(value), value);
    for (const value of [undefined, "", " ", "0", "false", "FALSE"])
      assert.ok(!doNotTrack(value), String(value));
  });
});

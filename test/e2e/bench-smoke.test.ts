// Benchmarks measure and never gate; this only proves the harness still runs end to end.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { it } from "node:test";
import { promisify } from "node:util";
import { ROOT } from "../fixtures/run.js";

it("npm run bench -- --smoke produces every figure", async () => {
  await promisify(execFile)(process.execPath, ["--import", "tsx", join(ROOT, "bench", "run.ts"), "--smoke"], {
    cwd: ROOT,
  });
  const results = JSON.parse(await readFile(join(ROOT, "bench", "results-smoke.json"), "utf8"));
  assert.equal(results.smoke, true);
  const figures = results.rows.map((row: { figure: string }) => row.figure).join("\n");
  for (const figure of [
    ".tar.gz",
    ".zip",
    "where one .tar.gz install's time goes",
    "peak RSS",
    "telemetry cost, endpoint hanging",
    "whose attestation is verified",
    "whose release publishes none",
    "endpoint that moved",
    "time to its first line",
    "warm `install.sh --help`",
    "V8 code cache built in",
    "cold start",
    "install.sh",
    "relay",
  ]) {
    assert.ok(figures.includes(figure), figure);
  }
  for (const row of results.rows) assert.notEqual(row.value, "", row.figure);
});

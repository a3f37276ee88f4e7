import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { cleanHome, diffTrees, snapshotTree } from "../fixtures/run.js";
import { HOST_PLATFORM } from "../fixtures/world.js";
import { runCustom, World, writeReport } from "./harness.js";

const world = new World();
const SEED = 20261125;
const CUT_POINTS = 24;
/** How long after the first API request an install into a slow server still runs, roughly. */
const WINDOW_MS = 550;

/** mulberry32: a small seeded generator, so that a failing cut point can be replayed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = seeded(SEED);
const cuts = Array.from({ length: CUT_POINTS }, (_, i) => ({
  delay: Math.floor(random() * WINDOW_MS),
  signal: (i % 2 === 0 ? "SIGINT" : "SIGTERM") as NodeJS.Signals,
}));

async function profileLines(home: string): Promise<number[]> {
  const line = '. "$HOME/.runmat/env" # added by runmat-install';
  const counts: number[] = [];
  for (const name of [join("dotfiles", "bashrc"), ".profile"]) {
    const text = await readFile(join(home, name), "utf8");
    counts.push(text.split(/\r?\n/).filter((l) => l === line).length);
  }
  return counts;
}

before(() => world.start());
after(async () => {
  await world.stop();
  await writeReport("4-process", world.results);
});

describe("faults: signals at seeded random moments", () => {
  for (const [index, cut] of cuts.entries()) {
    const name = `${cut.signal} ${cut.delay} ms into the install (seed ${SEED}, cut ${index + 1}/${CUT_POINTS})`;
    it(name, () =>
      runCustom(
        world,
        {
          name,
          category: "process",
          exit: "130 (0 once committed)",
          invariants: ["exit", "state", "telemetry", "retry"],
        },
        async () => {
          await world.freshHome();
          try {
            // Spread the install over time so that the cut points land in every step.
            world.server.fault("/download/", { kind: "slow", chunks: 12, delayMs: 40 }, 1);
            const before = await snapshotTree(world.home);
            const run = await world.run({
              onSpawn: (child) => {
                const poll = setInterval(() => {
                  if (!world.server.requests.some((r) => r.path.includes("/releases/"))) return;
                  clearInterval(poll);
                  setTimeout(() => child.kill(cut.signal), cut.delay);
                }, 5);
                child.on("exit", () => clearInterval(poll));
              },
            });
            if (run.code === 0) {
              // The signal came after the install had committed: it must then be whole.
              assert.equal(world.runmatVersion(), "runmat 0.7.0");
              assert.deepEqual(world.sink.labels(), ["install_start", "install_complete"]);
            } else {
              assert.equal(run.code, 130, run.stderr);
              assert.match(run.stderr, new RegExp(`Interrupted by ${cut.signal}`));
              assert.ok(!/^\s+at /m.test(run.stderr));
              assert.deepEqual(diffTrees(before, await snapshotTree(world.home)), []);
              assert.deepEqual(world.sink.labels(), ["install_start", "install_failed"]);
              // Before the API has answered, the tag is not known yet.
              assert.ok(["v0.7.0", "unknown"].includes(String(world.sink.events[0].release)));
              assert.equal(world.sink.events[0].platform, HOST_PLATFORM);
            }
            assert.deepEqual(await world.leftovers(), []);
            world.server.clearFaults();
            const retry = await world.run({ args: undefined });
            assert.equal(retry.code, 0, retry.stderr);
            assert.equal(world.runmatVersion(), "runmat 0.7.0");
            assert.deepEqual(await profileLines(world.home), [1, 1]);
            return run.code;
          } finally {
            await cleanHome(world.home);
          }
        },
      ),
    );
  }
});

describe("faults: installers racing on one directory", () => {
  for (const racers of [2, 4]) {
    const name = `${racers} installers racing on the same directory`;
    it(name, () =>
      runCustom(
        world,
        { name, category: "process", exit: 0, invariants: ["exit", "state", "telemetry"] },
        async () => {
          await world.freshHome();
          try {
            const runs = await Promise.all(Array.from({ length: racers }, () => world.run()));
            for (const run of runs) assert.ok(run.code === 0, run.stderr);
            assert.equal(world.runmatVersion(), "runmat 0.7.0");
            const receipt = JSON.parse(
              await readFile(join(world.home, ".runmat", "install-receipt.json"), "utf8"),
            );
            assert.equal(receipt.version, "v0.7.0");
            assert.deepEqual(await profileLines(world.home), [1, 1]);
            assert.deepEqual(await world.leftovers(), []);
            const labels = world.sink.labels();
            assert.equal(labels.filter((l) => l === "install_start").length, racers);
            assert.equal(labels.filter((l) => l === "install_complete").length, racers);
            return 0;
          } finally {
            await cleanHome(world.home);
          }
        },
      ),
    );
  }
});

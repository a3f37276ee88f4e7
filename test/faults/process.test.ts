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
        async (check) => {
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
            // A signal after the install committed leaves it whole (exit 0); before, nothing changes.
            const committed = run.code === 0;
            await check("exit", () => {
              if (committed) return;
              assert.equal(run.code, 130, run.stderr);
              assert.match(run.stderr, new RegExp(`Interrupted by ${cut.signal}`));
              assert.ok(!/^\s+at /m.test(run.stderr));
            });
            await check("state", async () => {
              if (committed) assert.equal(world.runmatVersion(), "runmat 0.7.0");
              else assert.deepEqual(diffTrees(before, await snapshotTree(world.home)), []);
              assert.deepEqual(await world.leftovers(), []);
            });
            await check("telemetry", () => {
              const outcome = committed ? "install_complete" : "install_failed";
              assert.deepEqual(world.sink.labels(), ["install_start", outcome]);
              // Before the API has answered, the tag is not known yet.
              assert.ok(["v0.7.0", "unknown"].includes(String(world.sink.events[0].release)));
              assert.equal(world.sink.events[0].platform, HOST_PLATFORM);
            });
            await check("retry", async () => {
              world.server.clearFaults();
              const retry = await world.run({ args: undefined });
              assert.equal(retry.code, 0, retry.stderr);
              assert.equal(world.runmatVersion(), "runmat 0.7.0");
              assert.deepEqual(await profileLines(world.home), [1, 1]);
            });
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
        async (check) => {
          await world.freshHome();
          try {
            const runs = await Promise.all(Array.from({ length: racers }, () => world.run()));
            await check("exit", () => {
              for (const run of runs) assert.ok(run.code === 0, run.stderr);
            });
            await check("state", async () => {
              assert.equal(world.runmatVersion(), "runmat 0.7.0");
              const receipt = JSON.parse(
                await readFile(join(world.home, ".runmat", "install-receipt.json"), "utf8"),
              );
              assert.equal(receipt.version, "v0.7.0");
              assert.deepEqual(await profileLines(world.home), [1, 1]);
              assert.deepEqual(await world.leftovers(), []);
            });
            await check("telemetry", () => {
              const labels = world.sink.labels();
              assert.equal(labels.filter((l) => l === "install_start").length, racers);
              assert.equal(labels.filter((l) => l === "install_complete").length, racers);
            });
            return 0;
          } finally {
            await cleanHome(world.home);
          }
        },
      ),
    );
  }
});

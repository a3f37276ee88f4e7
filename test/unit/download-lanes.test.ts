// How a segmented download decides its number of connections, from the rates it measured: the
// policy alone, so every case is exact (the e2e test and the bench run it against paced servers).
import assert from "node:assert/strict";
import { it } from "node:test";
import { nextLaneCount } from "../../src/net/download.js";

const AUTO = { initial: 4, max: 8 };

/** Feeds `rates` (MB/s measured at each step) through the policy; returns the counts it chose. */
function walk(plan: { initial: number; max: number }, rates: number[]): number[] {
  let lanes = plan.initial;
  let previous: number | null = null;
  const chosen: number[] = [];
  for (const rate of rates) {
    const next = nextLaneCount(plan, lanes, rate, previous);
    chosen.push(next.lanes);
    lanes = next.lanes;
    if (next.settled) break;
    previous = rate;
  }
  return chosen;
}

const cases: [string, { initial: number; max: number }, number[], number[]][] = [
  ["a CDN that caps each connection: 4 → 6 → 8", AUTO, [100, 150, 200], [6, 8, 8]],
  ["one link that caps them all: 6 did not pay, back to 4", AUTO, [100, 101], [6, 4]],
  ["a rise under a fifth is noise, not a reason to stay", AUTO, [100, 119], [6, 4]],
  ["8 that does not beat 6 goes back to 6", AUTO, [100, 150, 160], [6, 8, 6]],
  ["a slower measurement never adds", AUTO, [100, 60], [6, 4]],
  ["--connections 3: nothing to decide", { initial: 3, max: 3 }, [50], [3]],
  ["a maximum of 5 is never passed", { initial: 4, max: 5 }, [100, 130, 160], [5, 5]],
];

for (const [name, plan, rates, expected] of cases) {
  it(name, () => assert.deepEqual(walk(plan, rates), expected));
}

it("never below the plan's start, never above its maximum", () => {
  for (let lanes = 4; lanes <= 8; lanes++) {
    for (const rate of [0, 1, 50, 1000]) {
      for (const previous of [null, 0, 1, 50, 1000]) {
        const next = nextLaneCount(AUTO, lanes, rate, previous);
        assert.ok(next.lanes >= 4 && next.lanes <= 8, `${lanes} ${rate} ${previous} → ${next.lanes}`);
      }
    }
  }
});

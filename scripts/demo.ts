// npm run demo: the whole system offline on loopback. A fixture release server publishes a
// small fake runmat, the relay collects telemetry (no GA credentials: it logs), and the real
// runmat-install installs into a throwaway HOME. Everything is removed afterwards.
import { execFileSync, spawn } from "node:child_process";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { TokenBucketLimiter } from "../src/relay/rate-limit.js";
import { startRelay } from "../src/relay/server.js";
import { ReleaseServer } from "../test/fixtures/release-server.js";
import { CLI, cleanHome, makeHome } from "../test/fixtures/run.js";
import { publishRelease } from "../test/fixtures/world.js";

async function main(): Promise<number> {
  const releases = await new ReleaseServer().start();
  const relayLog: string[] = [];
  const relay = await startRelay({
    port: 0,
    host: "127.0.0.1",
    config: {
      log: (line) => relayLog.push(line),
      limiter: new TokenBucketLimiter({ perSecond: 10, burst: 10 }),
    },
  });
  const home = await makeHome("demo");
  try {
    publishRelease(releases, "v0.6.1");
    const endpoint = `http://127.0.0.1:${(relay.address() as AddressInfo).port}/api/telemetry`;
    console.log(`# fixture releases: ${releases.url}   relay: ${endpoint}   HOME: ${home}\n`);
    console.log("$ runmat-install");
    const { PATH, TERM, NO_COLOR } = process.env;
    const child = spawn(process.execPath, [CLI, "--github-api", releases.url], {
      env: { PATH, TERM, NO_COLOR, HOME: home, SHELL: "/bin/bash", RUNMAT_TELEMETRY_ENDPOINT: endpoint },
      stdio: "inherit",
    });
    const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? 1)));
    if (code !== 0) return code;
    const runmat = join(home, ".local", "bin", "runmat");
    console.log(
      `\n$ ${runmat} --version\n${execFileSync(runmat, ["--version"], { encoding: "utf8" }).trim()}`,
    );
    console.log("\n# what the relay received (its service log):");
    for (const line of relayLog) console.log(line);
    return 0;
  } finally {
    relay.close();
    await releases.stop();
    await cleanHome(home);
  }
}

process.exitCode = await main();

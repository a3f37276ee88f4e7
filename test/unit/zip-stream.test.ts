// A .zip unpacked while it arrives: kept only when the central directory agrees with every
// local header; otherwise unpacked again from the file, so a local entry the central directory
// does not list (or lists under another name) never survives.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { expansionAllowance, extractArchive } from "../../src/archive/extract.js";
import { ZipStreamExtraction } from "../../src/archive/zip-stream.js";
import { fakeRunmat, type RawZipEntry, storedZip, zip } from "../fixtures/archives.js";

const work = await mkdtemp(join(tmpdir(), "zip-stream-"));
after(() => rm(work, { recursive: true, force: true }));
let runs = 0;

/** Feeds `archive` to the stream in `chunkBytes` pieces, then finishes from the file. */
async function unpack(archive: Buffer, chunkBytes: number) {
  const dir = join(work, String(runs++));
  const out = join(dir, "out");
  await mkdir(out, { recursive: true });
  const file = join(dir, "a.zip");
  await writeFile(file, archive);
  const streamed = new ZipStreamExtraction(out, expansionAllowance);
  for (let at = 0; at < archive.length; at += chunkBytes) {
    await streamed.write(Buffer.from(archive.subarray(at, at + chunkBytes)));
  }
  const result = await extractArchive(file, "zip", out, AbortSignal.timeout(60_000), undefined, streamed);
  return { out, keptStreamed: result.keptStreamed, steppedAside: streamed.steppedAside };
}

const library = Buffer.alloc(300_000, 7);

describe("zip unpacked while it arrives", () => {
  for (const chunkBytes of [1, 7, 4096, 1024 ** 2]) {
    it(`a deflated zip fed in ${chunkBytes}-byte pieces is kept, with the central directory's modes`, async () => {
      const archive = zip([
        { name: "runmat-v0.6.1/", mode: 0o040755 },
        { name: "runmat-v0.6.1/runmat", content: fakeRunmat(), mode: 0o100755 },
        { name: "runmat-v0.6.1/libx.so", content: library },
        { name: "runmat-v0.6.1/empty.txt", content: "" },
      ]);
      const { out, keptStreamed, steppedAside } = await unpack(archive, chunkBytes);
      assert.equal(steppedAside, null);
      assert.equal(keptStreamed, true);
      const dir = join(out, "runmat-v0.6.1");
      assert.deepEqual((await readdir(dir)).sort(), ["empty.txt", "libx.so", "runmat"]);
      assert.deepEqual(await readFile(join(dir, "libx.so")), library);
      assert.equal(await readFile(join(dir, "runmat"), "utf8"), fakeRunmat());
      // The same modes as unpacking from the file alone gives.
      const fromFile = join(work, `file-${runs}`);
      await mkdir(fromFile);
      await writeFile(`${fromFile}.zip`, archive);
      await extractArchive(`${fromFile}.zip`, "zip", fromFile, AbortSignal.timeout(60_000));
      for (const name of ["runmat", "libx.so", "empty.txt"]) {
        const mode = async (root: string) => (await stat(join(root, "runmat-v0.6.1", name))).mode;
        assert.equal(await mode(out), await mode(fromFile), name);
      }
    });
  }

  it("a stored zip is kept, and a file gets the mode its central record gives", async () => {
    const archive = storedZip([
      { name: "runmat", content: fakeRunmat(), mode: 0o100755 },
      { name: "libx.so", content: library, mode: 0o100640 },
    ]);
    const { out, keptStreamed } = await unpack(archive, 1000);
    assert.equal(keptStreamed, true);
    assert.equal((await stat(join(out, "runmat"))).mode & 0o777, 0o755);
    assert.equal((await stat(join(out, "libx.so"))).mode & 0o777, 0o640);
    assert.deepEqual(await readFile(join(out, "libx.so")), library);
  });

  const cases: {
    name: string;
    entries: RawZipEntry[];
    present: string[];
    absent: string[];
    aside: RegExp | null;
  }[] = [
    {
      name: "a local entry that the central directory does not list is removed",
      entries: [
        { name: "runmat", content: fakeRunmat(), mode: 0o100755 },
        { name: "libevil.so", content: "hidden", inCentral: false },
      ],
      present: ["runmat"],
      absent: ["libevil.so"],
      aside: null,
    },
    {
      name: "a central directory that names an entry otherwise: its name wins",
      entries: [
        { name: "runmat", content: fakeRunmat(), mode: 0o100755 },
        { name: "liba.so", content: "library", centralName: "libb.so" },
      ],
      present: ["runmat", "libb.so"],
      absent: ["liba.so"],
      aside: null,
    },
    {
      name: "sizes after the data (a data descriptor): unpacked from the file",
      entries: [
        { name: "runmat", content: fakeRunmat(), mode: 0o100755, dataDescriptor: true },
        { name: "liba.so", content: "library" },
      ],
      present: ["runmat", "liba.so"],
      absent: [],
      aside: /sizes follow the data/,
    },
  ];
  for (const { name, entries, present, absent, aside } of cases) {
    it(name, async () => {
      const { out, keptStreamed, steppedAside } = await unpack(storedZip(entries), 5);
      assert.equal(keptStreamed, false);
      if (aside) assert.match(String(steppedAside), aside);
      for (const file of present) assert.ok(existsSync(join(out, file)), `${file} is there`);
      for (const file of absent) assert.ok(!existsSync(join(out, file)), `${file} is gone`);
      assert.equal((await stat(join(out, "runmat"))).mode & 0o777, 0o755);
    });
  }

  it("a local name that climbs out steps aside, and the central directory's check refuses it", async () => {
    const archive = storedZip([
      { name: "runmat", content: fakeRunmat(), mode: 0o100755 },
      { name: "../escaped.so", content: "x" },
    ]);
    await assert.rejects(unpack(archive, 64), /escaped\.so/);
    assert.ok(!existsSync(join(work, "escaped.so")));
  });
});

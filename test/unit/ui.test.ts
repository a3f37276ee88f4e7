import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Ui } from "../../src/ui.js";

function fakeStream(isTTY: boolean, columns: number) {
  const written: string[] = [];
  return {
    written,
    stream: { isTTY, columns, write: (text: string) => written.push(text) } as unknown as NodeJS.WriteStream,
  };
}

describe("ui", () => {
  it("prints plain progress lines on a TTY that reports no width (no spinner that could loop)", async () => {
    const err = fakeStream(true, 0);
    const ui = new Ui("normal", {}, fakeStream(false, 0).stream, err.stream);
    const progress = await ui.progress("Downloading x");
    progress.update(512.4, 1024);
    progress.done();
    assert.equal(err.written.length, 2);
    assert.equal(err.written[0], "Downloading x...\n");
    assert.match(err.written[1], /^Downloading x 512 B \/ 1\.0 KB 50% \(\d+(\.\d)? (B|KB|MB)\/s\) done\n$/);
  });

  it("is silent under --quiet and --json except for errors and the result object", async () => {
    for (const mode of ["quiet", "json"] as const) {
      const out = fakeStream(false, 80);
      const err = fakeStream(false, 80);
      const ui = new Ui(mode, {}, out.stream, err.stream);
      ui.info("info");
      ui.notice("notice");
      ui.result("result");
      (await ui.progress("Downloading")).done();
      assert.deepEqual(out.written, []);
      assert.deepEqual(err.written, []);
    }
  });
});

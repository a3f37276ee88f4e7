import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatBytes, Ui } from "../../src/cli/ui.js";
import { printable, safeJson } from "../../src/text.js";

function fakeStream(isTTY: boolean, columns: number) {
  const written: string[] = [];
  return {
    written,
    stream: {
      isTTY,
      columns,
      write: (text: string) => written.push(text),
      // What ora moves the cursor with; each redraw starts a new line in `written`.
      cursorTo: () => written.push("\n"),
      moveCursor: () => true,
      clearLine: () => true,
      clearScreenDown: () => true,
    } as unknown as NodeJS.WriteStream,
  };
}

describe("ui", () => {
  it("prints plain progress lines on a TTY that reports no width (no spinner that could loop)", async () => {
    const err = fakeStream(true, 0);
    const ui = new Ui("normal", {}, fakeStream(false, 0).stream, err.stream);
    const progress = await ui.progress("x.tar.gz");
    progress.update(512.4, 1024);
    progress.done();
    assert.equal(err.written.length, 2);
    assert.equal(err.written[0], "Downloading x.tar.gz...\n");
    assert.match(
      err.written[1],
      /^Downloaded x\.tar\.gz 512 B in \d+\.\d s \(\d+(\.\d)? (B|KiB|MiB)\/s\)\n$/,
    );
  });

  it("uses binary units, named as such", () => {
    assert.equal(formatBytes(1023), "1023 B");
    assert.equal(formatBytes(1536), "1.5 KiB");
    assert.equal(formatBytes(19.1 * 1024 ** 2), "19.1 MiB");
  });

  it("never draws the spinner wider than the terminal, and ends with what happened", async () => {
    for (const columns of [80, 40]) {
      const err = fakeStream(true, columns);
      const ui = new Ui("normal", {}, fakeStream(false, 0).stream, err.stream);
      const progress = await ui.progress("runmat-v0.6.1-linux-x86_64-with-a-long-name.tar.gz");
      await new Promise((resolve) => setTimeout(resolve, 120));
      progress.update(20_000_000, 200_000_000);
      await new Promise((resolve) => setTimeout(resolve, 120));
      progress.update(200_000_000, 200_000_000);
      progress.done();
      const lines = err.written
        .join("")
        .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "")
        .split(/\r|\n/)
        .filter(Boolean);
      assert.ok(lines.length > 0);
      for (const line of lines)
        assert.ok([...line].length <= columns, `${[...line].length} > ${columns}: ${line}`);
      assert.match(lines.at(-1) ?? "", /Downloaded (runmat-v0\.6\.1\S* )?[\d.]+ MiB in /);
    }
  });

  it("is silent under --quiet and --json except for errors, the result object and the telemetry notice", async () => {
    for (const mode of ["quiet", "json"] as const) {
      const out = fakeStream(false, 80);
      const err = fakeStream(false, 80);
      const ui = new Ui(mode, {}, out.stream, err.stream);
      ui.info("info");
      ui.notice("notice");
      ui.result("result");
      (await ui.progress("x.tar.gz")).done();
      assert.deepEqual(out.written, []);
      // The notice is a promise made to the user: it is shown whatever the mode, on stderr.
      assert.deepEqual(err.written, ["notice\n"]);
    }
  });
});

describe("text from outside, shown", () => {
  it("escapes C0 and C1 controls and direction marks, in lines and in JSON", () => {
    assert.equal(printable("a\u001b[31mb\u009bc\u202ed"), "a\\u001b[31mb\\u009bc\\u202ed");
    const json = safeJson({ name: "x\u009b2Jy\u2066" });
    assert.equal(json, '{"name":"x\\u009b2Jy\\u2066"}');
    assert.deepEqual(JSON.parse(json), { name: "x\u009b2Jy\u2066" });
  });
});

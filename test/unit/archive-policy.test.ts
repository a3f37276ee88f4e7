import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EntryGuard } from "../../src/archive-policy.js";
import type { InstallError } from "../../src/errors.js";

const refuses = (fn: () => unknown, pattern: RegExp) =>
  assert.throws(fn, (e: InstallError) => e.kind === "integrity" && pattern.test(e.message));

describe("archive entry policy", () => {
  it("accepts ordinary files, directories and internal links", () => {
    const guard = new EntryGuard();
    assert.equal(guard.check({ name: "./runmat-1/runmat", type: "file", size: 10 }), "runmat-1/runmat");
    assert.equal(guard.check({ name: "lib/", type: "directory", size: 0 }), "lib");
    guard.check({ name: "lib/libx.so", type: "symlink", size: 0, linkTarget: "libx.so.1" });
    guard.check({ name: "lib/hard", type: "hardlink", size: 0, linkTarget: "runmat-1/runmat" });
  });

  it("refuses traversal, absolute paths, control characters and special files", () => {
    const guard = new EntryGuard();
    refuses(() => guard.check({ name: "../x", type: "file", size: 1 }), /climbs out/);
    refuses(() => guard.check({ name: "a/../../x", type: "file", size: 1 }), /climbs out/);
    refuses(() => guard.check({ name: "/etc/passwd", type: "file", size: 1 }), /absolute/);
    refuses(() => guard.check({ name: "C:\\x", type: "file", size: 1 }), /absolute/);
    refuses(() => guard.check({ name: "a\nb", type: "file", size: 1 }), /control characters/);
    refuses(() => guard.check({ name: "dev", type: "other", size: 0 }), /device/);
  });

  it("refuses links out and writes through links", () => {
    const guard = new EntryGuard();
    refuses(() => guard.check({ name: "l", type: "symlink", size: 0, linkTarget: "/etc" }), /absolute/);
    refuses(() => guard.check({ name: "l", type: "symlink", size: 0, linkTarget: "../../etc" }), /outside/);
    refuses(
      () => guard.check({ name: "h", type: "hardlink", size: 0, linkTarget: "../etc/passwd" }),
      /climbs out/,
    );
    guard.check({ name: "inner", type: "symlink", size: 0, linkTarget: "sub" });
    refuses(() => guard.check({ name: "inner/file", type: "file", size: 1 }), /through a symbolic link/);
  });

  it("caps entries and unpacked size", () => {
    const guard = new EntryGuard({ maxEntries: 2, maxTotalBytes: 100 });
    guard.check({ name: "a", type: "file", size: 50 });
    refuses(() => guard.check({ name: "b", type: "file", size: 51 }), /unpacked size/);
    const few = new EntryGuard({ maxEntries: 1, maxTotalBytes: 100 });
    few.check({ name: "a", type: "file", size: 1 });
    refuses(() => few.check({ name: "b", type: "file", size: 1 }), /more than 1 entries/);
  });
});

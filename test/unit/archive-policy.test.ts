import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { EntryGuard, MAX_DEPTH, MAX_NAME_LENGTH } from "../../src/archive/policy.js";
import type { InstallError } from "../../src/errors.js";

const refuses = (fn: () => unknown, pattern: RegExp) =>
  assert.throws(fn, (e: InstallError) => e.kind === "integrity" && pattern.test(e.message));

describe("archive entry policy", () => {
  it("accepts ordinary files and directories, normalising their names", () => {
    const guard = new EntryGuard();
    assert.equal(guard.check({ name: "./runmat-1/runmat", type: "file", size: 10 }), "runmat-1/runmat");
    assert.equal(guard.check({ name: "lib/", type: "directory", size: 0 }), "lib");
  });

  it("refuses every link, inside or out: a release holds regular files only", () => {
    const guard = new EntryGuard();
    refuses(() => guard.check({ name: "lib/libx.so", type: "symlink", size: 0 }), /is a link/);
    refuses(() => guard.check({ name: "lib/hard", type: "hardlink", size: 0 }), /is a link/);
  });

  it("refuses traversal, absolute paths, control characters and special files", () => {
    const guard = new EntryGuard();
    refuses(() => guard.check({ name: "../x", type: "file", size: 1 }), /climbs out/);
    refuses(() => guard.check({ name: "a/../../x", type: "file", size: 1 }), /climbs out/);
    refuses(() => guard.check({ name: "/etc/passwd", type: "file", size: 1 }), /absolute/);
    refuses(() => guard.check({ name: "C:\\x", type: "file", size: 1 }), /absolute/);
    refuses(() => guard.check({ name: "a\nb", type: "file", size: 1 }), /control characters/);
    // U+009B is a CSI to some terminals; U+202E turns the rest of the line around.
    refuses(() => guard.check({ name: "lib\u009b31mx.so", type: "file", size: 1 }), /control characters/);
    refuses(() => guard.check({ name: "libx\u202eos.dll", type: "file", size: 1 }), /text-direction/);
    refuses(() => guard.check({ name: "dev", type: "other", size: 0 }), /device/);
  });

  it("refuses names that are too long or too deep before looking further", () => {
    const guard = new EntryGuard();
    refuses(
      () => guard.check({ name: "a/".repeat(MAX_DEPTH + 1), type: "file", size: 1 }),
      /directories deep/,
    );
    refuses(() => guard.check({ name: "a/".repeat(40_000), type: "file", size: 1 }), /longer than/);
    assert.equal(
      guard.check({ name: "x".repeat(MAX_NAME_LENGTH), type: "file", size: 1 }).length,
      MAX_NAME_LENGTH,
    );
  });

  it("caps entries and unpacked size", () => {
    const guard = new EntryGuard({ maxEntries: 2, maxTotalBytes: 100 });
    guard.check({ name: "a", type: "file", size: 50 });
    refuses(() => guard.check({ name: "b", type: "file", size: 51 }), /unpacked size/);
    const few = new EntryGuard({ maxEntries: 1, maxTotalBytes: 100 });
    few.check({ name: "a", type: "file", size: 1 });
    refuses(() => few.check({ name: "b", type: "file", size: 1 }), /more than 1 entries/);
    refuses(
      () => new EntryGuard({ maxEntries: 10, maxTotalBytes: 1 }).checkDeclaredCount(100_000),
      /declares more than 10/,
    );
  });

  // Names made of the pieces that break lexical checks: ".", "..", empty segments, backslashes,
  // and links to "." used as path components (the chain that once climbed out).
  const segment = fc.oneof(
    fc.constantFrom(".", "..", "", "self", "l", "lib"),
    fc.stringMatching(/^[a-z.]{1,4}$/),
  );
  const name = fc
    .array(segment, { minLength: 1, maxLength: 80 })
    .chain((parts) => fc.constantFrom("/", "\\").map((separator) => parts.join(separator)));
  const entry = fc.record({
    name,
    type: fc.constantFrom("file", "directory", "symlink", "hardlink", "other") as fc.Arbitrary<
      "file" | "directory" | "symlink" | "hardlink" | "other"
    >,
    size: fc.nat({ max: 1000 }),
  });

  it("property: whatever the entries (link chains, dot segments, deep names), only plain files and directories inside pass", () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 30 }), (entries) => {
        const guard = new EntryGuard();
        for (const candidate of entries) {
          let accepted: string | null = null;
          try {
            accepted = guard.check(candidate);
          } catch (error) {
            assert.equal((error as InstallError).kind, "integrity");
            continue;
          }
          assert.ok(candidate.type === "file" || candidate.type === "directory", candidate.type);
          const parts = accepted === "" ? [] : accepted.split("/");
          assert.ok(!parts.includes("..") && !parts.includes(".") && !parts.includes(""), accepted);
          assert.ok(parts.length <= MAX_DEPTH);
          assert.ok(!accepted.startsWith("/") && !accepted.includes("\\"));
        }
      }),
      { numRuns: 2000 },
    );
  });
});

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { PAYLOAD_KEYS, TELEMETRY_EVENTS, TELEMETRY_ID_PATTERN } from "../../src/contract.js";

const VALID_ID = new RegExp(TELEMETRY_ID_PATTERN);

import { consentFromEnvironment } from "../../src/telemetry/consent.js";
import { loadOrCreateId } from "../../src/telemetry/id.js";
import { buildPayload } from "../../src/telemetry/payload.js";

const VALUE = /^[A-Za-z0-9_.-]{1,64}$/;

describe("telemetry payload", () => {
  it("property: whatever goes in, exactly the seven keys come out, each value clean", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...TELEMETRY_EVENTS),
        fc.record({
          os: fc.string({ unit: "grapheme", maxLength: 200 }),
          arch: fc.oneof(fc.constantFrom("x64", "amd64", "AMD64", "aarch64", "ARM64"), fc.string()),
          platform: fc.string({ maxLength: 500 }),
          release: fc.oneof(fc.string(), fc.constant('v0.6.1\n\u0000{}"')),
          method: fc.string(),
          __proto__: fc.string(),
          extra: fc.object(),
        }),
        fc.string({ unit: "binary", maxLength: 300 }),
        (event, facts, cid) => {
          const payload = buildPayload(event, facts, cid);
          assert.deepEqual(Object.keys(payload), [...PAYLOAD_KEYS]);
          for (const value of Object.values(payload)) assert.match(value, VALUE);
          assert.equal(payload.event_label, event);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("normalises architectures", () => {
    const facts = { os: "win32", platform: "windows-x86_64", release: "v0.6.1", method: "powershell" };
    for (const [raw, arch] of [
      ["x64", "x86_64"],
      ["AMD64", "x86_64"],
      ["aarch64", "arm64"],
      ["ARM64", "arm64"],
    ]) {
      assert.equal(buildPayload("install_start", { ...facts, arch: raw }, "abcdefgh").arch, arch);
    }
    assert.equal(buildPayload("install_start", { ...facts, arch: "x64" }, "abcdefgh").os, "windows");
  });

  it("property: whatever the id file holds, the id sent is a valid id", async () => {
    const home = await mkdtemp(join(tmpdir(), "runmat-id-"));
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.string({ unit: "binary" }),
            fc.uuid(),
            fc.stringMatching(/^[0-9]{9,11}-[0-9]{1,6}$/),
            // What the old rule let through and the contract no longer does (it can name someone).
            fc.stringMatching(/^[A-Za-z0-9-]{8,64}$/),
          ),
          async (content) => {
            await writeFile(join(home, "telemetry_id"), content);
            const id = await loadOrCreateId(home);
            assert.match(id, VALID_ID);
            if (VALID_ID.test(content.trim())) assert.equal(id, content.trim());
            else assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
          },
        ),
        { numRuns: 300 },
      );
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it("any off wins, for every spelling", () => {
    for (const value of ["1", "true", "yes", "on", "TRUE", " On "]) {
      assert.equal(consentFromEnvironment({ RUNMAT_NO_TELEMETRY: value }, true)?.enabled, false);
    }
    for (const value of ["0", "false", "no", "off", "OFF"]) {
      assert.equal(consentFromEnvironment({ RUNMAT_TELEMETRY: value }, true)?.enabled, false);
    }
    assert.equal(
      consentFromEnvironment({ DO_NOT_TRACK: "1", RUNMAT_TELEMETRY: "1" }, true)?.reason,
      "off: set by DO_NOT_TRACK",
    );
    assert.equal(consentFromEnvironment({ DO_NOT_TRACK: "0" }, true), null);
    assert.equal(consentFromEnvironment({}, false)?.reason, "off: --no-telemetry");
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { decodeSnappy, SnappyError } from "../../src/provenance/snappy.js";
import { snappyLiterals } from "../fixtures/sigstore.js";

const MAX = 1024 * 1024;

describe("decodeSnappy", () => {
  it("decodes literals and each copy form, including a copy that overlaps what it writes", () => {
    // "abc", then a 1-byte-offset copy of 9 from 3 back (a run), then a 2-byte-offset copy of 3.
    const input = Buffer.from([
      15,
      2 << 2,
      0x61,
      0x62,
      0x63,
      1 | ((9 - 4) << 2),
      3,
      2 | ((3 - 1) << 2),
      12,
      0,
    ]);
    assert.equal(decodeSnappy(input, MAX).toString(), "abcabcabcabcabc");
    // A 4-byte-offset copy.
    const far = Buffer.from([6, 2 << 2, 0x78, 0x79, 0x7a, 3 | (2 << 2), 3, 0, 0, 0]);
    assert.equal(decodeSnappy(far, MAX).toString(), "xyzxyz");
  });

  it("any bytes written as literals come back exactly", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200_000 }), (bytes) => {
        const data = Buffer.from(bytes);
        assert.deepEqual(decodeSnappy(snappyLiterals(data), MAX), data);
      }),
      { numRuns: 50 },
    );
  });

  const refused: [string, Buffer, RegExp][] = [
    [
      "a length over the bound, before allocating it",
      Buffer.from([0x80, 0x80, 0x80, 0x80, 0x04]),
      /expands to 1073741824 bytes, more than/,
    ],
    ["a length header over 5 bytes", Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), /over 5 bytes/],
    ["a length header over 32 bits", Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]), /over 32 bits|more than/],
    ["an empty input", Buffer.alloc(0), /ends inside its length header/],
    [
      "a header that says more than the stream holds",
      snappyLiterals(Buffer.from("hello"), 9),
      /holds 5 bytes where its header says 9/,
    ],
    [
      "a literal longer than the header says",
      snappyLiterals(Buffer.from("hello"), 3),
      /literal runs past the declared length/,
    ],
    [
      "a literal cut short",
      snappyLiterals(Buffer.from("hello")).subarray(0, 4),
      /literal runs past the end of the input/,
    ],
    ["a copy before anything was written", Buffer.from([8, 1, 5]), /reaches before the start/],
    ["a copy with offset 0", Buffer.from([8, 2 << 2, 0x61, 0x62, 0x63, 1, 0]), /reaches before the start/],
    [
      "a copy past the declared length",
      Buffer.from([4, 2 << 2, 0x61, 0x62, 0x63, 1 | (5 << 2), 3]),
      /copy runs past the declared length/,
    ],
    [
      "a copy whose offset is cut off",
      Buffer.from([8, 2 << 2, 0x61, 0x62, 0x63, (2 << 2) | 2, 3]),
      /ends inside an element/,
    ],
  ];
  for (const [name, input, said] of refused) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => decodeSnappy(input, MAX),
        (error: Error) => error instanceof SnappyError && said.test(error.message),
      );
    });
  }

  it("any prefix of a valid stream, and any random bytes, decode or fail with a SnappyError, never past the bound", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 2000 }), fc.nat(), (bytes, cut) => {
        const valid = snappyLiterals(Buffer.from(bytes));
        for (const input of [valid.subarray(0, cut % valid.length), Buffer.from(bytes)]) {
          try {
            assert.ok(decodeSnappy(input, 4096).length <= 4096);
          } catch (error) {
            assert.ok(error instanceof SnappyError, String(error));
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

// The telemetry connection reads its endpoint's answers only for their status and Location (to
// follow a moved endpoint): pipelined, chunked, interim and partial answers, table by table.
import assert from "node:assert/strict";
import { it } from "node:test";
import { readAnswers } from "../../src/telemetry/connection.js";

const ok = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}';
const moved =
  "HTTP/1.1 308 Permanent Redirect\r\nLocation: https://runmat.com/api/telemetry\r\nContent-Length: 0\r\n\r\n";

const CASES: [string, string, { answers: { status: number; location?: string }[]; rest: string }][] = [
  ["one answer", ok, { answers: [{ status: 200 }], rest: "" }],
  [
    "two pipelined answers",
    moved + ok,
    { answers: [{ status: 308, location: "https://runmat.com/api/telemetry" }, { status: 200 }], rest: "" },
  ],
  [
    "a head not yet complete",
    "HTTP/1.1 200 OK\r\nContent-Le",
    { answers: [], rest: "HTTP/1.1 200 OK\r\nContent-Le" },
  ],
  ["a body not yet complete", ok.slice(0, -3), { answers: [], rest: ok.slice(0, -3) }],
  [
    "a chunked body, then another answer",
    `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"ok\r\n7\r\n":true}\r\n0\r\n\r\n${moved}`,
    { answers: [{ status: 200 }, { status: 308, location: "https://runmat.com/api/telemetry" }], rest: "" },
  ],
  [
    "100 Continue is not an answer",
    `HTTP/1.1 100 Continue\r\n\r\n${ok}`,
    { answers: [{ status: 200 }], rest: "" },
  ],
  [
    "a body that runs to the close",
    "HTTP/1.0 200 OK\r\n\r\nwhatever",
    { answers: [{ status: 200 }], rest: "" },
  ],
  ["not HTTP at all", "garbage\r\n\r\n", { answers: [], rest: "" }],
];

for (const [name, input, expected] of CASES) {
  it(`readAnswers: ${name}`, () => {
    assert.deepEqual(readAnswers(input), {
      ...expected,
      answers: expected.answers.map((answer) => ({ location: undefined, ...answer })),
    });
  });
}

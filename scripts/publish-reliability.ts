// npm run docs:reliability — publishes the fault matrix's report. The suite writes it to
// dist/RELIABILITY.md on every run (npm test never touches tracked files); this copies the
// latest full run's report to docs/RELIABILITY.md, to commit on purpose.
import { copyFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const files = await readdir(join(ROOT, "dist", "faults")).catch(() => [] as string[]);
if (files.length === 0) {
  console.error("No fault-matrix results in dist/faults: run `npm run test:faults` first.");
  process.exit(1);
}
await copyFile(join(ROOT, "dist", "RELIABILITY.md"), join(ROOT, "docs", "RELIABILITY.md"));
console.log(`docs/RELIABILITY.md published from ${files.length} result files: ${files.join(", ")}`);

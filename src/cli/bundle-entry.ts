// Entry point of the single-file bundle (dist/runmat-install.cjs) and of the SEA binaries.
import { exitWhenFlushed, main } from "./main.js";

void main(process.argv.slice(2)).then(exitWhenFlushed);

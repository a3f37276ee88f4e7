// The first thing the npm entry point runs. It imports only the contract (plain data), so it
// loads on any Node.js and can say what is needed before anything that needs a newer Node.js
// (undici uses globals Node 18 lacks) is loaded.
import { EXIT_CODES, NODE_FLOOR, nodeIsRecent } from "../contract.js";

/** Exits with a clear error and hint when this Node.js is older than the floor. */
export function requireRecentNode(version: string = process.versions.node): void {
  if (nodeIsRecent(version)) return;
  process.stderr.write(
    `error: runmat-install needs Node.js ${NODE_FLOOR.major}.${NODE_FLOOR.minor} or newer, and this is Node.js ${version}.\n` +
      "  hint: Update Node.js (https://nodejs.org), or install RunMat without Node.js: curl -fsSL https://runmat.org/install.sh | sh (Windows: iwr https://runmat.org/install.ps1 | iex)\n",
  );
  process.exit(EXIT_CODES.platform);
}

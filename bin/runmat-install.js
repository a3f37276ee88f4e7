#!/usr/bin/env node
// The npm entry point. The TypeScript sources are compiled to dist/ by `npm run build`
// (run by `prepare` on install and before publishing).
import { main } from "../dist/src/main.js";

// Exit explicitly: idle keep-alive sockets must not hold the process open.
process.exit(await main(process.argv.slice(2)));

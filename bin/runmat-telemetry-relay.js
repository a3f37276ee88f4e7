#!/usr/bin/env node
// The telemetry relay as a Node server. See README "Telemetry relay" for its environment.
import { runRelayFromEnv } from "../dist/src/relay/server.js";

await runRelayFromEnv(process.env);

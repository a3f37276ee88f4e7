// npm run setup:test-machine — installs every program the tests drive for real, from the
// registries this project's machines reach (Debian's packages, NuGet through dotnet), reading
// the one list in test/fixtures/system-tools.ts. Needs root for apt-get; does nothing that is
// already there.
import { execFileSync } from "node:child_process";
import { installHint, locate, SYSTEM_TOOLS } from "../test/fixtures/system-tools.js";

const missing = SYSTEM_TOOLS.filter((tool) => !locate(tool));
const debian = [...new Set(missing.flatMap((tool) => ("debian" in tool.from ? [tool.from.debian] : [])))];
if (debian.length > 0) {
  console.log(`apt-get install ${debian.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
  execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...debian], {
    stdio: ["ignore", "ignore", "inherit"],
    env,
  });
}
for (const tool of missing) {
  if ("dotnetTool" in tool.from) {
    console.log(`dotnet tool install ${tool.from.dotnetTool} ${tool.from.version}`);
    execFileSync(
      "dotnet",
      ["tool", "update", "--global", tool.from.dotnetTool, "--version", tool.from.version],
      {
        stdio: ["ignore", "ignore", "inherit"],
        env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: "1", DOTNET_NOLOGO: "1" },
      },
    );
  }
}
const still = SYSTEM_TOOLS.filter((tool) => !locate(tool));
if (still.length > 0) {
  for (const tool of still) console.error(`still missing: ${tool.command}: ${installHint(tool)}`);
  process.exit(1);
}
console.log(`all ${SYSTEM_TOOLS.length} test tools present`);

// npm run setup:test-machine — installs every program the tests drive for real, from the
// registries this project's machines reach (Debian's packages, NuGet through dotnet), reading
// the one list in test/fixtures/system-tools.ts. apt-get runs as root, through `sudo -n` for a
// user with passwordless sudo (GitHub's runners); PowerShell installs as the user's own .NET
// tool. Does nothing that is already there.
import { execFileSync } from "node:child_process";
import { asRoot } from "../test/fixtures/privilege.js";
import { installHint, locate, SYSTEM_TOOLS } from "../test/fixtures/system-tools.js";

const missing = SYSTEM_TOOLS.filter((tool) => !locate(tool));
const debian = [...new Set(missing.flatMap((tool) => ("debian" in tool.from ? [tool.from.debian] : [])))];
if (debian.length > 0) {
  console.log(`apt-get install ${debian.join(" ")}`);
  let update: string[];
  try {
    update = asRoot(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "update", "-qq"], "apt-get");
  } catch (error) {
    console.error(`setup:test-machine: error: ${(error as Error).message}`);
    process.exit(1);
  }
  const install = asRoot(
    [
      "env",
      "DEBIAN_FRONTEND=noninteractive",
      "apt-get",
      "install",
      "-y",
      "-qq",
      "--no-install-recommends",
      ...debian,
    ],
    "apt-get",
  );
  execFileSync(update[0], update.slice(1), { stdio: "inherit" });
  execFileSync(install[0], install.slice(1), { stdio: ["ignore", "ignore", "inherit"] });
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

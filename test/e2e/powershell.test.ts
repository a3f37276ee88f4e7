// install.ps1 for real: PowerShell 7 runs it in a real terminal (script(1) gives it a pty, as a
// console window would), it downloads the real dist/release files from a loopback fixture, and
// the real win-x64 binary it starts runs under Wine through binfmt_misc, exactly as `& $exe`
// starts it. What this cannot show (Windows PowerShell 5.1, the binary's own network path,
// WM_SETTINGCHANGE) runs in the release workflow's windows-latest job instead.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import AdmZip from "adm-zip";
import { PAYLOAD_KEYS } from "../../src/contract.js";
import { VERSION } from "../../src/version.js";
import { RELEASE_DIR, seaBinary, serveInstallerRelease } from "../fixtures/binaries.js";
import { findPwsh, PWSH_QUIET } from "../fixtures/powershell.js";
import { ReleaseServer, TelemetrySink } from "../fixtures/release-server.js";
import { cleanHome, type Env, makeHome, ROOT } from "../fixtures/run.js";
import { requireTool } from "../fixtures/system-tools.js";
import { registerWineForExe, WINE, WINESERVER, windowsPath } from "../fixtures/wine.js";

const run = promisify(execFile);
const SCRIPT = join(ROOT, "bootstrap", "install.ps1");
const EXE_GZ = "runmat-install-win-x64.exe.gz";

type Form = "file" | "scriptblock" | "iex";

interface PwshRun {
  code: number;
  /** What the terminal showed, escape sequences removed. */
  output: string;
}

const psQuote = (value: string) => `'${value.replace(/'/g, "''")}'`;
const shQuote = (value: string) => `'${value.replace(/'/g, "'\\''")}'`;

let pwsh: string;
let server: ReleaseServer;
let sink: TelemetrySink;
let work: string;
let prefix: string;
let installerUrl: string;
let unregisterWine: () => Promise<void>;

/**
 * Runs install.ps1 the way users do, in a pty: as a file, as a script block with arguments
 * (`& ([scriptblock]::Create((iwr …))) --dir …`), or piped into Invoke-Expression (`iwr … | iex`,
 * which takes no arguments and must leave the session open).
 */
async function runInstallPs1(
  form: Form,
  home: string,
  args: string[],
  env: Env = {},
  /** What the user's session (a profile) set before running the one-liner. */
  session = "",
): Promise<PwshRun> {
  const wrapper = join(home, `run-${form}.ps1`);
  const passed = args.map(psQuote).join(" ");
  const scripts: Record<Form, string> = {
    file: `& ${psQuote(SCRIPT)} ${passed}\nexit $LASTEXITCODE\n`,
    scriptblock: `& ([scriptblock]::Create((Get-Content -Raw -LiteralPath ${psQuote(SCRIPT)}))) ${passed}\nexit $LASTEXITCODE\n`,
    iex: `Get-Content -Raw -LiteralPath ${psQuote(SCRIPT)} | Invoke-Expression\n"session still open (exit code $LASTEXITCODE)"\nexit $LASTEXITCODE\n`,
  };
  assert.ok(form !== "iex" || args.length === 0, "iwr | iex passes no arguments");
  await writeFile(wrapper, `${session}\n${scripts[form]}`);
  const command = [pwsh, "-NoProfile", "-NonInteractive", "-File", wrapper].map(shQuote).join(" ");
  const environment: Record<string, string> = {
    PATH: `${dirname(pwsh)}:/usr/bin:/bin`,
    HOME: home,
    USERPROFILE: home,
    PROCESSOR_ARCHITECTURE: "AMD64",
    RUNMAT_INSTALLER_URL: installerUrl,
    RUNMAT_TELEMETRY_ENDPOINT: sink.url,
    WINEPREFIX: prefix,
    WINEDEBUG: "-all",
    NODE_SKIP_PLATFORM_CHECK: "1",
    TERM: "dumb",
    ...PWSH_QUIET,
  };
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete environment[key];
    else environment[key] = value;
  }
  // Under Wine, the binary's stdout must be a terminal or a file: script(1) provides the terminal.
  const result = await run("script", ["-qec", command, "/dev/null"], { env: environment }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
  );
  const output = result.stdout
    .replace(/\x1b\][^\x07]*\x07/g, "")
    .replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]/g, "")
    .replace(/\r/g, "");
  return { code: result.code, output };
}

/** Output lines from install.ps1 itself, not from the installer it starts. */
function assertOneErrorWithHint(output: string, message: RegExp): void {
  const lines = output.split("\n");
  const errors = lines.filter((line) => line.startsWith("runmat-install: error: "));
  assert.equal(errors.length, 1, output);
  assert.match(errors[0], message);
  const at = lines.indexOf(errors[0]);
  assert.match(lines[at + 1] ?? "", /^ {2}hint: \S/, output);
  assert.ok(!/^\s+at /m.test(output), "no stack trace");
}

function assertEarlyEvents(expected: { arch: string; platform: string; cid?: string }): void {
  assert.deepEqual(sink.labels(), ["install_start", "install_failed"]);
  for (const event of sink.events) {
    assert.deepEqual(Object.keys(event), [...PAYLOAD_KEYS]);
    assert.equal(event.os, "windows");
    assert.equal(event.arch, expected.arch);
    assert.equal(event.platform, expected.platform);
    assert.equal(event.release, "unknown");
    assert.equal(event.method, "powershell");
    if (expected.cid) assert.equal(event.cid, expected.cid);
    else assert.match(String(event.cid), /^[0-9a-f]{8}-[0-9a-f]{4}-/);
  }
  assert.equal(sink.events[0].cid, sink.events[1].cid);
}

/** Serves the installer release under /<name>/ with some files replaced (null: absent). */
async function serveVariant(
  name: string,
  replace: Record<string, Buffer | null>,
  sums: "original" | "recomputed",
): Promise<string> {
  const files = new Map<string, Buffer>();
  for (const file of ["SHA256SUMS", "VERSION", EXE_GZ])
    files.set(file, await readFile(join(RELEASE_DIR, file)));
  for (const [file, data] of Object.entries(replace)) {
    if (data === null) files.delete(file);
    else files.set(file, data);
  }
  if (sums === "recomputed") {
    const lines = [...files]
      .filter(([file]) => file !== "SHA256SUMS")
      .map(([file, data]) => `${createHash("sha256").update(data).digest("hex")}  ${file}`);
    files.set("SHA256SUMS", Buffer.from(`${lines.join("\n")}\n`));
  }
  for (const [file, data] of files) server.files.set(`/${name}/${file}`, data);
  return `${server.url}/${name}`;
}

async function registryPath(): Promise<string> {
  const out = join(work, "reg.txt");
  await run("sh", ["-c", `${WINE} reg query 'HKCU\\Environment' /v Path >${shQuote(out)} 2>&1`], {
    env: { ...process.env, WINEPREFIX: prefix, WINEDEBUG: "-all" },
  });
  return readFile(out, "utf8");
}

before(async () => {
  requireTool("script");
  pwsh = findPwsh();
  unregisterWine = await registerWineForExe();
  server = await new ReleaseServer().start();
  sink = await new TelemetrySink().start();
  installerUrl = await serveInstallerRelease(server);
  work = await mkdtemp(join(tmpdir(), "runmat-pwsh-"));
  prefix = join(work, "prefix");
  await mkdir(prefix);
});
after(async () => {
  await run(WINESERVER, ["-k"], { env: { ...process.env, WINEPREFIX: prefix } }).catch(() => {});
  await unregisterWine?.();
  await server?.stop();
  await sink?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("install.ps1 under PowerShell 7, the binary under Wine", () => {
  let home: string;
  let zip: string;
  before(async () => {
    home = await makeHome("pwsh");
    // Any Windows program that prints the version can stand in for runmat.exe; the installer's
    // own binary prints its version for --version, so the archive is named for that version.
    const archive = new AdmZip();
    archive.addFile("runmat.exe", await readFile(seaBinary("runmat-install-win-x64.exe")));
    zip = join(work, `runmat-v${VERSION}-windows-x86_64.zip`);
    archive.writeZip(zip);
    server.requests.length = 0;
    sink.reset();
  });
  after(() => cleanHome(home));

  it("script block with arguments: download, verify, cache, start the binary with --method powershell; RunMat lands in the Wine prefix and on the user Path", async () => {
    const result = await runInstallPs1("scriptblock", home, [
      "--archive",
      windowsPath(zip),
      "--no-telemetry",
    ]);
    assert.equal(result.code, 0, result.output);
    assert.match(
      result.output,
      /Installed RunMat v\d+\.\d+\.\d+ to C:\\users\\[^\\]+\\\.runmat\\bin\\runmat\.exe/,
    );
    const cache = join(home, ".runmat", "installer", VERSION);
    assert.ok(existsSync(join(cache, EXE_GZ)), "the verified download is cached by version");
    assert.ok(existsSync(join(cache, "runmat-install-win-x64.exe")));
    assert.ok(existsSync(join(cache, "SHA256SUMS")));
    const users = join(prefix, "drive_c", "users", process.env.USER ?? "root");
    assert.ok(existsSync(join(users, ".runmat", "bin", "runmat.exe")), result.output);
    const receipt = JSON.parse(await readFile(join(users, ".runmat", "install-receipt.json"), "utf8"));
    assert.equal(receipt.method, "powershell", "the bootstrapper's --method reached the installer");
    assert.match(await registryPath(), /Path\s+REG_EXPAND_SZ\s+C:\\users\\[^\\]+\\\.runmat\\bin/);
    const downloads = server.requests.filter((r) => r.path.endsWith(`/${EXE_GZ}`));
    assert.equal(downloads.length, 1);
  });

  it("as a file: the cached binary is reused, and the installer's exit code passes through unchanged", async () => {
    const result = await runInstallPs1("file", home, ["--no-such-option"]);
    assert.equal(result.code, 2, result.output);
    assert.match(result.output, /unknown option '--no-such-option'/);
    assert.equal(
      server.requests.filter((r) => r.path.endsWith(`/${EXE_GZ}`)).length,
      1,
      "not downloaded again",
    );
    assert.deepEqual(sink.labels(), [], "the installer's own failure is not an early failure");
  });

  it("iwr | iex: settings come from the environment, the exit code lands in $LASTEXITCODE, and the session stays open", async () => {
    const result = await runInstallPs1("iex", home, [], { RUNMAT_VERSION: "not-a-version" });
    assert.match(result.output, /"not-a-version" is not a version/);
    assert.match(result.output, /session still open \(exit code 2\)/);
    assert.equal(result.code, 2);
  });
});

describe("install.ps1 early failures: one error line and a hint, the documented exit code, [install_start, install_failed]", () => {
  let home: string;
  const fresh = async () => {
    if (home) await cleanHome(home);
    home = await makeHome("pwsh-early");
    sink.reset();
  };
  after(async () => {
    if (home) await cleanHome(home);
  });

  it("checksum mismatch (exit 4), under iex as well", async () => {
    await fresh();
    const url = await serveVariant(
      "tampered",
      { [EXE_GZ]: gzipSync(Buffer.from("MZ not the installer")) },
      "original",
    );
    const result = await runInstallPs1("iex", home, [], { RUNMAT_INSTALLER_URL: url });
    assert.equal(result.code, 4, result.output);
    assertOneErrorWithHint(result.output, /checksum mismatch for runmat-install-win-x64\.exe\.gz/);
    assert.match(result.output, /session still open \(exit code 4\)/);
    assert.match(result.output, /sending anonymous install_start and install_failed events/);
    assertEarlyEvents({ arch: "x86_64", platform: "windows-x86_64" });
    assert.equal(
      existsSync(join(home, ".runmat", "installer", VERSION, EXE_GZ)),
      false,
      "a bad download is not kept",
    );
  });

  it("missing asset (exit 3)", async () => {
    await fresh();
    const url = await serveVariant("missing", { [EXE_GZ]: null }, "original");
    const result = await runInstallPs1("file", home, [], { RUNMAT_INSTALLER_URL: url });
    assert.equal(result.code, 3, result.output);
    assertOneErrorWithHint(result.output, /could not download .*runmat-install-win-x64\.exe\.gz/);
    assertEarlyEvents({ arch: "x86_64", platform: "windows-x86_64" });
  });

  it("unreachable URL (exit 3)", async () => {
    await fresh();
    const result = await runInstallPs1("scriptblock", home, ["--dir", "C:\\tools"], {
      RUNMAT_INSTALLER_URL: "http://127.0.0.1:9/installer",
    });
    assert.equal(result.code, 3, result.output);
    assertOneErrorWithHint(
      result.output,
      /could not download http:\/\/127\.0\.0\.1:9\/installer\/SHA256SUMS/,
    );
    assertEarlyEvents({ arch: "x86_64", platform: "windows-x86_64" });
  });

  it("unsupported architecture (exit 5), from PROCESSOR_ARCHITECTURE", async () => {
    await fresh();
    const result = await runInstallPs1("file", home, [], { PROCESSOR_ARCHITECTURE: "x86" });
    assert.equal(result.code, 5, result.output);
    assertOneErrorWithHint(result.output, /no prebuilt binary for x86 Windows/);
    assertEarlyEvents({ arch: "x86", platform: "unknown" });
  });

  it("PROCESSOR_ARCHITEW6432 wins over a 32-bit PowerShell's PROCESSOR_ARCHITECTURE (ARM64 runs the x64 installer)", async () => {
    await fresh();
    const url = await serveVariant(
      "tampered-arm",
      { [EXE_GZ]: gzipSync(Buffer.from("MZ tampered")) },
      "original",
    );
    const result = await runInstallPs1("file", home, [], {
      RUNMAT_INSTALLER_URL: url,
      PROCESSOR_ARCHITECTURE: "x86",
      PROCESSOR_ARCHITEW6432: "ARM64",
    });
    assert.equal(result.code, 4, result.output);
    assert.match(result.output, /ARM64 Windows detected/);
    assertEarlyEvents({ arch: "arm64", platform: "windows-aarch64" });
  });

  it("a corrupt gzip with a matching checksum (exit 4): the damaged cache entry is removed", async () => {
    await fresh();
    const url = await serveVariant(
      "corrupt",
      { [EXE_GZ]: Buffer.from("\x1f\x8b\x08 this is not deflate data") },
      "recomputed",
    );
    const result = await runInstallPs1("file", home, [], { RUNMAT_INSTALLER_URL: url });
    assert.equal(result.code, 4, result.output);
    assertOneErrorWithHint(result.output, /could not unpack .*runmat-install-win-x64\.exe\.gz/);
    assertEarlyEvents({ arch: "x86_64", platform: "windows-x86_64" });
    assert.equal(existsSync(join(home, ".runmat", "installer", VERSION, EXE_GZ)), false);
  });

  it("an exception that is not the script's own (a cmdlet's, as USERPROFILE is a file): exit 6, one error line, telemetry", async () => {
    await fresh();
    const notADirectory = join(home, "profile-is-a-file");
    await writeFile(notADirectory, "");
    const result = await runInstallPs1("file", home, [], { USERPROFILE: notADirectory });
    assert.equal(result.code, 6, result.output);
    assertOneErrorWithHint(result.output, /cannot write the installer cache/);
    assertEarlyEvents({ arch: "x86_64", platform: "windows-x86_64" });
  });

  it("reuses a legacy id file written by the old scripts", async () => {
    await fresh();
    await mkdir(join(home, ".runmat"));
    await writeFile(join(home, ".runmat", "telemetry_id"), "1700000000-12345\r\n");
    const result = await runInstallPs1("file", home, [], { RUNMAT_INSTALLER_URL: "http://127.0.0.1:9/x" });
    assert.equal(result.code, 3, result.output);
    assertEarlyEvents({ arch: "x86_64", platform: "windows-x86_64", cid: "1700000000-12345" });
  });

  const optOuts: [string, Env, string[]][] = [
    ["RUNMAT_NO_TELEMETRY=1", { RUNMAT_NO_TELEMETRY: "1" }, []],
    ["RUNMAT_TELEMETRY=off", { RUNMAT_TELEMETRY: "off" }, []],
    ["DO_NOT_TRACK=1", { DO_NOT_TRACK: "1" }, []],
    ["DO_NOT_TRACK=yes", { DO_NOT_TRACK: "yes" }, []],
    ["--no-telemetry", {}, ["--no-telemetry"]],
    ["telemetry disable (telemetry.json)", {}, []],
  ];
  for (const [name, env, args] of optOuts) {
    it(`opted out by ${name}: no connection, no id file`, async () => {
      await fresh();
      if (name.startsWith("telemetry disable")) {
        await mkdir(join(home, ".runmat"));
        await writeFile(join(home, ".runmat", "telemetry.json"), '{"enabled":false}\n');
      }
      const result = await runInstallPs1("file", home, args, {
        ...env,
        RUNMAT_INSTALLER_URL: "http://127.0.0.1:9/x",
      });
      assert.equal(result.code, 3, result.output);
      assertOneErrorWithHint(result.output, /could not download/);
      assert.equal(sink.connections, 0);
      assert.equal(existsSync(join(home, ".runmat", "telemetry_id")), false);
      assert.doesNotMatch(result.output, /sending anonymous/);
    });
  }
});

describe("install.ps1 in a session with its own preferences (a profile's): the installer's exit code passes through, and no events are added", () => {
  let home: string;
  before(async () => {
    home = await makeHome("pwsh-session");
  });
  after(() => cleanHome(home));

  const sessions = [
    "$PSNativeCommandUseErrorActionPreference = $true",
    "$ErrorActionPreference = 'Stop'",
    "Set-StrictMode -Version Latest",
    "$ProgressPreference = 'Continue'",
    "$OutputEncoding = [Text.Encoding]::Unicode",
    "$PSNativeCommandUseErrorActionPreference = $true; $ErrorActionPreference = 'Stop'; Set-StrictMode -Version Latest",
  ];
  for (const session of sessions) {
    it(session, async () => {
      sink.reset();
      // Under iwr | iex, and as a file with an argument the installer refuses: exit 2 both times.
      const piped = await runInstallPs1("iex", home, [], { RUNMAT_VERSION: "not-a-version" }, session);
      assert.match(piped.output, /"not-a-version" is not a version/);
      assert.match(piped.output, /session still open \(exit code 2\)/, piped.output);
      const file = await runInstallPs1("file", home, ["--no-such-option"], {}, session);
      assert.equal(file.code, 2, file.output);
      for (const output of [piped.output, file.output]) assert.doesNotMatch(output, /unexpected error/);
      assert.deepEqual(sink.labels(), [], "the installer's own failures are not sent again by install.ps1");
    });
  }
});

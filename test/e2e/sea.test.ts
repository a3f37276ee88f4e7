import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import AdmZip from "adm-zip";
import { SEA_FUSE } from "../../scripts/build-binaries.js";
import { VERSION } from "../../src/version.js";
import { assertBinariesBuilt, RELEASE_DIR, SEA_TARGETS, seaBinary } from "../fixtures/binaries.js";
import { ReleaseServer, TelemetrySink } from "../fixtures/release-server.js";
import { cleanHome, makeHome, runInstaller } from "../fixtures/run.js";
import { requireTool } from "../fixtures/system-tools.js";
import { assertWine, WINE } from "../fixtures/wine.js";
import { publishRelease, serverArgs } from "../fixtures/world.js";

const run = promisify(execFile);

before(() => assertBinariesBuilt());

describe("single binaries", () => {
  it("every target has the SEA fuse flipped and the bundle injected", async () => {
    const marker = Buffer.from("runmat-install sends 2 anonymous install events per run");
    for (const target of SEA_TARGETS) {
      const binary = await readFile(seaBinary(target.output));
      assert.ok(binary.includes(Buffer.from(`${SEA_FUSE}:1`)), `${target.id}: fuse flipped`);
      assert.ok(!binary.includes(Buffer.from(`${SEA_FUSE}:0`)), `${target.id}: no unflipped fuse`);
      assert.ok(binary.includes(marker), `${target.id}: blob present`);
    }
  });

  it("releases darwin binaries only when they could be signed (on macOS)", async () => {
    const sums = await readFile(join(RELEASE_DIR, "SHA256SUMS"), "utf8");
    const released = sums.includes("runmat-install-darwin-arm64.gz");
    assert.equal(released, process.platform === "darwin");
    for (const name of [
      "runmat-install-linux-x64.gz",
      "runmat-install-win-x64.exe.gz",
      "runmat-install.cjs.gz",
      "VERSION",
    ]) {
      assert.match(sums, new RegExp(`^[0-9a-f]{64}  ${name.replace(/\./g, "\\.")}$`, "m"));
    }
  });

  describe("linux-x64, run for real", () => {
    let server: ReleaseServer;
    let sink: TelemetrySink;
    let home: string;
    before(async () => {
      server = await new ReleaseServer().start();
      sink = await new TelemetrySink().start();
      home = await makeHome();
    });
    after(async () => {
      await server.stop();
      await sink.stop();
      await cleanHome(home);
    });

    it("prints --help", async () => {
      const { stdout } = await run(seaBinary("runmat-install-linux-x64"), ["--help"]);
      assert.match(stdout, /Usage: runmat-install/);
      assert.match(stdout, /--no-modify-path/);
    });

    it("installs from the fixture release and reports method=binary", async () => {
      publishRelease(server, "v0.6.1");
      const result = await runInstaller(home, serverArgs(server), {
        command: [seaBinary("runmat-install-linux-x64")],
        env: { RUNMAT_NO_TELEMETRY: undefined, RUNMAT_TELEMETRY_ENDPOINT: sink.url, PATH: "/usr/bin:/bin" },
      });
      assert.equal(result.code, 0, result.stderr);
      const { stdout } = await run(join(home, ".local", "bin", "runmat"), ["--version"]);
      assert.equal(stdout.trim(), "runmat 0.6.1");
      assert.deepEqual(sink.labels(), ["install_start", "install_complete"]);
      assert.ok(sink.events.every((event) => event.method === "binary"));
    });
  });

  describe("win-x64 under Wine", () => {
    let prefix: string;
    let work: string;
    const env = () => ({
      ...process.env,
      WINEPREFIX: prefix,
      WINEDEBUG: "-all",
      NODE_SKIP_PLATFORM_CHECK: "1",
    });

    /** Wine's stdout must be a file, not a pipe (a pipe fails with EBADF). */
    async function wine(
      args: string[],
      extra: NodeJS.ProcessEnv = {},
    ): Promise<{ code: number; output: string }> {
      const out = join(work, "out.txt");
      const quoted = args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
      const code = await run("sh", ["-c", `${WINE} ${quoted} >'${out}' 2>&1`], {
        env: { ...env(), ...extra },
      }).then(
        () => 0,
        (error: { code: number }) => error.code,
      );
      return { code, output: await readFile(out, "utf8") };
    }

    /**
     * A release .zip whose runmat.exe is the installer's own binary (any Windows program that
     * prints the version can stand in; the installer prints its own), named for that version,
     * in a directory of its own under `work`. Returns its path as Wine sees it.
     */
    async function standInZip(directory: string, extra: Record<string, Buffer> = {}): Promise<string> {
      const archive = new AdmZip();
      archive.addFile("runmat.exe", await readFile(seaBinary("runmat-install-win-x64.exe")));
      for (const [name, data] of Object.entries(extra)) archive.addFile(name, data);
      const zipPath = join(work, directory, `runmat-v${VERSION}-windows-x86_64.zip`);
      await mkdir(dirname(zipPath), { recursive: true });
      archive.writeZip(zipPath);
      return `Z:${zipPath.replace(/\//g, "\\")}`;
    }

    /** Sets the user's Path as a user would (reg.exe from Wine's command line, REG_EXPAND_SZ). */
    async function setUserPath(value: string): Promise<void> {
      const set = await wine([
        "reg",
        "add",
        "HKCU\\Environment",
        "/v",
        "Path",
        "/t",
        "REG_EXPAND_SZ",
        "/d",
        value,
        "/f",
      ]);
      assert.equal(set.code, 0, set.output);
    }

    before(async () => {
      assertWine();
      work = await mkdtemp(join(tmpdir(), "runmat-wine-"));
      prefix = join(work, "prefix");
      await mkdir(prefix);
    });
    after(async () => {
      await run("/usr/lib/wine/wineserver64", ["-k"], { env: env() }).catch(() => {});
      await rm(work, { recursive: true, force: true });
    });

    it("prints --help", async () => {
      const { code, output } = await wine([seaBinary("runmat-install-win-x64.exe"), "--help"]);
      assert.equal(code, 0, output);
      assert.match(output, /Usage: runmat-install/);
    });

    it("installs a .zip offline into %USERPROFILE%\\.runmat\\bin and adds it to the user Path as REG_EXPAND_SZ", async () => {
      // Any Windows program that prints the version can stand in for runmat.exe; the installer's
      // own binary prints its version for --version, so the archive is named for that version.
      const zipPath = await standInZip(".", { "runmat_core.dll": Buffer.from("a stand-in library") });
      const { code, output } = await wine([
        seaBinary("runmat-install-win-x64.exe"),
        "--archive",
        zipPath,
        "--no-telemetry",
      ]);
      assert.equal(code, 0, output);
      const bin = join(prefix, "drive_c", "users", process.env.USER ?? "root", ".runmat", "bin");
      assert.ok(existsSync(join(bin, "runmat.exe")), output);
      assert.ok(existsSync(join(bin, "runmat_core.dll")));
      const query = await wine(["reg", "query", "HKCU\\Environment", "/v", "Path"]);
      assert.match(query.output, /Path\s+REG_EXPAND_SZ\s+C:\\users\\[^\\]+\\\.runmat\\bin/);
      const again = await wine([
        seaBinary("runmat-install-win-x64.exe"),
        "--archive",
        zipPath,
        "--no-telemetry",
        "--force",
      ]);
      assert.equal(again.code, 0, again.output);
      const after = await wine(["reg", "query", "HKCU\\Environment", "/v", "Path"]);
      assert.equal(after.output.match(/\.runmat\\bin/g)?.length, 1, "added once");
      const status = await wine([seaBinary("runmat-install-win-x64.exe"), "status", "--offline", "--json"]);
      const state = JSON.parse(status.output.split("\n").find((line) => line.startsWith("{")) ?? "{}");
      assert.ok(
        state.pathEdits.some(
          (edit: { kind: string; inPlace: boolean }) => edit.kind === "registry" && edit.inPlace,
        ),
        status.output,
      );
    });

    it("uninstall removes its Path entry and keeps the others, still REG_EXPAND_SZ", async () => {
      const others = "C:\\keep\\one;%SystemRoot%\\other";
      await setUserPath(others);
      const zipPath = await standInZip(".");
      const install = await wine([
        seaBinary("runmat-install-win-x64.exe"),
        "--archive",
        zipPath,
        "--no-telemetry",
        "--force",
      ]);
      assert.equal(install.code, 0, install.output);
      const installed = await wine(["reg", "query", "HKCU\\Environment", "/v", "Path"]);
      assert.match(
        installed.output,
        /REG_EXPAND_SZ\s+C:\\users\\[^\\]+\\\.runmat\\bin;C:\\keep\\one;%SystemRoot%\\other/,
      );
      const uninstall = await wine([seaBinary("runmat-install-win-x64.exe"), "uninstall", "-y"]);
      assert.equal(uninstall.code, 0, uninstall.output);
      const query = await wine(["reg", "query", "HKCU\\Environment", "/v", "Path"]);
      assert.match(query.output, /Path\s+REG_EXPAND_SZ\s+C:\\keep\\one;%SystemRoot%\\other\s*$/m);
      const bin = join(prefix, "drive_c", "users", process.env.USER ?? "root", ".runmat", "bin");
      assert.equal(existsSync(join(bin, "runmat.exe")), false);
    });
    it("a user Path with non-ASCII and %VAR% entries: install, re-run and uninstall leave it byte for byte as before (read through the Windows API)", async () => {
      requireTool("x86_64-w64-mingw32-gcc");
      const build = join(work, "regread");
      await mkdir(build, { recursive: true });
      // RegGetValueW, unexpanded: the value as Windows stores it, in UTF-16 code units, with no
      // console code page and none of the installer's own code in between.
      await writeFile(
        join(build, "regread.c"),
        [
          "#include <windows.h>",
          "#include <stdio.h>",
          "int main(void) {",
          "  static WCHAR value[32768]; DWORD size = sizeof(value), type = 0;",
          '  LONG status = RegGetValueW(HKEY_CURRENT_USER, L"Environment", L"Path", RRF_RT_ANY | RRF_NOEXPAND, &type, value, &size);',
          '  if (status != ERROR_SUCCESS) { printf("error %ld\\n", status); return 1; }',
          '  printf("type %lu\\n", type);',
          '  for (DWORD i = 0; i + 1 < size / 2; i++) printf("%04x", value[i]);',
          '  printf("\\n");',
          "  return 0;",
          "}",
          "",
        ].join("\n"),
      );
      await run("x86_64-w64-mingw32-gcc", ["-o", "regread.exe", "regread.c", "-ladvapi32"], { cwd: build });
      const readPath = async () => {
        const { code, output } = await wine([join(build, "regread.exe")]);
        assert.equal(code, 0, output);
        const [type, hex] = output.trim().split("\n");
        return { type: type.trim(), value: Buffer.from(hex.trim(), "hex").swap16().toString("utf16le") };
      };
      const original =
        "C:\\users\\Zoë Q\\AppData\\Local\\bin;D:\\Übersetzer\\bin;;%USERPROFILE%\\tools;C:\\陈\\bin;Łukasz";
      await setUserPath(original);
      const before = await readPath();
      assert.deepEqual(before, { type: "type 2", value: original }, "the test's own Path went in as written");
      const zipPath = await standInZip("regread");
      const dir = "C:\\users\\Zoë Q\\RunMat\\bin";
      const install = (...extra: string[]) =>
        wine([
          seaBinary("runmat-install-win-x64.exe"),
          "--archive",
          zipPath,
          "--dir",
          dir,
          "--no-telemetry",
          ...extra,
        ]);
      const first = await install();
      assert.equal(first.code, 0, first.output);
      assert.deepEqual(await readPath(), { type: "type 2", value: `${dir};${original}` });
      const again = await install("--force");
      assert.equal(again.code, 0, again.output);
      assert.deepEqual(
        await readPath(),
        { type: "type 2", value: `${dir};${original}` },
        "a re-run adds nothing",
      );
      const uninstall = await wine([seaBinary("runmat-install-win-x64.exe"), "uninstall", "-y"]);
      assert.equal(uninstall.code, 0, uninstall.output);
      assert.deepEqual(await readPath(), before, "uninstall restores the Path exactly");
    });

    it("uninstall --purge run from the installer cache, as the one-liners run it: all goes but the running .exe, exit 0", async () => {
      const users = join(prefix, "drive_c", "users", process.env.USER ?? "root");
      const cache = join(users, ".runmat", "installer", VERSION);
      await mkdir(cache, { recursive: true });
      await writeFile(
        join(cache, "runmat-install-win-x64.exe"),
        await readFile(seaBinary("runmat-install-win-x64.exe")),
      );
      await writeFile(join(cache, "SHA256SUMS"), "cached checksums\n");
      const zipPath = await standInZip("purge");
      const cached = `C:\\users\\${process.env.USER ?? "root"}\\.runmat\\installer\\${VERSION}\\runmat-install-win-x64.exe`;
      const install = await wine([cached, "--archive", zipPath, "--no-telemetry", "--force"]);
      assert.equal(install.code, 0, install.output);
      const purge = await wine([cached, "uninstall", "-y", "--purge"]);
      assert.equal(purge.code, 0, purge.output);
      assert.doesNotMatch(purge.output, /error:/);
      assert.match(purge.output, /Removed RunMat/);
      assert.equal(existsSync(join(users, ".runmat", "bin", "runmat.exe")), false);
      assert.equal(existsSync(join(users, ".runmat", "install-receipt.json")), false);
      assert.equal(existsSync(join(cache, "SHA256SUMS")), false, "the rest of the cache is gone");
      if (existsSync(join(cache, "runmat-install-win-x64.exe"))) {
        assert.match(purge.output, /Kept .*runmat-install-win-x64\.exe: it is this installer, still running/);
      }
      const query = await wine(["reg", "query", "HKCU\\Environment", "/v", "Path"]);
      assert.doesNotMatch(query.output, /\.runmat\\bin/, "the Path entry went first");
    });

    it("on ARM64 Windows (the x64 installer emulated): the x64 build, said once, and telemetry's arch is arm64", async () => {
      const zipPath = await standInZip("arm64");
      // Wine rewrites PROCESSOR_ARCHITECTURE and PROCESSOR_IDENTIFIER; PROCESSOR_ARCHITEW6432 passes through.
      const { code, output } = await wine(
        [seaBinary("runmat-install-win-x64.exe"), "--archive", zipPath, "--force", "--no-modify-path"],
        { PROCESSOR_ARCHITEW6432: "ARM64", RUNMAT_TELEMETRY_DEBUG: "1" },
      );
      assert.equal(code, 0, output);
      assert.equal(output.match(/runs under emulation/g)?.length, 1, output);
      const events = output
        .split("\n")
        .filter((line) => line.startsWith("telemetry (debug, not sent): "))
        .map((line) => JSON.parse(line.slice("telemetry (debug, not sent): ".length)));
      assert.deepEqual(
        events.map((event) => [event.event_label, event.arch, event.platform]),
        [
          ["install_start", "arm64", "windows-x86_64"],
          ["install_complete", "arm64", "windows-x86_64"],
        ],
      );
      // The prefix is shared with the tests below: this install goes again.
      const uninstall = await wine([seaBinary("runmat-install-win-x64.exe"), "uninstall", "-y"]);
      assert.equal(uninstall.code, 0, uninstall.output);
    });

    it("a runmat.exe whose DLL is missing: exit 7, said in words with the fix, nothing placed", async () => {
      // Built with mingw against a DLL that the archive then leaves out, as a broken release would.
      requireTool("x86_64-w64-mingw32-gcc");
      const build = join(work, "dll-missing");
      await mkdir(build);
      await writeFile(join(build, "blas.c"), "int blas_value(void) { return 1; }\n");
      await writeFile(
        join(build, "main.c"),
        '#include <stdio.h>\nint blas_value(void);\nint main(void) { printf("runmat 0.6.1 %d\\n", blas_value()); return 0; }\n',
      );
      const gcc = (args: string[]) => run("x86_64-w64-mingw32-gcc", args, { cwd: build });
      await gcc(["-shared", "-o", "runmat_blas.dll", "blas.c"]);
      await gcc(["-o", "runmat.exe", "main.c", "runmat_blas.dll"]);
      const archive = new AdmZip();
      archive.addFile("runmat.exe", await readFile(join(build, "runmat.exe")));
      const zipPath = join(work, "runmat-v0.6.1-windows-x86_64.zip");
      archive.writeZip(zipPath);
      const dir = join(work, "dll-missing-bin");
      const { code, output } = await wine([
        seaBinary("runmat-install-win-x64.exe"),
        "--archive",
        `Z:${zipPath.replace(/\//g, "\\")}`,
        "--dir",
        `Z:${dir.replace(/\//g, "\\")}`,
        "--no-modify-path",
        "--no-telemetry",
      ]);
      assert.equal(code, 7, output);
      assert.match(output, /it could not start, a DLL it needs was not found/);
      assert.match(output, /hint: .*Microsoft Visual C\+\+ Redistributable/);
      assert.equal(existsSync(join(dir, "runmat.exe")), false, "nothing placed");
    });
  });
});

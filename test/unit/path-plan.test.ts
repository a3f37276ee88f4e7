import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  appendLine,
  expandWindowsVariables,
  parseRegExport,
  planUnixPath,
  prependWindowsPath,
  removeLine,
  removeWindowsPath,
  renderRegImport,
} from "../../src/paths/plan.js";

const base = { home: "/home/u", directory: "/home/u/.local/bin" };

describe("PATH planning", () => {
  it("always targets .profile and .bashrc, and .bash_profile or .bash_login only when they exist", () => {
    const plan = planUnixPath({ ...base, exists: () => false });
    assert.deepEqual(plan.profiles, ["/home/u/.profile", "/home/u/.bashrc"]);
    assert.equal(plan.sourceLine, '. "$HOME/.runmat/env" # added by runmat-install');
    const existing = new Set(["/home/u/.bash_profile", "/home/u/.bash_login"]);
    assert.deepEqual(planUnixPath({ ...base, exists: (p) => existing.has(p) }).profiles, [
      "/home/u/.profile",
      "/home/u/.bashrc",
      "/home/u/.bash_profile",
      "/home/u/.bash_login",
    ]);
  });

  it("targets $ZDOTDIR/.zshenv for zsh users, and for anyone with zsh startup files", () => {
    const zshUser = planUnixPath({
      ...base,
      shell: "/bin/zsh",
      zdotdir: "/home/u/.config/zsh",
      exists: () => false,
    });
    assert.deepEqual(zshUser.profiles.slice(2), ["/home/u/.config/zsh/.zshenv"]);
    const hasZshrc = planUnixPath({ ...base, shell: "/bin/bash", exists: (p) => p === "/home/u/.zshrc" });
    assert.deepEqual(hasZshrc.profiles.slice(2), ["/home/u/.zshenv"]);
    assert.deepEqual(
      planUnixPath({ ...base, shell: "/bin/bash", exists: () => false }).profiles.slice(2),
      [],
    );
  });

  it("adds fish conf.d only for fish users", () => {
    assert.equal(planUnixPath({ ...base, exists: () => false }).fishConfFile, undefined);
    const fish = planUnixPath({ ...base, shell: "/usr/bin/fish", exists: () => false });
    assert.equal(fish.fishConfFile?.path, "/home/u/.config/fish/conf.d/runmat.env.fish");
  });

  it("quotes awkward directories for sh and for fish, each by its own rules", () => {
    const plan = planUnixPath({
      ...base,
      shell: "/usr/bin/fish",
      directory: '/opt/my "tools"/$bin`x`',
      exists: () => false,
    });
    assert.match(plan.envFile.content, /"\/opt\/my \\"tools\\"\/\\\$bin\\`x\\`"/);
    // A backquote is literal inside fish's double quotes: escaping it would add a backslash.
    assert.match(plan.envFishFile.content, /"\/opt\/my \\"tools\\"\/\\\$bin`x`"/);
  });

  it("appends once, keeping CRLF and adding a missing final newline", () => {
    assert.equal(appendLine("a", "X"), "a\nX\n");
    assert.equal(appendLine("a\r\n", "X"), "a\r\nX\r\n");
    assert.equal(appendLine("", "X"), "X\n");
    assert.equal(appendLine("a\nX\n", "X"), null);
    assert.equal(appendLine("a\r\nX\r\n", "X"), null);
  });

  it("removes only the exact line", () => {
    assert.equal(removeLine("a\nX\nb\n", "X"), "a\nb\n");
    assert.equal(removeLine("a\r\nX\r\nb", "X"), "a\r\nb");
    assert.equal(removeLine("X # mine\n", "X"), "X # mine\n");
  });

  it("prepends to the Windows Path once, comparing expanded and case-insensitively", () => {
    const expand = (s: string) => expandWindowsVariables(s, { USERPROFILE: "C:\\Users\\u" });
    assert.equal(
      prependWindowsPath("C:\\a;C:\\b", "C:\\Users\\u\\.runmat\\bin", expand),
      "C:\\Users\\u\\.runmat\\bin;C:\\a;C:\\b",
    );
    assert.equal(
      prependWindowsPath("%USERPROFILE%\\.runmat\\bin\\;C:\\a", "c:\\users\\u\\.runmat\\bin", expand),
      null,
    );
    assert.equal(
      removeWindowsPath("C:\\x;%USERPROFILE%\\.runmat\\bin;C:\\y", "C:\\Users\\u\\.runmat\\bin", expand),
      "C:\\x;C:\\y",
    );
  });
});

describe("the user Path through reg export and reg import", () => {
  const path = "C:\\users\\Zoë Q\\AppData\\bin;;D:\\Übersetzer\\bin;%USERPROFILE%\\x;C:\\陈\\y;";

  it("reads back exactly what it writes, non-ASCII and %VAR% entries included", () => {
    const file = renderRegImport("HKCU\\Environment", "Path", path).toString("utf16le");
    assert.deepEqual(parseRegExport(file, "Path"), { type: "REG_EXPAND_SZ", value: path });
  });

  it("reads a REG_SZ Path with its escapes, any spelling of the name, and refuses other types", () => {
    const text =
      '\uFEFFWindows Registry Editor Version 5.00\r\n\r\n[HKEY_CURRENT_USER\\Environment]\r\n"PATH"="C:\\\\a \\"b\\";D:\\\\c"\r\n';
    assert.deepEqual(parseRegExport(text, "Path"), { type: "REG_SZ", value: 'C:\\a "b";D:\\c' });
    assert.equal(parseRegExport('"TEMP"="x"\r\n', "Path"), null);
    assert.throws(
      () => parseRegExport('"Path"=dword:00000001\r\n', "Path"),
      /type the installer does not edit/,
    );
  });

  it("adding and removing our entry gives back the Path byte for byte", () => {
    const added = prependWindowsPath(path, "C:\\Users\\Zoë Q\\.runmat\\bin");
    assert.ok(added);
    assert.equal(removeWindowsPath(added, "C:\\Users\\Zoë Q\\.runmat\\bin"), path);
  });
});

// What the loader says a binary lacks, and the command that installs it, distribution by
// distribution: one row per family and per library RunMat links.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { SYSTEM_LIBRARIES } from "../../src/contract.js";
import {
  elfInterpreter,
  installCommand,
  neededGlibc,
  parseLoaderTrace,
  parseOsRelease,
} from "../../src/platform/system-libraries.js";

const TRACE = `\tlinux-vdso.so.1 (0x00007ffd)
\tlibopenblas.so.0 => not found
\tlibhdf5_serial.so.103 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2b)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f2b)

\tVersion information:
\t./runmat:
\t\tlibc.so.6 (GLIBC_2.39) => not found
\t\tlibc.so.6 (GLIBC_2.34) => not found
\t\tlibc.so.6 (GLIBC_2.2.5) => /lib/x86_64-linux-gnu/libc.so.6
\t\tlibstdc++.so.6 (GLIBCXX_3.4.32) => not found
`;

describe("the loader's trace", () => {
  it("names every missing library and version", () => {
    assert.deepEqual(parseLoaderTrace(TRACE), {
      missingLibraries: ["libopenblas.so.0", "libhdf5_serial.so.103"],
      missingVersions: [
        { library: "libc.so.6", version: "GLIBC_2.39" },
        { library: "libc.so.6", version: "GLIBC_2.34" },
        { library: "libstdc++.so.6", version: "GLIBCXX_3.4.32" },
      ],
    });
  });

  it("the newest glibc needed, compared as numbers", () => {
    assert.equal(neededGlibc(parseLoaderTrace(TRACE)), "2.39");
    assert.equal(
      neededGlibc({
        missingLibraries: [],
        missingVersions: [
          { library: "libc.so.6", version: "GLIBC_2.9" },
          { library: "libc.so.6", version: "GLIBC_2.10" },
        ],
      }),
      "2.10",
    );
    assert.equal(neededGlibc({ missingLibraries: ["libzmq.so.5"], missingVersions: [] }), null);
  });

  it("the ELF interpreter of a real binary, and none of anything else", () => {
    const node = readFileSync(process.execPath).subarray(0, 64 * 1024);
    assert.match(elfInterpreter(node) ?? "", /^\/lib.*ld-linux/);
    assert.equal(elfInterpreter(Buffer.from("#!/bin/sh\necho runmat 0.6.1\n".padEnd(128))), null);
  });
});

const release = (fields: string) => parseOsRelease(fields);
const DISTROS: [string, string, string][] = [
  ["Debian 12", 'ID=debian\nVERSION_ID="12"', "sudo apt-get install -y {}"],
  ["Ubuntu 22.04", 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="22.04"', "sudo apt-get install -y {}"],
  ["Ubuntu 24.04 (t64)", 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"', "sudo apt-get install -y {}"],
  [
    "Linux Mint (by ID_LIKE)",
    'ID=linuxmint\nID_LIKE="ubuntu debian"\nVERSION_ID="21.3"',
    "sudo apt-get install -y {}",
  ],
  ["Fedora 41", "ID=fedora\nVERSION_ID=41", "sudo dnf install -y {}"],
  ["Rocky 9 (by ID_LIKE)", 'ID="rocky"\nID_LIKE="rhel centos fedora"', "sudo dnf install -y {}"],
  ["Arch", "ID=arch", "sudo pacman -S --needed {}"],
  ["openSUSE Tumbleweed", 'ID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"', "sudo zypper install {}"],
];
const T64 = (name: string) => name === "Ubuntu 24.04 (t64)";

describe("the command that installs what is missing", () => {
  for (const [name, fields, manager] of DISTROS) {
    const family = manager.startsWith("sudo apt")
      ? "debian"
      : manager.includes("dnf")
        ? "fedora"
        : manager.includes("pacman")
          ? "arch"
          : "suse";
    for (const row of SYSTEM_LIBRARIES) {
      for (const soname of row.sonames) {
        it(`${name}: ${soname} (${row.family})`, () => {
          const packages: Record<string, string> = row.packages;
          const expected = T64(name) && packages.debianT64 ? packages.debianT64 : packages[family];
          assert.equal(installCommand([`${soname}.5`], release(fields)), manager.replace("{}", expected));
        });
      }
    }
  }

  it("each package once, in the order the libraries came; unknown libraries add none", () => {
    assert.equal(
      installCommand(
        ["libssl.so.3", "libcrypto.so.3", "libfoo.so.1", "libzmq.so.5"],
        release("ID=debian\nVERSION_ID=12"),
      ),
      "sudo apt-get install -y libssl3 libzmq5",
    );
    assert.equal(installCommand(["libfoo.so.1"], release("ID=debian\nVERSION_ID=12")), null);
    assert.equal(installCommand(["libzmq.so.5"], release("ID=gentoo")), null);
  });
});

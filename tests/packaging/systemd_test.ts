/**
 * `deploy/systemd/midge.service` and `scripts/install.sh`, checked in a fake root: the install
 * lays out the files, `systemd-analyze verify` has nothing to say about the unit (it exits 0 even
 * on unknown keys, so any output fails), and `systemd-analyze security --offline` rates it at or
 * under the threshold below. No systemd needs to run.
 *
 * @module
 */

import assert from "node:assert/strict";
import { runProcess } from "../_helpers/process.ts";
import {
  buildBundle,
  exists,
  IS_LINUX_HOST,
  REPO,
  requireFiles,
  runScript,
  tempDir,
} from "./_packaging.ts";

/** Highest accepted exposure, in `systemd-analyze security` units (2.0 shown as "2.0 OK"). */
const SECURITY_THRESHOLD = 2.0;

const UNIT = `${REPO}/deploy/systemd/midge.service`;
const SYSTEMD_UNITS = "/usr/lib/systemd/system";

/**
 * A fake root holding what `systemd-analyze --root` resolves for the unit: the stock units it
 * orders itself after, the program of ExecReload=, and (from install.sh) ExecStart='s binary.
 */
function fakeSystemRoot(root: string): void {
  for (const dir of ["usr/lib/systemd", "bin"]) {
    Deno.mkdirSync(`${root}/${dir}`, { recursive: true });
  }
  Deno.mkdirSync(`${root}${SYSTEMD_UNITS}`);
  for (const entry of Deno.readDirSync(SYSTEMD_UNITS)) {
    if (entry.isFile) {
      Deno.copyFileSync(`${SYSTEMD_UNITS}/${entry.name}`, `${root}${SYSTEMD_UNITS}/${entry.name}`);
    }
  }
  Deno.copyFileSync("/bin/kill", `${root}/bin/kill`);
  Deno.chmodSync(`${root}/bin/kill`, 0o755);
}

/** A stand-in for the compiled midge: install.sh copies it, systemd-analyze sees an executable. */
function fakeBinary(path: string): string {
  Deno.writeTextFileSync(path, "#!/bin/sh\necho midge\n");
  Deno.chmodSync(path, 0o755);
  return path;
}

/** `systemd-analyze verify` of the installed unit: exit code and every line it printed. */
async function verify(root: string): Promise<{ code: number; output: string[] }> {
  const result = await runProcess("systemd-analyze", [
    "verify",
    "--man=no",
    `--root=${root}`,
    "/etc/systemd/system/midge.service",
  ]);
  return { code: result.code, output: [...result.stdout, ...result.stderr].filter(Boolean) };
}

const requireSystemd = () => requireFiles({ "/usr/bin/systemd-analyze": "systemd" });

Deno.test({
  name: "install.sh lays out binary, unit and config; the unit passes systemd-analyze verify",
  ignore: !IS_LINUX_HOST,
  async fn() {
    requireSystemd();
    await using dir = tempDir("install");
    const root = `${dir.path}/root`;
    fakeSystemRoot(root);
    const binary = fakeBinary(`${dir.path}/midge`);

    const install = await runScript("install.sh", ["--root", root, "--binary", binary]);
    assert.equal(install.code, 0, install.stderr);
    assert.equal(
      Deno.readTextFileSync(`${root}/usr/local/bin/midge`),
      Deno.readTextFileSync(binary),
    );
    assert.equal(Deno.statSync(`${root}/usr/local/bin/midge`).mode! & 0o777, 0o755);
    assert.equal(
      Deno.readTextFileSync(`${root}/etc/systemd/system/midge.service`),
      Deno.readTextFileSync(UNIT),
    );
    assert.equal(
      Deno.readTextFileSync(`${root}/etc/midge/mosquitto.conf`),
      Deno.readTextFileSync(`${REPO}/deploy/image/mosquitto.conf`),
    );

    const result = await verify(root);
    assert.equal(result.code, 0, result.output.join("\n"));
    assert.deepEqual(result.output, [], "systemd-analyze verify warns");

    // An edited config survives a second install.
    Deno.writeTextFileSync(`${root}/etc/midge/mosquitto.conf`, "listener 1884\n");
    const again = await runScript("install.sh", ["--root", root, "--binary", binary]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(Deno.readTextFileSync(`${root}/etc/midge/mosquitto.conf`), "listener 1884\n");

    const uninstall = await runScript("install.sh", ["--root", root, "--uninstall"]);
    assert.equal(uninstall.code, 0, uninstall.stderr);
    assert.ok(!exists(`${root}/usr/local/bin/midge`));
    assert.ok(!exists(`${root}/etc/systemd/system/midge.service`));
    assert.ok(exists(`${root}/etc/midge/mosquitto.conf`), "--uninstall keeps the config");
    const purge = await runScript("install.sh", ["--root", root, "--uninstall", "--purge"]);
    assert.equal(purge.code, 0, purge.stderr);
    assert.ok(!exists(`${root}/etc/midge`));
  },
});

Deno.test({
  name: "the verify check fails on a unit with an unknown key",
  ignore: !IS_LINUX_HOST,
  async fn() {
    requireSystemd();
    await using dir = tempDir("verify-bad");
    const root = `${dir.path}/root`;
    fakeSystemRoot(root);
    const install = await runScript("install.sh", [
      "--root",
      root,
      "--binary",
      fakeBinary(`${dir.path}/midge`),
    ]);
    assert.equal(install.code, 0, install.stderr);
    const unit = `${root}/etc/systemd/system/midge.service`;
    Deno.writeTextFileSync(
      unit,
      Deno.readTextFileSync(unit).replace("[Service]\n", "[Service]\nProtectSystm=strict\n"),
    );
    const result = await verify(root);
    assert.equal(result.code, 0, "systemd-analyze verify exits 0 even so");
    assert.ok(result.output.some((line) => line.includes("Unknown key 'ProtectSystm'")));
  },
});

Deno.test({
  name: `systemd-analyze security --offline rates midge.service at most ${
    SECURITY_THRESHOLD.toFixed(1)
  }`,
  ignore: !IS_LINUX_HOST,
  async fn() {
    requireSystemd();
    await using dir = tempDir("security");
    const root = `${dir.path}/root`;
    fakeSystemRoot(root);
    Deno.mkdirSync(`${root}/etc/systemd/system`, { recursive: true });
    Deno.copyFileSync(UNIT, `${root}/etc/systemd/system/midge.service`);
    const result = await runProcess("systemd-analyze", [
      "security",
      "--offline=true",
      `--threshold=${SECURITY_THRESHOLD * 10}`,
      `--root=${root}`,
      "--no-pager",
      "midge.service",
    ]);
    const output = [...result.stdout, ...result.stderr].join("\n");
    const score = /Overall exposure level for midge\.service: (\d+\.\d)/.exec(output)?.[1];
    assert.ok(score !== undefined, output);
    console.log(
      `midge.service: systemd-analyze security exposure ${score} (threshold ${
        SECURITY_THRESHOLD.toFixed(1)
      })`,
    );
    assert.equal(result.code, 0, output);
    assert.ok(Number(score) <= SECURITY_THRESHOLD, output);
  },
});

Deno.test("midge.service has the settings the issue asks for", () => {
  const settings = Deno.readTextFileSync(UNIT).split("\n").filter((line) => /^\w+=/.test(line));
  for (
    const line of [
      "ExecStart=/usr/local/bin/midge -c /etc/midge/mosquitto.conf",
      "ExecReload=/bin/kill -HUP $MAINPID",
      "Restart=on-failure",
      "DynamicUser=yes",
      "StateDirectory=midge",
      "ConfigurationDirectory=midge",
      "ProtectSystem=strict",
      "NoNewPrivileges=yes",
      "PrivateTmp=yes",
      "SystemCallFilter=@system-service",
      "CapabilityBoundingSet=",
      "AmbientCapabilities=",
      // V8 writes machine code at run time.
      "MemoryDenyWriteExecute=no",
    ]
  ) {
    assert.ok(settings.includes(line), `missing ${line}`);
  }
  assert.ok(settings.some((line) => line.startsWith("RestrictAddressFamilies=AF_INET AF_INET6")));
});

Deno.test({
  name: "install.sh --from an offline artifact installs Deno, the bundle and a launcher",
  ignore: !IS_LINUX_HOST,
  async fn() {
    await using dir = tempDir("install-bundle");
    const bundle = await buildBundle("x86_64", `${dir.path}/artifact`);
    const root = `${dir.path}/root`;
    Deno.mkdirSync(root);
    const install = await runScript("install.sh", [
      "--root",
      root,
      "--from",
      `${dir.path}/artifact/x86_64`,
    ]);
    assert.equal(install.code, 0, install.stderr);
    assert.equal(
      Deno.statSync(`${root}/usr/local/lib/midge/deno`).size,
      Deno.statSync(bundle.deno).size,
    );
    assert.equal(
      Deno.readTextFileSync(`${root}/usr/local/lib/midge/midge.js`),
      Deno.readTextFileSync(bundle.js),
    );
    const launcher = Deno.readTextFileSync(`${root}/usr/local/bin/midge`);
    assert.ok(
      launcher.includes(
        `exec /usr/local/lib/midge/deno run ${
          bundle.flags.join(" ")
        } /usr/local/lib/midge/midge.js "$@"`,
      ),
      launcher,
    );
  },
});

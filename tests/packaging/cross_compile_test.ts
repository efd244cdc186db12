/**
 * `scripts/cross-compile.sh`: the offline artifact's layout, and `deno compile` with and without a
 * runtime. The network is made unreachable for every run (dead proxies) and Deno's cache is a
 * fresh folder that shares only the npm packages, so no denort downloaded earlier can be used.
 *
 * @module
 */

import assert from "node:assert/strict";
import { runProcess, spawnProcess } from "../_helpers/process.ts";
import { elfArch, IS_LINUX_HOST, NO_NETWORK_ENV, REPO, runScript, tempDir } from "./_packaging.ts";

const VERSION = JSON.parse(Deno.readTextFileSync(`${REPO}/deno.json`)).version as string;

/** A DENO_DIR that has the npm packages of the usual one (main.ts needs them) and nothing else. */
async function isolatedDenoDir(path: string): Promise<string> {
  const info = await runProcess(Deno.execPath(), ["info", "--json"]);
  const denoDir = JSON.parse(info.stdout.join("\n")).denoDir as string;
  Deno.mkdirSync(path);
  Deno.symlinkSync(`${denoDir}/npm`, `${path}/npm`);
  return path;
}

/** Runs cross-compile.sh with DENORT_BIN* removed from the environment, then `env`. */
async function crossCompile(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stderr: string[] }> {
  const assignments = Object.entries(env).map(([name, value]) => `${name}=${value}`);
  await using child = spawnProcess("env", [
    "-u",
    "DENORT_BIN",
    "-u",
    "DENORT_BIN_AARCH64",
    "-u",
    "DENORT_BIN_X86_64",
    ...assignments,
    `${REPO}/scripts/cross-compile.sh`,
    ...args,
  ]);
  const status = await child.status(300_000);
  return { code: status.code, stderr: [...child.stderr] };
}

Deno.test({
  name:
    "cross-compile.sh without a reachable runtime nor DENORT_BIN fails with one line naming DENORT_BIN",
  ignore: !IS_LINUX_HOST,
  async fn() {
    await using dir = tempDir("no-runtime");
    const denoDir = await isolatedDenoDir(`${dir.path}/deno-dir`);
    const result = await crossCompile(
      ["--target", "aarch64", "--compile-only", "--out", `${dir.path}/out`],
      { ...NO_NETWORK_ENV, DENO_DIR: denoDir },
    );
    assert.equal(result.code, 3, result.stderr.join("\n"));
    assert.equal(result.stderr.length, 1, `Expected one line, got:\n${result.stderr.join("\n")}`);
    const line = result.stderr[0]!;
    assert.match(
      line,
      /^cross-compile\.sh: cannot get the Deno runtime for aarch64-unknown-linux-gnu/,
    );
    assert.match(line, /DENORT_BIN=\/path\/to\/denort/);
    assert.doesNotMatch(line, /Stack backtrace|Caused by|error sending request/);
  },
});

Deno.test({
  name: "cross-compile.sh refuses a DENORT_BIN built for another arch",
  ignore: !IS_LINUX_HOST || Deno.build.arch !== "x86_64",
  async fn() {
    await using dir = tempDir("wrong-runtime");
    const result = await crossCompile(
      ["--target", "aarch64", "--compile-only", "--out", `${dir.path}/out`],
      { ...NO_NETWORK_ENV, DENORT_BIN: Deno.execPath() },
    );
    assert.equal(result.code, 1);
    assert.deepEqual(result.stderr, [
      `cross-compile.sh: DENORT_BIN=${Deno.execPath()} is x86_64, not aarch64: set DENORT_BIN_AARCH64 for each target`,
    ]);
  },
});

Deno.test({
  name: "cross-compile.sh honours DENORT_BIN: deno compile embeds main.ts without a download",
  ignore: !IS_LINUX_HOST || Deno.build.arch !== "x86_64",
  async fn() {
    await using dir = tempDir("runtime");
    const denoDir = await isolatedDenoDir(`${dir.path}/deno-dir`);
    // The full CLI stands in for denort here: deno compile takes any base binary it is given (the
    // result would start Deno's REPL), which is enough to prove the flags and the embedding.
    const result = await crossCompile(
      ["--target", "x86_64", "--compile-only", "--out", `${dir.path}/out`],
      { ...NO_NETWORK_ENV, DENO_DIR: denoDir, DENORT_BIN: Deno.execPath() },
    );
    assert.equal(result.code, 0, result.stderr.join("\n"));
    const binary = `${dir.path}/out/x86_64/midge`;
    assert.equal(elfArch(binary), "x86_64");
    const grep = await runProcess("grep", ["-c", "-a", "-F", "Opening ipv4 listen socket", binary]);
    assert.equal(grep.code, 0, "main.ts's code is not embedded in the binary");
  },
});

Deno.test({
  name: "cross-compile.sh --bundle-only lays out DIR/<arch>/bundle for both targets",
  ignore: !IS_LINUX_HOST,
  async fn() {
    await using dir = tempDir("bundle");
    const result = await runScript("cross-compile.sh", ["--bundle-only", "--out", dir.path]);
    assert.equal(result.code, 0, result.stderr);
    for (const arch of ["aarch64", "x86_64"]) {
      const bundle = `${dir.path}/${arch}/bundle`;
      const names = [...Deno.readDirSync(bundle)].map((entry) => entry.name).sort();
      assert.deepEqual(names, ["deno", "deno-run-flags", "midge", "midge.js"]);
      assert.equal(elfArch(`${bundle}/deno`), arch);
    }
    const js = Deno.readTextFileSync(`${dir.path}/aarch64/bundle/midge.js`);
    assert.equal(js, Deno.readTextFileSync(`${dir.path}/x86_64/bundle/midge.js`));
    // Everything inlined: only Node built-ins are left to import at run time.
    const specifiers = [...js.matchAll(/^import .* from "([^"]+)";$/gm)].map((match) => match[1]);
    assert.ok(specifiers.length > 0);
    assert.deepEqual(specifiers.filter((specifier) => !specifier!.startsWith("node:")), []);
    assert.doesNotMatch(js, /\/\.cache\/deno\//, "machine-specific cache paths in the bundle");

    // The same permissions as `deno task start`.
    const start = JSON.parse(Deno.readTextFileSync(`${REPO}/deno.json`)).tasks.start as string;
    const flags = Deno.readTextFileSync(`${dir.path}/x86_64/bundle/deno-run-flags`).split("\n");
    for (const flag of start.split(/\s+/).filter((word) => word.startsWith("--allow-"))) {
      assert.ok(flags.includes(flag), `${flag} missing from deno-run-flags`);
    }

    if (Deno.build.arch === "x86_64") {
      const launcher = await runProcess(`${dir.path}/x86_64/bundle/midge`, ["--version"]);
      assert.equal(launcher.code, 0, launcher.stderr.join("\n"));
      assert.deepEqual(launcher.stdout, [VERSION]);
    }
  },
});

/**
 * The offline artifact of `scripts/cross-compile.sh` (`deno bundle` of main.ts + the Deno CLI from
 * npm): natively on x86_64, and as AArch64 under qemu-user, as it runs on a Raspberry Pi. Both
 * runs have no network and an empty DENO_DIR, so nothing may be fetched or cached beforehand.
 * The start-to-first-CONNACK times and the idle RSS are printed for the record, never asserted.
 *
 * @module
 */

import assert from "node:assert/strict";
import { delay, freePort, spawnProcess } from "../_helpers/process.ts";
import {
  AARCH64_SYSROOT,
  assertExchange,
  buildBundle,
  elfArch,
  fileSize,
  IS_LINUX_HOST,
  mib,
  NO_NETWORK_ENV,
  publish,
  QEMU_AARCH64,
  QEMU_TIMEOUT_MS,
  requireFiles,
  rssKiB,
  startSubscriber,
  tempDir,
  waitForConnack,
  writeConfig,
} from "./_packaging.ts";

const VERSION = JSON.parse(Deno.readTextFileSync(new URL("../../deno.json", import.meta.url)))
  .version as string;

/** Two different free loopback ports. */
function twoFreePorts(): [number, number] {
  const first = freePort();
  let second = freePort();
  while (second === first) second = freePort();
  return [first, second];
}

Deno.test({
  name: "x86_64 offline artifact serves mosquitto clients offline with an empty DENO_DIR",
  ignore: !IS_LINUX_HOST || Deno.build.arch !== "x86_64",
  async fn() {
    requireFiles({ "/usr/bin/mosquitto_pub": "mosquitto-clients" });
    await using dir = tempDir("x86_64");
    const bundle = await buildBundle("x86_64", dir.path);
    assert.equal(elfArch(bundle.deno), "x86_64");
    const port = freePort();

    const started = performance.now();
    await using broker = spawnProcess(bundle.deno, [
      "run",
      ...bundle.flags,
      bundle.js,
      "-p",
      `${port}`,
    ], {
      env: { ...NO_NETWORK_ENV, DENO_DIR: `${dir.path}/deno-dir`, NO_COLOR: "1" },
    });
    const connackMs = await waitForConnack(port, broker, { since: started });
    // Both artifacts start the same main.ts: the version of this checkout, in Mosquitto's words.
    await broker.waitForLine(new RegExp(`^\\d+: midge version ${VERSION} running$`), {
      stream: "stderr",
      timeoutMs: QEMU_TIMEOUT_MS,
    });
    await assertExchange(port, "packaging/x86_64", "temp: 30");

    // Idle: nothing connected; let start-up garbage settle before reading the resident size.
    await delay(2000);
    const rss = rssKiB(broker.pid);
    console.log(
      `x86_64 offline artifact: bundle ${mib(fileSize(bundle.js))}, deno ${
        mib(fileSize(bundle.deno))
      }; start to first CONNACK ${connackMs} ms natively; idle RSS ${(rss / 1024).toFixed(1)} MiB`,
    );

    broker.kill("SIGTERM");
    const status = await broker.status(QEMU_TIMEOUT_MS);
    assert.equal(status.code, 0, broker.describeOutput());
  },
});

Deno.test({
  name:
    "aarch64 offline artifact under qemu: AArch64 Deno, mosquitto clients, SIGHUP reload, SIGTERM exit 0",
  ignore: !IS_LINUX_HOST,
  async fn(t) {
    requireFiles({
      [QEMU_AARCH64]: "qemu-user-static",
      [`${AARCH64_SYSROOT}/lib/libc.so.6`]: "libc6-arm64-cross",
      [`${AARCH64_SYSROOT}/lib/libgcc_s.so.1`]: "libgcc-s1-arm64-cross",
      "/usr/bin/mosquitto_pub": "mosquitto-clients",
    });
    await using dir = tempDir("aarch64");
    const bundle = await buildBundle("aarch64", dir.path);
    const env = { ...NO_NETWORK_ENV, DENO_DIR: `${dir.path}/deno-dir`, NO_COLOR: "1" };
    const qemu = (args: string[]) =>
      spawnProcess(QEMU_AARCH64, ["-L", AARCH64_SYSROOT, bundle.deno, ...args], { env });

    await t.step("the Deno CLI is an AArch64 ELF and reports Deno.build.arch aarch64", async () => {
      assert.equal(elfArch(bundle.deno), "aarch64");
      await using probe = qemu(["eval", "console.log(Deno.build.arch)"]);
      const status = await probe.status(QEMU_TIMEOUT_MS);
      assert.equal(status.code, 0, probe.describeOutput());
      assert.deepEqual(probe.stdout, ["aarch64"]);
    });

    const [port, addedPort] = twoFreePorts();
    const config = `${dir.path}/mosquitto.conf`;
    writeConfig(config, [port]);
    const started = performance.now();
    await using broker = qemu(["run", ...bundle.flags, bundle.js, "-c", config]);
    const connackMs = await waitForConnack(port, broker, { since: started });
    console.log(
      `aarch64 offline artifact: deno ${mib(fileSize(bundle.deno))}, bundle ${
        mib(fileSize(bundle.js))
      }; start to first CONNACK ${connackMs} ms under qemu (empty DENO_DIR)`,
    );

    // One subscriber for the whole run: it must stay connected across the reload.
    const topic = "packaging/aarch64";
    await using sub = await startSubscriber(port, topic, 2);

    await t.step("mosquitto_pub reaches mosquitto_sub through it", async () => {
      await publish(port, topic, "temp: 32");
      await sub.waitForLine("temp: 32", { timeoutMs: QEMU_TIMEOUT_MS });
    });

    await t.step("SIGHUP reloads the config: an added listener opens", async () => {
      writeConfig(config, [port, addedPort]);
      const from = broker.stderr.length;
      broker.kill("SIGHUP");
      await broker.waitForLine(/Reloading config\.$/, {
        stream: "stderr",
        from,
        timeoutMs: QEMU_TIMEOUT_MS,
      });
      await waitForConnack(addedPort, broker);
      await publish(addedPort, topic, "temp: 34");
      const status = await sub.status(QEMU_TIMEOUT_MS);
      assert.equal(status.code, 0, sub.describeOutput());
      assert.ok(sub.stdout.includes("temp: 34"), sub.describeOutput());
    });

    await t.step("SIGTERM: exit code 0", async () => {
      broker.kill("SIGTERM");
      const status = await broker.status(QEMU_TIMEOUT_MS);
      assert.equal(status.code, 0, broker.describeOutput());
    });
  },
});

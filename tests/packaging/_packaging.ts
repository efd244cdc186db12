/**
 * Shared pieces of the packaging tests: the repo's scripts, the tools they need, the offline
 * artifact, temporary configs, and MQTT checks with Debian's `mosquitto_pub`/`mosquitto_sub`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type ChildProcess, delay, runProcess, spawnProcess } from "../_helpers/process.ts";

/** The repository root. */
export const REPO = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** The static qemu user-mode emulator for AArch64 (Debian: qemu-user-static). */
export const QEMU_AARCH64 = "/usr/bin/qemu-aarch64-static";

/** The AArch64 glibc for qemu's `-L` (Debian: libc6-arm64-cross, libgcc-s1-arm64-cross). */
export const AARCH64_SYSROOT = "/usr/aarch64-linux-gnu";

/** Bound for anything that starts Deno under qemu, which takes seconds on a busy machine. */
export const QEMU_TIMEOUT_MS = 120_000;

/** Environment that makes any attempt to reach the network fail at once. */
export const NO_NETWORK_ENV: Record<string, string> = {
  HTTP_PROXY: "http://127.0.0.1:9",
  HTTPS_PROXY: "http://127.0.0.1:9",
  http_proxy: "http://127.0.0.1:9",
  https_proxy: "http://127.0.0.1:9",
  NO_PROXY: "",
  no_proxy: "",
};

/** Whether a file exists. */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Fails with what to install when a Debian package the test needs is missing: `.ci/run`
 * installs them all, so a missing one is a broken CI setup, not a reason to skip.
 */
export function requireFiles(files: Record<string, string>): void {
  const missing = Object.entries(files).filter(([path]) => !exists(path));
  assert.deepEqual(
    missing.map(([path]) => path),
    [],
    `Missing tools; install them with: apt-get install ${
      [...new Set(missing.map(([, pkg]) => pkg))].join(" ")
    }`,
  );
}

/** Whether the tests run as root (chroot needs it). */
export const IS_ROOT = Deno.uid() === 0;

/** Whether this is a Linux host that qemu-user and the Deno npm packages support. */
export const IS_LINUX_HOST = Deno.build.os === "linux" &&
  (Deno.build.arch === "x86_64" || Deno.build.arch === "aarch64");

/** ELF machine of a binary: `aarch64`, `x86_64`, or a description of anything else. */
export function elfArch(path: string): string {
  const file = Deno.openSync(path);
  try {
    const head = new Uint8Array(20);
    file.readSync(head);
    const magic = [0x7f, 0x45, 0x4c, 0x46];
    if (!magic.every((byte, i) => head[i] === byte)) return "not an ELF file";
    const machine = head[18]! | (head[19]! << 8);
    if (machine === 0xb7) return "aarch64";
    if (machine === 0x3e) return "x86_64";
    return `ELF machine ${machine}`;
  } finally {
    file.close();
  }
}

/** A temporary folder, removed with everything in it on dispose. */
export function tempDir(prefix: string): AsyncDisposable & { path: string } {
  const path = Deno.makeTempDirSync({ prefix: `midge-${prefix}-` });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** Runs a repo script and returns its exit code and output. */
export async function runScript(
  script: string,
  args: string[],
  { env = {}, timeoutMs = 300_000 }: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  await using child = spawnProcess(`${REPO}/scripts/${script}`, args, { env });
  const status = await child.status(timeoutMs);
  return { code: status.code, stdout: child.stdout.join("\n"), stderr: child.stderr.join("\n") };
}

/** Paths of one arch's offline artifact (`cross-compile.sh --bundle-only`). */
export interface Bundle {
  /** The Deno CLI for the arch. */
  deno: string;
  /** The bundled main.ts. */
  js: string;
  /** `deno run` flags the artifact is meant to run with. */
  flags: string[];
}

/** Builds the offline artifact for `arch` into `out` and returns its paths. */
export async function buildBundle(arch: "aarch64" | "x86_64", out: string): Promise<Bundle> {
  const result = await runScript("cross-compile.sh", [
    "--target",
    arch,
    "--out",
    out,
    "--bundle-only",
  ]);
  assert.equal(result.code, 0, `cross-compile.sh --bundle-only failed:\n${result.stderr}`);
  const dir = `${out}/${arch}/bundle`;
  const flags = Deno.readTextFileSync(`${dir}/deno-run-flags`).split("\n").filter(Boolean);
  return { deno: `${dir}/deno`, js: `${dir}/midge.js`, flags };
}

/** Writes a config with one loopback listener per port and anonymous access. */
export function writeConfig(path: string, ports: number[]): void {
  const listeners = ports.map((port) => `listener ${port} 127.0.0.1\n`).join("");
  Deno.writeTextFileSync(path, `${listeners}allow_anonymous true\n`);
}

/** CONNECT, MQTT 3.1.1, clean session, keep alive 60 s, client id "probe". */
const CONNECT = new Uint8Array([
  0x10,
  17, // CONNECT, remaining length 17
  0x00,
  0x04,
  0x4d,
  0x51,
  0x54,
  0x54, // protocol name "MQTT"
  0x04, // protocol level 4 (3.1.1)
  0x02, // flags: clean session
  0x00,
  0x3c, // keep alive 60
  0x00,
  0x05,
  0x70,
  0x72,
  0x6f,
  0x62,
  0x65, // client id "probe"
]);

/** Connects to 127.0.0.1:port and returns whether the broker answered with a CONNACK 0. */
async function connackOnce(port: number): Promise<boolean> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    return false;
  }
  try {
    await conn.write(CONNECT);
    const reply = new Uint8Array(4);
    let got = 0;
    while (got < 4) {
      const n = await conn.read(reply.subarray(got));
      if (n === null) return false;
      got += n;
    }
    // CONNACK, remaining length 2, no session present, return code 0 [MQTT-3.2.2-3]
    assert.deepEqual([...reply], [0x20, 0x02, 0x00, 0x00], "Expected CONNACK accepted");
    await conn.write(new Uint8Array([0xe0, 0x00])); // DISCONNECT
    return true;
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    return false;
  } finally {
    conn.close();
  }
}

/**
 * Polls 127.0.0.1:port until a CONNECT is answered with CONNACK; returns the milliseconds since
 * `since` (a `performance.now()` value). `broker` stops the wait when it exits first.
 */
export async function waitForConnack(
  port: number,
  broker: ChildProcess,
  { since = performance.now(), timeoutMs = QEMU_TIMEOUT_MS } = {},
): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (!(await connackOnce(port))) {
    if (broker.exited) {
      throw new Error(`Broker exited before port ${port} answered\n${broker.describeOutput()}`);
    }
    if (performance.now() > deadline) {
      throw new Error(`No CONNACK on port ${port} in ${timeoutMs} ms\n${broker.describeOutput()}`);
    }
    await delay(20);
  }
  return Math.round(performance.now() - since);
}

/** `mosquitto_sub` on 127.0.0.1:port, waiting for `count` messages on `topic`. */
export async function startSubscriber(
  port: number,
  topic: string,
  count: number,
): Promise<ChildProcess> {
  const sub = spawnProcess("mosquitto_sub", [
    "-h",
    "127.0.0.1",
    "-p",
    String(port),
    "-t",
    topic,
    "-C",
    String(count),
    "-d",
  ], { lineBuffered: true });
  // -d prints the SUBACK, so the subscription is in place before anything is published.
  await sub.waitForLine(/ received SUBACK$/, { timeoutMs: QEMU_TIMEOUT_MS });
  return sub;
}

/** `mosquitto_pub` of one message to 127.0.0.1:port; asserts it succeeds. */
export async function publish(port: number, topic: string, message: string): Promise<void> {
  const result = await runProcess("mosquitto_pub", [
    "-h",
    "127.0.0.1",
    "-p",
    String(port),
    "-t",
    topic,
    "-m",
    message,
  ], { timeoutMs: QEMU_TIMEOUT_MS });
  assert.equal(result.code, 0, `mosquitto_pub to port ${port} failed: ${result.stderr.join("\n")}`);
}

/** A message published on `port` reaches a subscriber on the same port. */
export async function assertExchange(port: number, topic: string, message: string): Promise<void> {
  await using sub = await startSubscriber(port, topic, 1);
  await publish(port, topic, message);
  const status = await sub.status(QEMU_TIMEOUT_MS);
  assert.equal(status.code, 0, sub.describeOutput());
  assert.ok(sub.stdout.includes(message), sub.describeOutput());
}

/** VmRSS of a process in KiB, from /proc. */
export function rssKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`Cannot read VmRSS of process ${pid}`);
  return Number(match[1]);
}

/** Size of a file in bytes. */
export function fileSize(path: string): number {
  return Deno.statSync(path).size;
}

/** Bytes as MiB with one decimal, for the measurements printed by the tests. */
export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * The brokers under test, each started as its own process on a free loopback port so that its CPU
 * time and memory can be read from `/proc/PID`: Mosquitto from the Debian package with a minimal
 * `mosquitto.conf`, midge from source (`deno run main.ts -c` with the very same file, as a drop-in
 * is run), and Aedes on Node from `bench/aedes/` with its defaults.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { encodeConnect, openClient } from "./wire.ts";

/** The brokers the harness knows, in the order they are first run. */
export const BROKER_NAMES = ["midge", "mosquitto", "aedes"] as const;

/** One of {@linkcode BROKER_NAMES}. */
export type BrokerName = typeof BROKER_NAMES[number];

/** Whether a broker can run here and, if so, which version. */
export interface BrokerAvailability {
  name: BrokerName;
  available: boolean;
  /** Version string, when available. */
  version?: string;
  /** Why the broker is skipped, when it is not available. */
  reason?: string;
}

/** A running broker process. */
export interface RunningBroker {
  name: BrokerName;
  pid: number;
  port: number;
  /** Milliseconds from spawning the process to the first successful CONNACK. */
  startupMs: number;
  /** Stops the process (SIGTERM, then SIGKILL after a grace period) and cleans up. */
  stop(): Promise<void>;
}

/** Extra settings for {@linkcode startBroker}. */
export interface StartOptions {
  /** Extra `deno run` flags for midge, e.g. `--cpu-prof`. */
  midgeFlags?: string[];
  /** Extra `mosquitto.conf` lines for midge only, e.g. `set_tcp_nodelay true`. */
  midgeConfig?: string[];
  /** Longest wait for the first CONNACK. */
  timeoutMs?: number;
}

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const AEDES_DIR = fileURLToPath(new URL("./aedes/", import.meta.url));
const MOSQUITTO = "/usr/sbin/mosquitto";

/** Runs a command and returns its output, or undefined when it cannot be run. */
async function output(command: string, args: string[], cwd?: string): Promise<string | undefined> {
  try {
    const result = await new Deno.Command(command, { args, cwd, stdin: "null" }).output();
    const decoder = new TextDecoder();
    return decoder.decode(result.stdout) + decoder.decode(result.stderr);
  } catch {
    return undefined;
  }
}

/** True when `path` exists. */
async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks whether `name` can run here. For Aedes this installs `bench/aedes` with npm when its
 * `node_modules` is missing (the pinned version from `bench/aedes/package-lock.json`).
 */
export async function checkBroker(name: BrokerName): Promise<BrokerAvailability> {
  switch (name) {
    case "midge":
      return { name, available: true, version: await midgeVersion() };
    case "mosquitto": {
      if (!(await exists(MOSQUITTO))) {
        return {
          name,
          available: false,
          reason: `${MOSQUITTO} not found (apt-get install mosquitto)`,
        };
      }
      // `mosquitto -h` prints "mosquitto version 2.0.11" and exits with status 3.
      const help = await output(MOSQUITTO, ["-h"]);
      const version = /mosquitto version (\S+)/.exec(help ?? "")?.[1];
      return { name, available: true, version: version ?? "unknown" };
    }
    case "aedes": {
      const node = await output("node", ["--version"]);
      if (node === undefined) return { name, available: false, reason: "node not found on PATH" };
      const packageJson = `${AEDES_DIR}node_modules/aedes/package.json`;
      if (!(await exists(packageJson))) {
        console.error("Installing Aedes into bench/aedes with npm ...");
        const installed = await output("npm", ["ci", "--no-audit", "--no-fund"], AEDES_DIR);
        if (installed === undefined || !(await exists(packageJson))) {
          return {
            name,
            available: false,
            reason: `npm could not install bench/aedes: ${(installed ?? "npm not found").trim()}`,
          };
        }
      }
      const { version } = JSON.parse(await Deno.readTextFile(packageJson)) as { version: string };
      return { name, available: true, version: `${version} (Node ${node.trim()})` };
    }
  }
}

async function midgeVersion(): Promise<string> {
  const source = await Deno.readTextFile(`${ROOT}broker/version.ts`).catch(() => "");
  const version = /VERSION\s*=\s*"([^"]+)"/.exec(source)?.[1] ?? "unknown";
  return `${version} (Deno ${Deno.version.deno})`;
}

/** A free TCP port on 127.0.0.1 (bound, read and released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Keeps the last `limit` characters of a child's stderr for error messages. */
function drain(
  stream: ReadableStream<Uint8Array>,
  limit = 4096,
): { tail: () => string; done: Promise<void> } {
  let tail = "";
  const decoder = new TextDecoder();
  const done = (async () => {
    try {
      for await (const chunk of stream) {
        tail = (tail + decoder.decode(chunk, { stream: true })).slice(-limit);
      }
    } catch {
      // The process ended.
    }
  })();
  return { tail: () => tail.trim(), done };
}

/**
 * Starts broker `name` on a free port and waits for the first CONNACK. The time to it is measured
 * from just before the process is spawned, so it includes runtime start-up and module loading.
 */
export async function startBroker(
  name: BrokerName,
  options: StartOptions = {},
): Promise<RunningBroker> {
  const port = freePort();
  let cleanup = async () => {};
  let command: Deno.Command;
  /** The minimal Mosquitto config, which midge, a drop-in, is started with as well. */
  const writeConfig = async (): Promise<string> => {
    const dir = await Deno.makeTempDir({ prefix: `midge-bench-${name}-` });
    cleanup = () => Deno.remove(dir, { recursive: true });
    const config = `${dir}/mosquitto.conf`;
    await Deno.writeTextFile(
      config,
      [
        `listener ${port} 127.0.0.1`,
        "allow_anonymous true",
        "persistence false",
        "max_queued_messages 1000000",
        // Mosquitto started as root would switch to a "mosquitto" user; midge warns and ignores.
        "user root",
        ...(name === "midge" ? options.midgeConfig ?? [] : []),
        "",
      ].join("\n"),
    );
    return config;
  };
  switch (name) {
    case "midge":
      command = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          // As `deno task start` runs it: a 2 MiB young generation (idle memory per connection).
          "--v8-flags=--max-semi-space-size=2",
          ...(options.midgeFlags ?? []),
          `${ROOT}main.ts`,
          "-c",
          await writeConfig(),
        ],
        cwd: ROOT,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      });
      break;
    case "mosquitto":
      command = new Deno.Command(MOSQUITTO, {
        args: ["-c", await writeConfig()],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      });
      break;
    case "aedes":
      command = new Deno.Command("node", {
        args: [`${AEDES_DIR}server.js`, String(port)],
        cwd: AEDES_DIR,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      });
      break;
  }
  const spawnedAt = performance.now();
  const child = command.spawn();
  const stderr = drain(child.stderr);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });

  const stop = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch {
            // Already gone.
          }
          resolve();
        }, 5000);
      });
      await Promise.race([status, killed]);
      clearTimeout(timer);
    }
    await status;
    await cleanup();
  };

  try {
    const startupMs = await waitForConnack(port, spawnedAt, () => exited, options.timeoutMs);
    return { name, pid: child.pid, port, startupMs, stop };
  } catch (error) {
    await stop();
    await stderr.done;
    const detail = stderr.tail();
    throw new Error(
      `Cannot start ${name}: ${error instanceof Error ? error.message : String(error)}` +
        (detail ? `\n${detail}` : ""),
    );
  }
}

/**
 * Polls `127.0.0.1:port` every millisecond or two until a CONNECT is answered by a CONNACK;
 * returns the ms since `since`.
 */
async function waitForConnack(
  port: number,
  since: number,
  hasExited: () => boolean,
  timeoutMs = 30_000,
): Promise<number> {
  const connect = encodeConnect("bench-probe", 60);
  for (;;) {
    if (hasExited()) throw new Error("the process exited during start-up");
    if (performance.now() - since > timeoutMs) {
      throw new Error(`no CONNACK within ${timeoutMs} ms on port ${port}`);
    }
    let conn: Deno.TcpConn | undefined;
    try {
      conn = await openClient(port, { clientId: "bench-probe", connect });
      const ms = performance.now() - since;
      conn.close();
      return ms;
    } catch {
      // Not listening yet. Polling without a pause would compete for the CPU with the starting
      // broker (Node and Deno start several threads), so wait a millisecond or two.
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
}

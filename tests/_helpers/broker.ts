/**
 * Starts a broker for one test: midge in-process on port 0 with a TCP and a WebSocket listener.
 *
 * Set `MIDGE_TEST_BROKER=mosquitto` to run the same tests against the installed Mosquitto 2.0
 * instead (a temporary config, free ports, killed on dispose). That proves a test asserts what a
 * real broker does, not what midge happens to do.
 *
 * @module
 */

import type { BrokerOptions } from "../../broker/options.ts";
import { Broker } from "../../broker/broker.ts";
import { ChildProcess, delay, freePort, spawnProcess, withTimeout } from "./process.ts";

/** Options of {@linkcode startBroker}: broker options plus how to listen. */
export interface TestBrokerOptions extends BrokerOptions {
  /**
   * Listen without a hostname: midge binds 127.0.0.1 and ::1 on the same port, so that clients
   * given `-h localhost` connect whichever address `localhost` resolves to first.
   */
  localOnly?: boolean;
}

/** A running broker; dispose it to close it and everything it started. */
export interface TestBroker extends AsyncDisposable {
  /** The in-process midge broker, absent when testing against Mosquitto. */
  readonly broker?: Broker;
  /** Which implementation runs: `"midge"` or `"mosquitto"`. */
  readonly kind: "midge" | "mosquitto";
  /** TCP port (MQTT). */
  readonly port: number;
  /** WebSocket port (MQTT over WebSockets, path `/`). */
  readonly wsPort: number;
  /** Resident set size of the process the broker runs in, in bytes. */
  rss(): number;
  /** Closes the broker. Idempotent. */
  close(): Promise<void>;
}

/** Which broker the tests run against: midge unless `MIDGE_TEST_BROKER=mosquitto`. */
export function testBrokerKind(): "midge" | "mosquitto" {
  return Deno.env.get("MIDGE_TEST_BROKER") === "mosquitto" ? "mosquitto" : "midge";
}

/** Starts a broker on free loopback ports with a TCP and a WebSocket listener. */
export function startBroker(options: TestBrokerOptions = {}): Promise<TestBroker> {
  return testBrokerKind() === "mosquitto" ? startMosquitto(options) : startMidge(options);
}

async function startMidge(options: TestBrokerOptions): Promise<TestBroker> {
  const { localOnly = false, ...brokerOptions } = options;
  const broker = new Broker(brokerOptions);
  let closed: Promise<void> | undefined;
  const close = () => closed ??= broker.close();
  try {
    const [tcp] = localOnly
      ? await broker.listen({ port: 0 })
      : await broker.listen({ port: 0, hostname: "127.0.0.1" });
    const [ws] = await broker.listen({ port: 0, hostname: "127.0.0.1", protocol: "websockets" });
    if (!tcp || !ws) throw new Error("Cannot start test broker: listen() returned no listener");
    return {
      broker,
      kind: "midge",
      port: tcp.port,
      wsPort: ws.port,
      rss: () => Deno.memoryUsage().rss,
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Mosquitto config lines equivalent to the midge options the tests use. */
function mosquittoOptionLines(options: BrokerOptions): string[] {
  const lines: string[] = [];
  if (options.maxQueuedMessages !== undefined) {
    lines.push(`max_queued_messages ${options.maxQueuedMessages}`);
  }
  if (options.queueQos0Messages !== undefined) {
    lines.push(`queue_qos0_messages ${options.queueQos0Messages}`);
  }
  if (options.receiveMaximum !== undefined) {
    // Mosquitto's max_inflight_messages is also the Receive Maximum it sends to v5 clients.
    lines.push(`max_inflight_messages ${options.receiveMaximum}`);
  }
  if (options.topicAliasMaximum !== undefined) {
    lines.push(`max_topic_alias ${options.topicAliasMaximum}`);
  }
  if (options.maxKeepalive !== undefined) lines.push(`max_keepalive ${options.maxKeepalive}`);
  if (options.maxPacketSize !== undefined) lines.push(`max_packet_size ${options.maxPacketSize}`);
  if (options.retainAvailable !== undefined) {
    lines.push(`retain_available ${options.retainAvailable}`);
  }
  return lines;
}

async function startMosquitto(options: TestBrokerOptions): Promise<TestBroker> {
  const port = freePort();
  const wsPort = freePort();
  const dir = await Deno.makeTempDir({ prefix: "midge_interop_mosquitto_" });
  const tcpListeners = options.localOnly
    ? [`listener ${port} 127.0.0.1`, `listener ${port} ::1`]
    : [`listener ${port} 127.0.0.1`];
  const config = [
    // The tests run as root; Mosquitto would otherwise drop to the missing "mosquitto" user.
    "user root",
    "allow_anonymous true",
    "persistence false",
    "log_dest stderr",
    "log_type all",
    ...mosquittoOptionLines(options),
    ...tcpListeners,
    `listener ${wsPort} 127.0.0.1`,
    "protocol websockets",
  ].join("\n");
  const configPath = `${dir}/mosquitto.conf`;
  await Deno.writeTextFile(configPath, config + "\n");
  const child: ChildProcess = spawnProcess("mosquitto", ["-c", configPath]);
  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= (async () => {
      await child.close();
      await Deno.remove(dir, { recursive: true });
    })();
  try {
    await child.waitForLine(/ running$/, { timeoutMs: 10_000, stream: "stderr" });
    // "running" is printed after every listener is bound; a connect probe makes sure of it.
    await withTimeout(waitForPort(port), 10_000, `Mosquitto listening on ${port}`);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    kind: "mosquitto",
    port,
    wsPort,
    rss: () => processRss(child.pid),
    close,
    [Symbol.asyncDispose]: close,
  };
}

async function waitForPort(port: number): Promise<void> {
  for (;;) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await delay(20);
    }
  }
}

/** VmRSS of a process from `/proc/<pid>/status`, in bytes. */
export function processRss(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`Cannot read VmRSS of process ${pid}`);
  return Number(match[1]) * 1024;
}

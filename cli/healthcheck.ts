/**
 * `midge healthcheck`: proves the broker routes messages, for a container HEALTHCHECK in an
 * image without a shell. It connects, subscribes to a topic of its own, publishes one message
 * there and waits for it; exit 0 when it arrives, 1 with a one-line reason otherwise.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { MqttClient, randomClientId } from "../client/client.ts";
import { ConnectionRefusedError } from "../client/errors.ts";
import {
  parseProtocolVersion,
  reportUsageError,
  UsageError,
  writeError,
  writeLine,
} from "./client_options.ts";

/** Flags of `midge healthcheck` as commander parses them. */
export interface HealthcheckFlags {
  host?: string;
  port?: string;
  username?: string;
  pw?: string;
  protocolVersion?: string;
  timeout?: string;
  quiet?: boolean;
}

const DEFAULT_TIMEOUT_SECONDS = 5;

/**
 * The `healthcheck` subcommand.
 *
 * @example
 * ```ts ignore
 * import { Command } from "@commander-js/extra-typings";
 * import { healthcheckCommand } from "./healthcheck.ts";
 * await new Command("midge").addCommand(healthcheckCommand()).parseAsync(["healthcheck"], {
 *   from: "user",
 * });
 * ```
 */
export function healthcheckCommand() {
  return new Command("healthcheck")
    .description("Exit 0 if the broker delivers a message to this client, 1 otherwise")
    .helpOption("--help", "display this message")
    .option("-h, --host <host>", "broker host (default localhost)")
    .option("-p, --port <port>", "broker port (default 1883)")
    .option("-u, --username <username>", "user name")
    .option("-P, --pw <password>", "password")
    .option("-V, --protocol-version <version>", "mqttv31, mqttv311 (default) or mqttv5")
    .option(
      "--timeout <seconds>",
      `give up after this many seconds (default ${DEFAULT_TIMEOUT_SECONDS})`,
    )
    .option("--quiet", "print nothing on success")
    .action(async (flags) => {
      Deno.exit(await runHealthcheck(flags));
    });
}

/** Runs the health check; resolves with the exit code (0 healthy, 1 not). */
export async function runHealthcheck(flags: HealthcheckFlags): Promise<number> {
  let port = 1883;
  let timeoutMs = DEFAULT_TIMEOUT_SECONDS * 1000;
  let version: 3 | 4 | 5 = 4;
  try {
    if (flags.port !== undefined) {
      port = Number(flags.port);
      if (!/^\d+$/.test(flags.port) || port < 1 || port > 65535) {
        throw new UsageError(`Error: Invalid port given: ${flags.port}`);
      }
    }
    if (flags.timeout !== undefined) {
      const seconds = Number(flags.timeout);
      if (flags.timeout.trim() === "" || !(seconds > 0)) {
        throw new UsageError(`Error: Invalid timeout given: ${flags.timeout}`);
      }
      timeoutMs = seconds * 1000;
    }
    if (flags.protocolVersion !== undefined) {
      version = parseProtocolVersion(flags.protocolVersion);
    }
  } catch (error) {
    if (error instanceof UsageError) return reportUsageError(error, "healthcheck");
    throw error;
  }
  const host = flags.host ?? "localhost";
  const started = performance.now();
  const clientId = randomClientId("midge-hc-");
  const client = new MqttClient({
    hostname: host,
    port,
    protocolVersion: version,
    clientId,
    keepalive: Math.max(5, Math.ceil(timeoutMs / 1000) * 2),
    connectTimeoutMs: timeoutMs,
    ...(flags.username !== undefined ? { username: flags.username } : {}),
    ...(flags.pw !== undefined ? { password: flags.pw } : {}),
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no message round trip within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([roundTrip(client, clientId), timedOut]);
    const ms = Math.round(performance.now() - started);
    if (!flags.quiet) writeLine(`healthy: message round trip via ${host}:${port} in ${ms} ms`);
    return 0;
  } catch (error) {
    const reason = error instanceof ConnectionRefusedError
      ? `connection refused by the broker: ${error.message}`
      : error instanceof Error
      ? error.message
      : String(error);
    writeError(`unhealthy: ${host}:${port}: ${reason}`);
    return 1;
  } finally {
    clearTimeout(timer);
    client.close();
  }
}

/** Connect, subscribe to a unique topic, publish to it at QoS 1, wait for the message. */
async function roundTrip(client: MqttClient, clientId: string): Promise<void> {
  await client.connect();
  const topic = `midge/healthcheck/${clientId}`;
  const payload = crypto.randomUUID();
  const messages = client.messages();
  const suback = await client.subscribe([{ topicFilter: topic, qos: 1 }]);
  const code = suback.reasonCodes[0] ?? 0x80;
  if (code >= 0x80) {
    throw new Error(`subscription refused with code 0x${code.toString(16)}`);
  }
  const published = await client.publish(topic, payload, { qos: 1 });
  if (published.reasonCode >= 0x80) {
    throw new Error(`publish refused with code 0x${published.reasonCode.toString(16)}`);
  }
  for await (const message of messages) {
    if (message.topic === topic && new TextDecoder().decode(message.payload) === payload) {
      await client.disconnect();
      return;
    }
  }
  throw new Error("connection closed before the message came back");
}

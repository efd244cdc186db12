/**
 * A private RabbitMQ node for the bridge tests: Debian's `rabbitmq-server` with the MQTT plugin,
 * its own node name, ports, data folder and epmd, stopped (epmd too, by PID) on dispose.
 *
 * @module
 */

import { type ChildProcess, delay, freePort, spawnProcess } from "../_helpers/process.ts";

const SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server";
const CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl";

/** Whether Debian's rabbitmq-server is installed here. */
export function rabbitMqInstalled(): boolean {
  try {
    return Deno.statSync(SERVER).isFile;
  } catch {
    return false;
  }
}

/** A running RabbitMQ node. */
export interface RabbitMq extends AsyncDisposable {
  /** MQTT 3.1.1 port (plugin rabbitmq_mqtt). */
  readonly mqttPort: number;
  /** AMQP 0-9-1 port. */
  readonly amqpPort: number;
}

/**
 * Starts a node (about 11 s on a small machine) and waits until its MQTT port accepts. It runs
 * as the current user (root in CI) straight from `/usr/lib/rabbitmq/bin`, so the Debian wrapper's
 * switch to the `rabbitmq` user does not reset HOME.
 */
export async function startRabbitMq(): Promise<RabbitMq> {
  const dir = await Deno.makeTempDir({ prefix: "midge_rabbitmq_" });
  const amqpPort = freePort();
  const mqttPort = freePort();
  const epmdPort = String(freePort());
  await Deno.writeTextFile(`${dir}/enabled_plugins`, "[rabbitmq_mqtt].\n");
  await Deno.writeTextFile(
    `${dir}/rabbitmq.conf`,
    [
      `listeners.tcp.default = 127.0.0.1:${amqpPort}`,
      `mqtt.listeners.tcp.default = 127.0.0.1:${mqttPort}`,
      "mqtt.allow_anonymous = true",
      "loopback_users = none",
    ].join("\n") + "\n",
  );
  const env = {
    HOME: dir,
    RABBITMQ_NODENAME: `midge${Deno.pid}@localhost`,
    RABBITMQ_MNESIA_BASE: `${dir}/mnesia`,
    RABBITMQ_LOG_BASE: `${dir}/log`,
    RABBITMQ_ENABLED_PLUGINS_FILE: `${dir}/enabled_plugins`,
    RABBITMQ_CONFIG_FILE: `${dir}/rabbitmq`,
    RABBITMQ_DIST_PORT: String(freePort()),
    ERL_EPMD_PORT: epmdPort,
  };
  const server: ChildProcess = spawnProcess(SERVER, [], { env });
  const stop = async () => {
    {
      await using ctl = spawnProcess(CTL, ["stop"], { env });
      await ctl.status(30_000).catch(() => {});
    }
    await server.status(30_000).catch(() => server.close());
    await server.close();
    // epmd outlives the node; it is ours when it listens on our port.
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      try {
        const comm = Deno.readTextFileSync(`/proc/${entry.name}/comm`).trim();
        if (comm !== "epmd") continue;
        const environ = Deno.readTextFileSync(`/proc/${entry.name}/environ`).split("\0");
        if (environ.includes(`ERL_EPMD_PORT=${epmdPort}`)) Deno.kill(Number(entry.name), "SIGTERM");
      } catch {
        // Gone meanwhile.
      }
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const deadline = Date.now() + 90_000;
  for (;;) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: mqttPort });
      conn.close();
      break;
    } catch {
      if (server.exited || Date.now() > deadline) {
        await stop();
        throw new Error(`RabbitMQ did not start:\n${server.describeOutput()}`);
      }
      await delay(200);
    }
  }
  return { mqttPort, amqpPort, [Symbol.asyncDispose]: stop };
}

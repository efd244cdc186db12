/**
 * RabbitMQ as the clustered engine upstream: readings from `sensor/#` on midge reach an MQTT
 * subscriber on RabbitMQ and, through its `amq.topic` exchange, an AMQP 0-9-1 consumer (Python
 * pika); a command published on RabbitMQ reaches a local subscriber. RabbitMQ's MQTT plugin
 * speaks 3.1.1 only and does not know `try_private`, so the bridge falls back to an ordinary
 * client and drops the copies of its own messages that RabbitMQ sends back.
 *
 * One node is started for the whole file (it takes about 11 s).
 */

import assert from "node:assert/strict";
import { delay, spawnProcess, waitUntil } from "../_helpers/process.ts";
import { rabbitMqInstalled, startRabbitMq } from "./_rabbitmq.ts";
import { Collector, publisher, startMidge } from "./_bridge.ts";

const CONSUMER = new URL("./_amqp_consume.py", import.meta.url).pathname;
const installed = rabbitMqInstalled();
if (!installed) {
  console.warn(
    "Skipping the RabbitMQ bridge tests: /usr/lib/rabbitmq/bin/rabbitmq-server is missing (apt-get install rabbitmq-server python3-pika)",
  );
}

Deno.test({
  name:
    "Bridge to RabbitMQ (MQTT 3.1.1) reaches MQTT and AMQP consumers there and brings commands back",
  ignore: !installed,
  async fn(t) {
    await using rabbit = await startRabbitMq();
    await using pi = await startMidge(`
connection rabbit
address 127.0.0.1:${rabbit.mqttPort}
bridge_protocol_version mqttv311
remote_clientid pi7
remote_username guest
remote_password guest
restart_timeout 1
topic sensor/# out 1
topic cmd/# in 1
topic chat/# both 1
`);
    await waitUntil(() => pi.broker.bridges.get("rabbit")?.connected === true, "bridge up", 30_000);

    await t.step("try_private is refused and the bridge connects as an ordinary client", () => {
      assert.equal(
        pi.log.matching(/does not accept try_private; connecting as an ordinary client/).length,
        1,
      );
    });

    await t.step(
      "readings reach an MQTT subscriber and an AMQP consumer on amq.topic",
      async () => {
        await using atRabbit = await Collector.subscribe(rabbit.mqttPort, ["sensor/#"], {
          protocolVersion: 4,
          qos: 1,
        });
        await using amqp = spawnProcess("/usr/bin/python3", [
          CONSUMER,
          String(rabbit.amqpPort),
          "sensor.#",
          "5",
        ]);
        await amqp.waitForLine("READY", { timeoutMs: 30_000 });
        await using local = await publisher(pi.port);
        for (let i = 0; i < 5; i++) {
          await local.publish(`sensor/room${i}`, `${20 + i}.5`, { qos: 1 });
        }
        assert.deepStrictEqual(
          await atRabbit.waitFor(5),
          Array.from({ length: 5 }, (_, i) => `sensor/room${i} ${20 + i}.5`),
        );
        await amqp.status(30_000);
        assert.deepStrictEqual(
          amqp.stdout.slice(1),
          Array.from({ length: 5 }, (_, i) => `sensor.room${i} ${20 + i}.5`),
        );
      },
    );

    await t.step("a command published on RabbitMQ reaches a local subscriber", async () => {
      await using atPi = await Collector.subscribe(pi.port, ["cmd/#"]);
      await using cloud = await publisher(rabbit.mqttPort);
      await cloud.publish("cmd/heating", "on", { qos: 1 });
      assert.deepStrictEqual(await atPi.waitFor(1), ["cmd/heating on"]);
    });

    await t.step(
      "a both topic does not loop through RabbitMQ, which echoes what we send",
      async () => {
        await using atPi = await Collector.subscribe(pi.port, ["chat/#"]);
        await using atRabbit = await Collector.subscribe(rabbit.mqttPort, ["chat/#"], {
          protocolVersion: 4,
          qos: 1,
        });
        await using local = await publisher(pi.port);
        await using cloud = await publisher(rabbit.mqttPort);
        await local.publish("chat/pi", "from the pi", { qos: 1 });
        await cloud.publish("chat/cloud", "from the cloud", { qos: 1 });
        await atPi.waitFor(2);
        await atRabbit.waitFor(2);
        await delay(500);
        assert.deepStrictEqual(atPi.texts.toSorted(), [
          "chat/cloud from the cloud",
          "chat/pi from the pi",
        ]);
        assert.deepStrictEqual(atRabbit.texts.toSorted(), [
          "chat/cloud from the cloud",
          "chat/pi from the pi",
        ]);
      },
    );
    await pi.close();
  },
});

/**
 * The tutorial scenario, verbatim, with the stock Mosquitto command-line clients: a subscriber on
 * `container/message` gets `temp: 30/32/34`, and a Tasmota-style subscriber on `stat/ch4/+` gets
 * the RESULT/POWER1 pairs a switch publishes when toggled.
 *
 * @module
 */

import assert from "node:assert/strict";
import { startBroker } from "../_helpers/broker.ts";
import { hasIpv6Loopback, runProcess, spawnProcess } from "../_helpers/process.ts";

/** Lines `mosquitto_sub -d` prints about the protocol, as opposed to received payloads. */
function isDebugLine(line: string): boolean {
  return line.startsWith("Client ") || line.startsWith("Subscribed (mid");
}

/** Publishes one message with `mosquitto_pub -h localhost`, asserting it exits with 0. */
async function mosquittoPub(port: number, topic: string, message: string): Promise<void> {
  const result = await runProcess("mosquitto_pub", [
    "-h",
    "localhost",
    "-p",
    String(port),
    "-t",
    topic,
    "-m",
    message,
  ]);
  assert.equal(result.code, 0, `mosquitto_pub -t ${topic} failed: ${result.stderr.join("\n")}`);
}

const ipv6 = hasIpv6Loopback();

Deno.test({
  name: "mosquitto_sub/mosquitto_pub on localhost: the tutorial scenario",
  ignore: !ipv6,
  async fn(t) {
    // `localhost` may resolve to ::1 before 127.0.0.1, so the broker listens on both.
    await using broker = await startBroker({ localOnly: true });
    const port = String(broker.port);

    await t.step("mosquitto_sub receives temp: 30, 32, 34 in order", async () => {
      // -C 3 exits after three messages; -d prints the SUBACK, which proves the subscription is
      // in place before anything is published.
      await using sub = spawnProcess("mosquitto_sub", [
        "-h",
        "localhost",
        "-p",
        port,
        "-t",
        "container/message",
        "-C",
        "3",
        "-d",
      ], { lineBuffered: true });
      await sub.waitForLine(/ received SUBACK$/);
      for (const temp of [30, 32, 34]) {
        await mosquittoPub(broker.port, "container/message", `temp: ${temp}`);
      }
      const status = await sub.status();
      assert.equal(status.code, 0, sub.describeOutput());
      assert.deepEqual(sub.stdout.filter((line) => !isDebugLine(line)), [
        "temp: 30",
        "temp: 32",
        "temp: 34",
      ]);
    });

    await t.step(
      "a subscriber on stat/ch4/+ receives a Tasmota switch's RESULT and POWER1",
      async () => {
        const sequence: [topic: string, payload: string][] = [
          ["stat/ch4/RESULT", '{"POWER1":"OFF"}'],
          ["stat/ch4/POWER1", "OFF"],
          ["stat/ch4/RESULT", '{"POWER1":"ON"}'],
          ["stat/ch4/POWER1", "ON"],
          ["stat/ch4/RESULT", '{"POWER1":"OFF"}'],
          ["stat/ch4/POWER1", "OFF"],
          ["stat/ch4/RESULT", '{"POWER1":"ON"}'],
          ["stat/ch4/POWER1", "ON"],
        ];
        await using sub = spawnProcess("mosquitto_sub", [
          "-h",
          "localhost",
          "-p",
          port,
          "-t",
          "stat/ch4/+",
          "-C",
          String(sequence.length),
          "-v",
          "-d",
        ], { lineBuffered: true });
        await sub.waitForLine(/ received SUBACK$/);
        // Topics the wildcard must not match: a deeper level and a sibling device.
        await mosquittoPub(broker.port, "stat/ch4/RESULT/extra", "not for +");
        await mosquittoPub(broker.port, "stat/ch5/POWER1", "OFF");
        for (const [topic, payload] of sequence) await mosquittoPub(broker.port, topic, payload);
        const status = await sub.status();
        assert.equal(status.code, 0, sub.describeOutput());
        // -v prints "topic payload".
        assert.deepEqual(
          sub.stdout.filter((line) => !isDebugLine(line)),
          sequence.map(([topic, payload]) => `${topic} ${payload}`),
        );
      },
    );

    await t.step("the broker serves both 127.0.0.1 and ::1 on the same port", async () => {
      for (const host of ["127.0.0.1", "::1"]) {
        const result = await runProcess("mosquitto_pub", [
          "-h",
          host,
          "-p",
          port,
          "-t",
          "container/message",
          "-m",
          `via ${host}`,
        ]);
        assert.equal(
          result.code,
          0,
          `mosquitto_pub -h ${host} failed: ${result.stderr.join("\n")}`,
        );
      }
    });
  },
});

if (!ipv6) {
  Deno.test("mosquitto_sub/mosquitto_pub on localhost: skipped, no ::1 on this machine", () => {
    console.log("Skipping the localhost tutorial scenario: ::1 cannot be bound here");
  });
}

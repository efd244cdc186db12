/**
 * A house of stock Mosquitto clients: five thermostats publish on `sensor/thermostat/room1..5`,
 * five heaters each follow their own room, an alarm follows every room with
 * `sensor/thermostat/+`, and a recorder logs everything with `#`, including a switch input on
 * `container1/input/input1`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { startBroker } from "../_helpers/broker.ts";
import { type ChildProcess, runProcess, spawnProcess } from "../_helpers/process.ts";

const ROOMS = [1, 2, 3, 4, 5];
const READINGS = 3;

/** The reading thermostat `room` publishes as its `n`-th message. */
function reading(room: number, n: number): string {
  return `${19 + room}.${n}`;
}

/** Lines `mosquitto_sub -d` prints about the protocol, as opposed to received messages. */
function isDebugLine(line: string): boolean {
  return line.startsWith("Client ") || line.startsWith("Subscribed (mid");
}

/** The `topic payload` lines a `mosquitto_sub -v -d` printed. */
function received(sub: ChildProcess): string[] {
  return sub.stdout.filter((line) => !isDebugLine(line));
}

/** The lines of `lines` that start with `topic `, in order. */
function onTopic(lines: string[], topic: string): string[] {
  return lines.filter((line) => line.startsWith(`${topic} `));
}

Deno.test("house: thermostats, heaters, an alarm and a recorder with mosquitto_pub/mosquitto_sub", async () => {
  await using broker = await startBroker();
  const port = String(broker.port);
  const roomTopic = (room: number) => `sensor/thermostat/room${room}`;
  const expectedRoom = (room: number) =>
    Array.from({ length: READINGS }, (_, n) => `${roomTopic(room)} ${reading(room, n)}`);

  const subscribe = (topic: string, count: number) =>
    spawnProcess("mosquitto_sub", [
      "-p",
      port,
      "-h",
      "127.0.0.1",
      "-t",
      topic,
      "-q",
      "1",
      "-C",
      String(count),
      "-v",
      "-d",
    ], { lineBuffered: true });

  const heaters = ROOMS.map((room) => subscribe(roomTopic(room), READINGS));
  const alarm = subscribe("sensor/thermostat/+", ROOMS.length * READINGS);
  const recorder = subscribe("#", ROOMS.length * READINGS + 1);
  const subscribers = [...heaters, alarm, recorder];
  // Every subscriber is killed (if still running) and awaited, whatever happens below.
  await using _subscribers = {
    async [Symbol.asyncDispose]() {
      await Promise.all(subscribers.map((sub) => sub.close()));
    },
  };
  await Promise.all(subscribers.map((sub) => sub.waitForLine(/ received SUBACK$/)));

  // Each thermostat is one long-lived `mosquitto_pub -l` (a message per stdin line); they
  // publish in turns so that the rooms' messages interleave at the broker.
  const thermostats = ROOMS.map((room) =>
    spawnProcess("mosquitto_pub", [
      "-p",
      port,
      "-h",
      "127.0.0.1",
      "-i",
      `thermostat${room}`,
      "-t",
      roomTopic(room),
      "-q",
      "1",
      "-l",
    ], { stdin: true })
  );
  await using _thermostats = {
    async [Symbol.asyncDispose]() {
      await Promise.all(thermostats.map((pub) => pub.close()));
    },
  };
  for (let n = 0; n < READINGS; n++) {
    for (const [i, pub] of thermostats.entries()) await pub.write(`${reading(i + 1, n)}\n`);
  }
  for (const pub of thermostats) await pub.closeStdin();
  for (const pub of thermostats) {
    const status = await pub.status();
    assert.equal(status.code, 0, pub.describeOutput());
  }

  const input = await runProcess("mosquitto_pub", [
    "-p",
    port,
    "-h",
    "127.0.0.1",
    "-t",
    "container1/input/input1",
    "-m",
    "ON",
    "-q",
    "1",
  ]);
  assert.equal(input.code, 0, input.stderr.join("\n"));

  for (const sub of subscribers) {
    const status = await sub.status();
    assert.equal(status.code, 0, sub.describeOutput());
  }

  for (const [i, heater] of heaters.entries()) {
    // A heater hears its own room only, every reading once, in order.
    assert.deepEqual(received(heater), expectedRoom(i + 1), `heater ${i + 1}`);
  }

  const alarmLines = received(alarm);
  assert.equal(alarmLines.length, ROOMS.length * READINGS, alarmLines.join("\n"));
  for (const room of ROOMS) {
    // Messages from one publisher on one topic keep their order [MQTT-4.6.0-5].
    assert.deepEqual(
      onTopic(alarmLines, roomTopic(room)),
      expectedRoom(room),
      `alarm, room${room}`,
    );
  }

  const recorderLines = received(recorder);
  assert.equal(recorderLines.length, ROOMS.length * READINGS + 1, recorderLines.join("\n"));
  for (const room of ROOMS) {
    assert.deepEqual(
      onTopic(recorderLines, roomTopic(room)),
      expectedRoom(room),
      `recorder, room${room}`,
    );
  }
  assert.deepEqual(onTopic(recorderLines, "container1/input/input1"), [
    "container1/input/input1 ON",
  ]);
  // "#" does not match $SYS topics [MQTT-4.7.2-1], so nothing else reached the recorder.
  assert.ok(recorderLines.every((line) => !line.startsWith("$")), recorderLines.join("\n"));
});

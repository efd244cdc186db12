/**
 * The `midge` command with bridges in its mosquitto.conf: what was queued for a remote that is
 * down survives a kill -9 (persistence on), and a SIGHUP adds a bridge while the first one keeps
 * delivering over its connection.
 */

import assert from "node:assert/strict";
import { MqttClient } from "../../client/client.ts";
import { freePort, waitUntil } from "../_helpers/process.ts";
import { spawnServe, waitForLog, writeConfig } from "../cli/_serve.ts";
import { Collector, publisher, startMidge, startMosquittoOn } from "./_bridge.ts";

const RUNNING = /: midge version \S+ running$/;

Deno.test("Bridge loses nothing of 1,000 QoS 1 messages queued while the remote is down across a kill -9", async () => {
  const dir = await Deno.makeTempDir({ prefix: "midge_bridge_kill_" });
  try {
    const remotePort = freePort();
    const localPort = freePort();
    const mosquittoLines = [
      "persistence true",
      `persistence_location ${dir}/`,
      "max_queued_messages 5000",
    ];
    // The remote's subscriber has a persistent session, so the remote keeps what arrives for it
    // while it is away; it reads everything at the end, in order.
    const subscriber = (clean: boolean) =>
      new MqttClient({ hostname: "127.0.0.1", port: remotePort, clientId: "cloud-app", clean });
    let mosquitto = await startMosquittoOn(remotePort, dir, mosquittoLines);
    {
      const app = subscriber(false);
      await app.connect();
      await app.subscribe([{ topicFilter: "sensor/#", qos: 1 }]);
      await app.disconnect();
    }
    const config = `${dir}/midge.conf`;
    await writeConfig(config, [
      `listener ${localPort} 127.0.0.1`,
      "allow_anonymous true",
      "persistence true",
      `persistence_location ${dir}/`,
      "connection cloud",
      `address 127.0.0.1:${remotePort}`,
      "remote_clientid pi",
      "restart_timeout 1",
      "topic sensor/# out 1",
    ]);
    let midge = spawnServe(["-c", config]);
    try {
      await waitForLog(midge, /: Bridge cloud connected to 127\.0\.0\.1:\d+\.$/);
      // The remote goes away; the messages queue in the bridge's session, on disk.
      await mosquitto.stop();
      await waitForLog(
        midge,
        /: Bridge cloud disconnected from 127\.0\.0\.1:\d+: .*Retrying in 1 s\.$/,
      );
      {
        await using local = await publisher(localPort, 4, "sensor-hub");
        for (let i = 0; i < 1000; i++) await local.publish("sensor/t", String(i), { qos: 1 });
      }
      midge.kill("SIGKILL");
      await midge.status();
      await midge.close();

      midge = spawnServe(["-c", config]);
      await waitForLog(midge, RUNNING);
      await waitForLog(midge, /: Restored \d+ sessions?, .*1,000 queued/);
      mosquitto = await startMosquittoOn(remotePort, dir, mosquittoLines);
      await waitForLog(midge, /: Bridge cloud connected to 127\.0\.0\.1:\d+\.$/);
      const app = subscriber(false);
      const received: string[] = [];
      app.onMessage((m) => received.push(new TextDecoder().decode(m.payload)));
      await app.connect();
      await waitUntil(
        () => received.length >= 1000,
        `1000 messages, got ${received.length}`,
        30_000,
      );
      await app.disconnect();
      assert.deepStrictEqual(received, Array.from({ length: 1000 }, (_, i) => String(i)));
    } finally {
      await midge.close();
      await mosquitto.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Bridge added by SIGHUP starts while the first keeps delivering without a reconnect", async () => {
  await using hubA = await startMidge();
  await using hubB = await startMidge();
  const dir = await Deno.makeTempDir({ prefix: "midge_bridge_reload_" });
  try {
    const port = freePort();
    const config = `${dir}/midge.conf`;
    const base = [
      `listener ${port} 127.0.0.1`,
      "allow_anonymous true",
      "connection a",
      `address 127.0.0.1:${hubA.port}`,
      "remote_clientid pi-a",
      "topic a/# out 1",
    ];
    await writeConfig(config, base);
    await using midge = spawnServe(["-c", config]);
    await waitForLog(midge, /: Bridge a connected to 127\.0\.0\.1:\d+\.$/);
    await using atA = await Collector.subscribe(hubA.port, ["a/#"]);
    await using atB = await Collector.subscribe(hubB.port, ["b/#"]);
    await using local = await publisher(port);
    let sent = 0;
    let sending = true;
    const publishing = (async () => {
      while (sending) await local.publish("a/tick", String(sent++), { qos: 1 });
    })();
    await atA.waitFor(10);

    await writeConfig(config, [
      ...base,
      "connection b",
      `address 127.0.0.1:${hubB.port}`,
      "remote_clientid pi-b",
      "topic b/# out 1",
    ]);
    midge.kill("SIGHUP");
    await waitForLog(midge, /: Bridge b connected to 127\.0\.0\.1:\d+\.$/);
    await local.publish("b/hello", "world", { qos: 1 });
    assert.deepStrictEqual(await atB.waitFor(1), ["b/hello world"]);
    const before = atA.messages.length;
    await atA.waitFor(before + 10);
    sending = false;
    await publishing;
    await atA.waitFor(sent);
    assert.deepStrictEqual(atA.texts, Array.from({ length: sent }, (_, i) => `a/tick ${i}`));
    // One connection of bridge a to hub A, before and after the reload.
    assert.equal(hubA.log.matching(/New client connected .* as pi-a /).length, 1);
    assert.equal(midge.stderr.filter((line) => /Connecting bridge a /.test(line)).length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

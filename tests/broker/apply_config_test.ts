import assert from "node:assert/strict";
import { Broker } from "../../broker/broker.ts";
import { parseConfig } from "../../broker/config/parse.ts";
import { MqttClient } from "../../client/client.ts";

/** A port free right now (bind 0, read, close). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function config(text: string) {
  return parseConfig(text, { file: "test.conf" });
}

async function canConnect(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

Deno.test("Broker.applyConfig() adds and removes listeners while clients on a kept one stay", async () => {
  const broker = new Broker({ connectionMessages: false });
  const [p1, p2] = [freePort(), freePort()];
  const client = new MqttClient({ port: p1, clientId: "stay", protocolVersion: 5 });
  try {
    await broker.applyConfig(config(`listener ${p1} 127.0.0.1\nallow_anonymous true\n`));
    await client.connect();
    await client.subscribe([{ topicFilter: "t", qos: 1 }]);
    const received: string[] = [];
    client.onMessage((m) => received.push(new TextDecoder().decode(m.payload)));

    // Reload: a second listener appears.
    await broker.applyConfig(
      config(`listener ${p1} 127.0.0.1\nlistener ${p2} 127.0.0.1\nallow_anonymous true\n`),
    );
    assert.equal(await canConnect(p2), true);
    const other = new MqttClient({ port: p2, clientId: "other" });
    await other.connect();
    await other.publish("t", "one", { qos: 1 });
    await other.disconnect();

    // Reload: it goes again; the first client is still connected and receiving.
    await broker.applyConfig(config(`listener ${p1} 127.0.0.1\nallow_anonymous true\n`));
    assert.equal(await canConnect(p2), false);
    const third = new MqttClient({ port: p1, clientId: "third" });
    await third.connect();
    await third.publish("t", "two", { qos: 1 });
    await third.disconnect();
    for (let i = 0; i < 100 && received.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(received, ["one", "two"]);
    // The other clients' DISCONNECTs may still be in flight.
    for (let i = 0; i < 100 && broker.clientsConnected > 1; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(broker.clientsConnected, 1);
  } finally {
    client.close();
    await broker.close();
  }
});

Deno.test("Broker.applyConfig() that cannot open a listener keeps the running config", async () => {
  const broker = new Broker({ connectionMessages: false });
  const p1 = freePort();
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const taken = (blocker.addr as Deno.NetAddr).port;
  try {
    await broker.applyConfig(config(`listener ${p1} 127.0.0.1\nallow_anonymous true\n`));
    await assert.rejects(
      broker.applyConfig(
        config(`listener ${p1} 127.0.0.1\nlistener ${taken} 127.0.0.1\nmax_queued_messages 5\n`),
      ),
      Deno.errors.AddrInUse,
    );
    assert.equal(broker.options.maxQueuedMessages, 1000);
    assert.equal(await canConnect(p1), true);
    const client = new MqttClient({ port: p1, clientId: "anon" });
    await client.connect(); // still anonymous: the failed config never applied
    await client.disconnect();
  } finally {
    blocker.close();
    await broker.close();
  }
});

Deno.test("Broker.applyConfig() with allow_anonymous false refuses anonymous clients (0x87 / 5)", async () => {
  const broker = new Broker({ connectionMessages: false });
  const p1 = freePort();
  try {
    await broker.applyConfig(config(`listener ${p1} 127.0.0.1\n`));
    for (const protocolVersion of [4, 5] as const) {
      const client = new MqttClient({ port: p1, protocolVersion });
      await assert.rejects(client.connect(), (error: Error) => {
        assert.match(error.message, /not authori[sz]ed/i);
        return true;
      });
      client.close();
    }
  } finally {
    await broker.close();
  }
});

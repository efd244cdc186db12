/**
 * Authentication and authorisation in the broker, driven by `mosquitto.conf` text: password
 * files, `allow_anonymous`, `use_username_as_clientid`, `clientid_prefixes`, ACLs on PUBLISH,
 * SUBSCRIBE and delivery, and reloads. In-memory clients: fast and deterministic.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ReasonCode } from "../../codec/reason_code.ts";
import type { PublishPacket } from "../../codec/types.ts";
import { parseConfig } from "../../broker/config/parse.ts";
import { Buffer } from "node:buffer";
import { freePort } from "../_helpers/process.ts";
import { connectPacket, RawClient } from "../_helpers/raw_mqtt.ts";
import { bytes, configureBroker, PASSWORD_FILE, TempDir } from "./_security.ts";

const V3_NOT_AUTHORISED = 5;

Deno.test("CONNECT with a password file: good passwords in, others refused as Mosquitto 2.0 does", async () => {
  await using dir = await TempDir.create();
  const passwd = dir.write("passwd", PASSWORD_FILE);
  await using midge = await configureBroker(`listener 1883\npassword_file ${passwd}\n`);
  for (const version of [4, 5] as const) {
    const refused = version === 5 ? ReasonCode.NotAuthorized : V3_NOT_AUTHORISED;
    const cases: [string | undefined, string | undefined, number][] = [
      ["alice", "secret", 0],
      ["bob", "hunter2", 0],
      ["alice", "hunter2", refused],
      ["nobody", "secret", refused],
      ["alice", undefined, refused],
      [undefined, undefined, refused], // allow_anonymous defaults to false with a listener
    ];
    for (const [username, password, code] of cases) {
      const { client, connack } = await midge.connect({
        protocolVersion: version,
        clientId: `c-${username}`,
        ...(username !== undefined ? { username } : {}),
        ...(password !== undefined ? { password: bytes(password) } : {}),
      });
      assert.equal(connack.reasonCode, code, `v${version} ${username}/${password}`);
      if (code !== 0) await client.closedByBroker();
      else client.close();
    }
  }
  // Refusals are logged with the address, never with the password.
  const refusals = midge.log.matching(/not authorised/);
  assert.ok(refusals.length >= 8);
  assert.match(
    refusals[0] ?? "",
    /^info Client c-alice from 127\.0\.0\.1:\d+ disconnected, not authorised\.$/,
  );
  assert.equal(midge.log.lines.some((line) => /secret|hunter2/.test(line)), false);
});

Deno.test("allow_anonymous true with a password file lets anonymous clients in, not unknown users", async () => {
  await using dir = await TempDir.create();
  const passwd = dir.write("passwd", PASSWORD_FILE);
  await using midge = await configureBroker(
    `listener 1883\nallow_anonymous true\npassword_file ${passwd}\n`,
  );
  const anonymous = await midge.connect({ clientId: "anon" });
  assert.equal(anonymous.connack.reasonCode, 0);
  const unknown = await midge.connect({ clientId: "x", username: "mallory", password: bytes("x") });
  assert.equal(unknown.connack.reasonCode, V3_NOT_AUTHORISED);
  anonymous.client.close();
});

Deno.test("packets pipelined behind CONNECT wait for the password check, then run in order", async () => {
  await using dir = await TempDir.create();
  const passwd = dir.write("passwd", PASSWORD_FILE);
  await using midge = await configureBroker(`listener 1883\npassword_file ${passwd}\n`);
  const watcher = await midge.connect({
    clientId: "w",
    username: "bob",
    password: bytes("hunter2"),
  });
  watcher.client.send({
    type: "subscribe",
    packetId: 1,
    subscriptions: [{
      topicFilter: "pipe/#",
      qos: 0,
      noLocal: false,
      retainAsPublished: false,
      retainHandling: 0,
    }],
  });
  await watcher.client.next("suback");

  const client = midge.open(4);
  // One chunk: CONNECT, SUBSCRIBE, PUBLISH — the broker must not take SUBSCRIBE for a first
  // packet that is not CONNECT while the PBKDF2 check is pending.
  const { encodePacket } = await import("../../codec/packet.ts");
  const parts = [
    encodePacket({
      type: "connect",
      protocolName: "MQTT",
      protocolVersion: 4,
      clean: true,
      keepalive: 60,
      clientId: "piped",
      username: "alice",
      password: bytes("secret"),
    }, 4),
    encodePacket({
      type: "subscribe",
      packetId: 7,
      subscriptions: [{
        topicFilter: "x",
        qos: 0,
        noLocal: false,
        retainAsPublished: false,
        retainHandling: 0,
      }],
    }, 4),
    encodePacket({
      type: "publish",
      topic: "pipe/a",
      payload: bytes("hi"),
      qos: 0,
      retain: false,
      dup: false,
    }, 4),
  ];
  const chunk = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    chunk.set(part, offset);
    offset += part.length;
  }
  client.sendBytes(chunk);
  assert.equal((await client.next("connack")).reasonCode, 0);
  assert.equal((await client.next("suback")).packetId, 7);
  const message = await watcher.client.next("publish") as PublishPacket;
  assert.equal(message.topic, "pipe/a");
  client.close();
  watcher.client.close();
});

Deno.test("a refused CONNECT drops what was pipelined behind it", async () => {
  await using dir = await TempDir.create();
  const passwd = dir.write("passwd", PASSWORD_FILE);
  await using midge = await configureBroker(
    `listener 1883\nallow_anonymous true\npassword_file ${passwd}\n`,
  );
  const watcher = await midge.connect({ clientId: "w" });
  watcher.client.send({
    type: "subscribe",
    packetId: 1,
    subscriptions: [{
      topicFilter: "#",
      qos: 0,
      noLocal: false,
      retainAsPublished: false,
      retainHandling: 0,
    }],
  });
  await watcher.client.next("suback");
  const client = midge.open(5);
  client.send({
    type: "connect",
    protocolName: "MQTT",
    protocolVersion: 5,
    clean: true,
    keepalive: 60,
    clientId: "intruder",
    username: "alice",
    password: bytes("wrong"),
  });
  client.send({
    type: "publish",
    topic: "x",
    payload: bytes("sneaky"),
    qos: 0,
    retain: false,
    dup: false,
  });
  assert.equal((await client.next("connack")).reasonCode, ReasonCode.NotAuthorized);
  await client.closedByBroker();
  assert.deepEqual(await watcher.client.settle(50), []);
  watcher.client.close();
});

Deno.test("a client that leaves during its password check leaves no session behind", async () => {
  await using dir = await TempDir.create();
  const passwd = dir.write("passwd", PASSWORD_FILE);
  await using midge = await configureBroker(`listener 1883\npassword_file ${passwd}\n`);
  const client = midge.open(4);
  client.send({
    type: "connect",
    protocolName: "MQTT",
    protocolVersion: 4,
    clean: false,
    keepalive: 60,
    clientId: "gone",
    username: "alice",
    password: bytes("secret"),
  });
  client.drop();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(midge.broker.sessions.has("gone"), false);
  assert.equal(midge.broker.clientsConnected, 0);
});

Deno.test("use_username_as_clientid replaces the id, and refuses clients without a user name", async () => {
  await using midge = await configureBroker(
    "allow_anonymous true\nlistener 1883\nuse_username_as_clientid true\n",
  );
  const named = await midge.connect({ clientId: "ignored", username: "kitchen" });
  assert.equal(named.connack.reasonCode, 0);
  assert.ok(midge.broker.sessions.has("kitchen"));
  assert.equal(midge.broker.sessions.has("ignored"), false);
  for (const version of [4, 5] as const) {
    const anonymous = await midge.connect({ protocolVersion: version, clientId: "x" });
    assert.equal(
      anonymous.connack.reasonCode,
      version === 5 ? ReasonCode.NotAuthorized : V3_NOT_AUTHORISED,
    );
  }
  named.client.close();
});

Deno.test("clientid_prefixes refuses ids without the prefix, assigned ones included", async () => {
  await using midge = await configureBroker(
    "allow_anonymous true\nclientid_prefixes sec-\nlistener 1883\n",
  );
  const good = await midge.connect({ clientId: "sec-1" });
  assert.equal(good.connack.reasonCode, 0);
  for (const version of [4, 5] as const) {
    const bad = await midge.connect({ protocolVersion: version, clientId: "other" });
    assert.equal(
      bad.connack.reasonCode,
      version === 5 ? ReasonCode.NotAuthorized : V3_NOT_AUTHORISED,
    );
  }
  // Mosquitto checks the assigned id too, so an empty id is refused unless auto_id_prefix fits.
  const assigned = await midge.connect({ protocolVersion: 5, clientId: "" });
  assert.equal(assigned.connack.reasonCode, ReasonCode.NotAuthorized);
  good.client.close();
});

const ACL = `topic read public/#
user alice
topic readwrite house/#
topic deny house/secret/#
user bob
topic read house/#
pattern readwrite clients/%c/#
`;

async function aclBroker(dir: TempDir) {
  const passwd = dir.write("passwd", PASSWORD_FILE);
  const acl = dir.write("acl", ACL);
  return await configureBroker(
    `listener 1883\nallow_anonymous true\npassword_file ${passwd}\nacl_file ${acl}\n`,
  );
}

function sub(filter: string, qos: 0 | 1 = 0) {
  return {
    topicFilter: filter,
    qos,
    noLocal: false,
    retainAsPublished: false,
    retainHandling: 0,
  } as const;
}

Deno.test("ACL: a denied QoS 0 PUBLISH is dropped silently, QoS 1/2 get 0x87 (v5)", async () => {
  await using dir = await TempDir.create();
  await using midge = await aclBroker(dir);
  const bob = await midge.connect({
    clientId: "bob1",
    username: "bob",
    password: bytes("hunter2"),
  });
  bob.client.send({ type: "subscribe", packetId: 1, subscriptions: [sub("#")] });
  await bob.client.next("suback");
  const alice = await midge.connect({
    protocolVersion: 5,
    clientId: "alice1",
    username: "alice",
    password: bytes("secret"),
  });
  const send = (topic: string, qos: 0 | 1 | 2, packetId?: number) =>
    alice.client.send({
      type: "publish",
      topic,
      payload: bytes(topic),
      qos,
      retain: false,
      dup: false,
      ...(packetId ? { packetId } : {}),
    });
  send("garden/x", 0);
  send("garden/x", 1, 10);
  assert.equal((await alice.client.next("puback")).reasonCode, ReasonCode.NotAuthorized);
  send("house/secret/code", 2, 11);
  assert.equal((await alice.client.next("pubrec")).reasonCode, ReasonCode.NotAuthorized);
  send("house/kitchen", 1, 12);
  assert.equal((await alice.client.next("puback")).reasonCode, 0);
  const delivered = await bob.client.next("publish") as PublishPacket;
  assert.equal(delivered.topic, "house/kitchen");
  // Nothing else reached bob, and alice is still connected.
  assert.deepEqual(await bob.client.settle(30), []);
  assert.equal(alice.client.closed, false);
  alice.client.close();
  bob.client.close();
});

Deno.test("ACL: SUBSCRIBE to a filter the client can never read is refused (0x80 / 0x87)", async () => {
  await using dir = await TempDir.create();
  await using midge = await aclBroker(dir);
  for (const version of [4, 5] as const) {
    const bob = await midge.connect({
      protocolVersion: version,
      clientId: `bob-${version}`,
      username: "bob",
      password: bytes("hunter2"),
    });
    bob.client.send({
      type: "subscribe",
      packetId: 2,
      subscriptions: [sub("garden/#"), sub("house/+/temp"), sub("#"), sub("public/#")],
    });
    const suback = await bob.client.next("suback");
    const refused = version === 5 ? ReasonCode.NotAuthorized : 0x80;
    assert.deepEqual(suback.reasonCodes, [refused, 0, 0, refused]);
    bob.client.close();
  }
});

Deno.test("ACL: deliveries and retained messages are filtered per subscriber; $SYS needs a $ rule", async () => {
  await using dir = await TempDir.create();
  await using midge = await aclBroker(dir);
  const alice = await midge.connect({
    clientId: "alice1",
    username: "alice",
    password: bytes("secret"),
  });
  alice.client.send({
    type: "publish",
    topic: "house/secret/code",
    payload: bytes("1234"),
    qos: 0,
    retain: true,
    dup: false,
  });
  // Denied, so not even retained.
  assert.equal(midge.broker.retained.match("#", Date.now()).length, 0);
  alice.client.send({
    type: "publish",
    topic: "house/door",
    payload: bytes("open"),
    qos: 0,
    retain: true,
    dup: false,
  });
  const anonymous = await midge.connect({ clientId: "anon" });
  anonymous.client.send({ type: "subscribe", packetId: 3, subscriptions: [sub("#")] });
  assert.deepEqual((await anonymous.client.next("suback")).reasonCodes, [0]);
  const bob = await midge.connect({
    clientId: "bob1",
    username: "bob",
    password: bytes("hunter2"),
  });
  bob.client.send({ type: "subscribe", packetId: 3, subscriptions: [sub("#")] });
  await bob.client.next("suback");
  // bob may read house/#: he gets the retained door; anonymous may read public/# only.
  assert.equal((await bob.client.next("publish") as PublishPacket).topic, "house/door");
  midge.broker.publish({
    topic: "$SYS/broker/uptime",
    payload: bytes("1"),
    qos: 0,
    retain: false,
    properties: undefined,
    expiresAt: 0,
    origin: "",
  });
  alice.client.send({
    type: "publish",
    topic: "house/hall",
    payload: bytes("x"),
    qos: 0,
    retain: false,
    dup: false,
  });
  assert.equal((await bob.client.next("publish") as PublishPacket).topic, "house/hall");
  assert.deepEqual(await anonymous.client.settle(30), []);
  assert.deepEqual(await bob.client.settle(10), []);
  for (const c of [alice, anonymous, bob]) c.client.close();
});

Deno.test("ACL: a will its client may not publish is dropped", async () => {
  await using dir = await TempDir.create();
  await using midge = await aclBroker(dir);
  const bob = await midge.connect({
    clientId: "bob1",
    username: "bob",
    password: bytes("hunter2"),
  });
  bob.client.send({ type: "subscribe", packetId: 1, subscriptions: [sub("house/#")] });
  await bob.client.next("suback");
  for (const topic of ["house/secret/will", "house/will"]) {
    const alice = await midge.connect({
      clientId: `alice-${topic}`,
      username: "alice",
      password: bytes("secret"),
      will: { topic, payload: bytes("gone"), qos: 0, retain: false },
    });
    alice.client.drop();
  }
  const will = await bob.client.next("publish") as PublishPacket;
  assert.equal(will.topic, "house/will");
  assert.deepEqual(await bob.client.settle(30), []);
  bob.client.close();
});

/** CONNECTs over TCP and returns the CONNACK return code (3.1.1). */
async function connectCode(port: number, username: string, password: string): Promise<number> {
  await using client = await RawClient.open(port, 4);
  await client.send(
    connectPacket(`c-${username}`, 4, { username, password: Buffer.from(password) }),
  );
  const connack = await client.readPacket();
  return (connack as { returnCode?: number }).returnCode ?? -1;
}

Deno.test("Broker.applyConfig() re-reads password and ACL files, and keeps the old rules when one is broken", async () => {
  await using dir = await TempDir.create();
  const passwd = dir.write("passwd", PASSWORD_FILE);
  const acl = dir.write("acl", "user alice\ntopic readwrite a/#\n");
  const port = freePort();
  const text = `listener ${port} 127.0.0.1\npassword_file ${passwd}\nacl_file ${acl}\n`;
  const reload = () => midge.broker.applyConfig(parseConfig(text, { file: "test.conf" }));
  await using midge = await configureBroker(text, { bind: true });
  assert.equal(await connectCode(port, "alice", "secret"), 0);

  // A broken ACL file: the reload fails and the old rules stay.
  Deno.writeTextFileSync(acl, "user alice\ntopic sometimes a/#\n");
  await assert.rejects(reload, /Invalid topic access type "sometimes" in ACL file .*acl:2/);
  // A missing password file: the same.
  Deno.removeSync(passwd);
  await assert.rejects(reload, /Cannot read password file ".*passwd": No such file or directory/);
  assert.equal(await connectCode(port, "alice", "secret"), 0);

  // Valid files again, with alice gone: the reload applies them.
  Deno.writeTextFileSync(passwd, PASSWORD_FILE.split("\n").slice(1).join("\n"));
  Deno.writeTextFileSync(acl, "user bob\ntopic readwrite a/#\n");
  await reload();
  assert.equal(await connectCode(port, "alice", "secret"), V3_NOT_AUTHORISED);
  assert.equal(await connectCode(port, "bob", "hunter2"), 0);
});

Deno.test("memory_limit: over it, new clients get Server busy and PUBLISHes Quota exceeded", async () => {
  await using midge = await configureBroker(
    "allow_anonymous true\nmemory_limit 1048576000000\nlistener 1883\n",
  );
  assert.equal(midge.broker.options.memoryLimit, 1048576000000);
  const client = await midge.connect({ protocolVersion: 5, clientId: "in-time" });
  assert.equal(client.connack.reasonCode, 0);
  // Any process is over one byte.
  midge.broker.options.memoryLimit = 1;
  client.client.send({
    type: "publish",
    topic: "t",
    payload: bytes("x"),
    qos: 1,
    packetId: 1,
    retain: false,
    dup: false,
  });
  assert.equal((await client.client.next("puback")).reasonCode, ReasonCode.QuotaExceeded);
  for (const version of [4, 5] as const) {
    const late = await midge.connect({ protocolVersion: version, clientId: `late-${version}` });
    assert.equal(late.connack.reasonCode, version === 5 ? ReasonCode.ServerBusy : 3);
  }
  client.client.close();
});

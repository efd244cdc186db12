/**
 * Debian's Mosquitto as the remote broker of a midge bridge (and Mosquitto's own bridge into
 * midge): directions, prefixes, QoS, notifications, loops, TLS with client certificates and a
 * wrong password, checked with mosquitto_sub / mosquitto_pub on the Mosquitto side.
 */

import assert from "node:assert/strict";
import { delay, runProcess } from "../_helpers/process.ts";
import { startMosquitto } from "../cli/_mosquitto.ts";
import {
  Collector,
  makeCertificates,
  mosquittoPub,
  mosquittoSub,
  publisher,
  startMidge,
  type TestMidge,
} from "./_bridge.ts";
import { waitUntil } from "../_helpers/process.ts";

async function connected(midge: TestMidge, name: string): Promise<void> {
  await waitUntil(() => midge.broker.bridges.get(name)?.connected === true, `bridge ${name} up`);
}

Deno.test("Bridge to Mosquitto carries out, in and both with prefixes at QoS 0, 1 and 2, with notifications", async () => {
  await using mosquitto = await startMosquitto();
  await using pi = await startMidge(`
connection cloud
address 127.0.0.1:${mosquitto.port}
remote_clientid pi7
restart_timeout 1
topic sensor/# out 1 home/ pi7/
topic cmd/# in 2 home/ pi7/
topic chat/# both 2
topic status out 0
`);
  await connected(pi, "cloud");
  await using atMosquitto = await mosquittoSub(mosquitto.port, [
    "pi7/#",
    "chat/#",
    "status",
    "$SYS/broker/connection/+/state",
  ]);
  // The notification is retained on Mosquitto, as Mosquitto's own bridges leave it.
  assert.deepStrictEqual(await atMosquitto.waitFor(1), [
    "$SYS/broker/connection/pi7/state 1 q1 r1",
  ]);
  await using atPi = await Collector.subscribe(pi.port, ["home/#", "chat/#"]);
  await using local = await publisher(pi.port);
  // Published at QoS 2, carried at the topic line's QoS 1.
  await local.publish("home/sensor/kitchen", "21.5", { qos: 2 });
  await local.publish("status", "online", { qos: 0 });
  await local.publish("chat/pi", "hello from the pi", { qos: 2 });
  await mosquittoPub(mosquitto.port, ["-t", "pi7/cmd/heating", "-m", "on", "-q", "2"]);
  await mosquittoPub(mosquitto.port, ["-t", "chat/cloud", "-m", "hello from the cloud", "-q", "2"]);

  await atMosquitto.waitFor(6);
  await atPi.waitFor(4);
  await delay(300);
  assert.deepStrictEqual(atMosquitto.messages.slice(1).toSorted(), [
    "chat/cloud hello from the cloud q2 r0",
    "chat/pi hello from the pi q2 r0",
    "pi7/cmd/heating on q2 r0",
    "pi7/sensor/kitchen 21.5 q1 r0",
    "status online q0 r0",
  ]);
  assert.deepStrictEqual(atPi.texts.toSorted(), [
    "chat/cloud hello from the cloud",
    "chat/pi hello from the pi",
    "home/cmd/heating on",
    "home/sensor/kitchen 21.5",
  ]);
  assert.equal(atPi.messages.find((m) => m.topic === "home/cmd/heating")?.qos, 2);
  await pi.close();
  // A clean stop sets the state to 0 on Mosquitto too.
  assert.equal((await atMosquitto.waitFor(7))[6], "$SYS/broker/connection/pi7/state 0 q0 r0");
});

Deno.test("Mosquitto's own bridge into midge (try_private) exchanges each message once on # both ways", async () => {
  await using hub = await startMidge();
  await using mosquitto = await startMosquitto([
    "connection tohub",
    `address 127.0.0.1:${hub.port}`,
    "remote_clientid mosq-pi",
    "cleansession true",
    "topic # both 1",
  ]);
  await hub.log.waitFor(/New client connected from .* as mosq-pi \(p2, c1, k60\)\./);
  await using atMosquitto = await mosquittoSub(mosquitto.port, ["house/#"]);
  await using atHub = await Collector.subscribe(hub.port, ["house/#"]);
  // Mosquitto subscribes on the hub after its CONNACK: wait for it before publishing there.
  await waitUntil(() => hub.broker.sessions.get("mosq-pi")?.subscriptions.size === 1, "bridge sub");
  await mosquittoPub(mosquitto.port, ["-t", "house/mosquitto", "-m", "m", "-q", "1"]);
  await using hubClient = await publisher(hub.port);
  await hubClient.publish("house/hub", "h", { qos: 1 });
  await atMosquitto.waitFor(2);
  await atHub.waitFor(2);
  await delay(300);
  assert.deepStrictEqual(atMosquitto.messages.toSorted(), [
    "house/hub h q1 r0",
    "house/mosquitto m q1 r0",
  ]);
  assert.deepStrictEqual(atHub.texts.toSorted(), ["house/hub h", "house/mosquitto m"]);
});

Deno.test("Bridge to Mosquitto over TLS with a client certificate, and a clear line for a certificate it cannot trust", async () => {
  await using certs = await makeCertificates();
  await using mosquitto = await startMosquitto([
    `cafile ${certs.caFile}`,
    `certfile ${certs.serverCert}`,
    `keyfile ${certs.serverKey}`,
    "require_certificate true",
  ]);
  await using pi = await startMidge(`
connection cloud
address 127.0.0.1:${mosquitto.port}
remote_clientid pi-tls
restart_timeout 1
bridge_cafile ${certs.caFile}
bridge_certfile ${certs.clientCert}
bridge_keyfile ${certs.clientKey}
topic tls/# out 1
connection impostor
address 127.0.0.1:${mosquitto.port}
remote_clientid pi-untrusting
restart_timeout 1
bridge_cafile ${certs.otherCaFile}
topic tls/# out 1
`);
  await connected(pi, "cloud");
  await using atMosquitto = await mosquittoSub(mosquitto.port, ["tls/#"], [
    "--cafile",
    certs.caFile,
    "--cert",
    certs.clientCert,
    "--key",
    certs.clientKey,
  ]);
  await using local = await publisher(pi.port);
  await local.publish("tls/reading", "secret", { qos: 1 });
  assert.deepStrictEqual(await atMosquitto.waitFor(1), ["tls/reading secret q1 r0"]);
  await pi.log.waitFor(
    /^error Error creating bridge impostor \(127\.0\.0\.1:\d+\): TLS handshake failed: .*(UnknownIssuer|certificate).*\. Retrying in 1 s\.$/,
  );
  assert.equal(pi.broker.bridges.get("impostor")?.connected, false);
});

Deno.test("Bridge to Mosquitto checks the certificate's name unless bridge_insecure, and reads CAs from bridge_capath", async () => {
  await using certs = await makeCertificates();
  await using mosquitto = await startMosquitto([
    `cafile ${certs.caFile}`,
    `certfile ${certs.wrongNameCert}`,
    `keyfile ${certs.wrongNameKey}`,
  ]);
  await using pi = await startMidge(`
connection strict
address 127.0.0.1:${mosquitto.port}
remote_clientid pi-strict
restart_timeout 1
bridge_cafile ${certs.caFile}
topic x out 1
connection lenient
address 127.0.0.1:${mosquitto.port}
remote_clientid pi-lenient
restart_timeout 1
bridge_capath ${certs.dir}
bridge_insecure true
topic x out 1
`);
  await connected(pi, "lenient");
  await pi.log.waitFor(
    /^error Error creating bridge strict \(127\.0\.0\.1:\d+\): TLS handshake failed: invalid peer certificate: certificate not valid for name "127\.0\.0\.1".*\. Retrying in 1 s\.$/,
  );
  assert.equal(pi.broker.bridges.get("strict")?.connected, false);
});

Deno.test("Bridge to Mosquitto with a wrong password logs Mosquitto's refusal and keeps retrying", async () => {
  const dir = await Deno.makeTempDir({ prefix: "midge_bridge_passwd_" });
  try {
    const passwords = `${dir}/passwd`;
    await runProcess("mosquitto_passwd", ["-b", "-c", passwords, "pi", "right"]);
    await using mosquitto = await startMosquitto([
      "allow_anonymous false",
      `password_file ${passwords}`,
    ]);
    await using pi = await startMidge(`
connection cloud
address 127.0.0.1:${mosquitto.port}
remote_clientid pi
remote_username pi
remote_password wrong
restart_timeout 1
topic x/# out 1
connection good
address 127.0.0.1:${mosquitto.port}
remote_clientid pi-good
remote_username pi
remote_password right
topic y/# out 1
`);
    await pi.log.waitFor(
      /^error Connection Refused: not authorised \(bridge cloud, 127\.0\.0\.1:\d+\)\. Retrying in 1 s\.$/,
      2,
    );
    await connected(pi, "good");
    assert.equal(pi.broker.bridges.get("cloud")?.connected, false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
